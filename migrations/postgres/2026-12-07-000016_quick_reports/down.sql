DROP INDEX inspections_kind_queue;
ALTER TABLE inspections DROP COLUMN category;
ALTER TABLE inspections DROP COLUMN urgent;
ALTER TABLE inspections DROP COLUMN kind;
