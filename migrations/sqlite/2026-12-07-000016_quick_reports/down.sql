-- Back to sites and checklists required: quick reports cannot stay.
PRAGMA foreign_keys = OFF;
BEGIN;
DROP INDEX IF EXISTS inspections_kind_queue;
ALTER TABLE inspections DROP COLUMN category;
ALTER TABLE inspections DROP COLUMN urgent;
ALTER TABLE inspections DROP COLUMN kind;
COMMIT;
PRAGMA foreign_keys = ON;
