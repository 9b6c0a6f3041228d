ALTER TABLE photo_jobs DROP COLUMN needs;
ALTER TABLE photos DROP COLUMN original_dropped_at;
ALTER TABLE photos DROP COLUMN variants_pending;
ALTER TABLE photos DROP COLUMN video;
ALTER TABLE photos DROP COLUMN duration_ms;
