-- The district at a glance (review/summary.rs).
-- What each record's checklist says failed, kept with the record as it is
-- written (a space-separated list of answer paths; empty: nothing failed):
-- the dashboard counts failed items without judging years of checklists
-- on every read. Records written before this are filled in by the
-- housekeeping job `failures`.
CREATE TABLE record_failures (
    inspection_id TEXT PRIMARY KEY NOT NULL,
    failed TEXT NOT NULL
);
-- A period's records counted from the index alone.
CREATE INDEX inspections_summary ON inspections (created_at, group_id, deleted, kind, review_status, category, inspector_id, site_id);
CREATE INDEX reviews_created_at ON reviews (created_at, decision, inspection_id);
CREATE INDEX followup_history_at ON followup_history (at, event, status, followup_id);
CREATE INDEX followups_created_at ON followups (created_at, group_id);
