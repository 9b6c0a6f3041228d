-- Quick reports (issue 22): an inspection of `kind` 'report' has no site,
-- route, stop or checklist.
ALTER TABLE inspections ADD COLUMN kind TEXT NOT NULL DEFAULT 'inspection'
    CHECK (kind IN ('inspection', 'report'));
-- A report's urgency and category, copies of its fields for the queue.
ALTER TABLE inspections ADD COLUMN urgent BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE inspections ADD COLUMN category TEXT;
ALTER TABLE inspections ALTER COLUMN site_id DROP NOT NULL;
ALTER TABLE inspections ALTER COLUMN template_id DROP NOT NULL;
ALTER TABLE inspections ALTER COLUMN template_version DROP NOT NULL;
ALTER TABLE followups ALTER COLUMN site_id DROP NOT NULL;
CREATE INDEX inspections_kind_queue ON inspections (kind, urgent, created_at, id);
