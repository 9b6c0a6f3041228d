DROP INDEX followups_created_at;
DROP INDEX followup_history_at;
DROP INDEX reviews_created_at;
DROP INDEX inspections_summary;
DROP TABLE record_failures;
