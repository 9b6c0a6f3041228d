-- The admins' console: a site code that a spreadsheet import matches on,
-- recurring route schedules, and the routes they make (one per schedule
-- and date, however often the job runs).
ALTER TABLE sites ADD COLUMN code TEXT;
CREATE UNIQUE INDEX sites_code ON sites (code) WHERE code IS NOT NULL;
CREATE INDEX sites_group_kind ON sites (group_id, kind);

CREATE TABLE schedules (
    id TEXT PRIMARY KEY NOT NULL,
    group_id TEXT NOT NULL REFERENCES groups (id),
    name TEXT NOT NULL,
    assignee_id TEXT REFERENCES users (id),
    -- JSON: [{site_id, template_id, notes}]
    stops TEXT NOT NULL,
    freq TEXT NOT NULL,
    -- JSON: [1-7], Monday = 1
    weekdays TEXT NOT NULL,
    month_day INTEGER,
    horizon_days INTEGER NOT NULL,
    active BOOLEAN NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    -- The last date the job has made routes for: it resumes after it.
    generated_through DATE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX schedules_group ON schedules (group_id);

ALTER TABLE routes ADD COLUMN schedule_id TEXT REFERENCES schedules (id);
CREATE UNIQUE INDEX routes_schedule_date ON routes (schedule_id, scheduled_for)
    WHERE schedule_id IS NOT NULL;
CREATE INDEX routes_open ON routes (status, scheduled_for);
-- Coverage: the latest inspection per site and review status, from the
-- index alone.
CREATE INDEX inspections_site_time ON inspections (site_id, review_status, deleted, created_at);
CREATE INDEX followups_site ON followups (site_id, status, due_at);
