-- The district at a glance (review/summary.rs).
-- What a record's checklist says failed, kept with the record as it is
-- written (space-separated answer paths; empty: nothing failed; null: not
-- judged yet, as records written before this are until the housekeeping
-- job `failures` fills them in): the dashboard counts failed items without
-- judging years of checklists on every read.
ALTER TABLE inspections ADD COLUMN failed TEXT;
-- The minute a record arrived (UTC minutes since 1970), written with the
-- record (its arrival never changes): a district's day and week are
-- whole-number arithmetic on it, read from the index below, never a date
-- parsed per row.
ALTER TABLE inspections ADD COLUMN created_minute BIGINT NOT NULL DEFAULT 0;
UPDATE inspections SET created_minute = floor(extract(epoch FROM created_at) / 60)::bigint;
-- A period's records counted from the index alone.
CREATE INDEX inspections_summary ON inspections (created_minute, group_id, deleted, kind, review_status, category, inspector_id, site_id);
-- A period's failing records, from the index alone.
CREATE INDEX inspections_failing ON inspections (created_minute, group_id, inspector_id, deleted, review_status, site_id, template_id, template_version, failed) WHERE failed <> '';
CREATE INDEX reviews_created_at ON reviews (created_at, decision, inspection_id);
CREATE INDEX followup_history_at ON followup_history (at, event, status, followup_id);
CREATE INDEX followups_created_at ON followups (created_at, group_id);
