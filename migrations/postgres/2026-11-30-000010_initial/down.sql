DROP TABLE web_sessions, followup_history, followups, uploads, photo_jobs, reviews,
    push_batches, conflicts, photos, inspections, devices, audit_log, change_log,
    route_stops, routes, schedules, template_versions, templates, sites,
    refresh_tokens, users, groups;
