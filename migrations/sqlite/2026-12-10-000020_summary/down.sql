DROP INDEX followups_created_at;
DROP INDEX followup_history_at;
DROP INDEX reviews_created_at;
DROP INDEX inspections_failing;
DROP INDEX inspections_summary;
ALTER TABLE inspections DROP COLUMN created_minute;
ALTER TABLE inspections DROP COLUMN failed;
