-- Videos are photo items (kind 'video'): their length, their track as read
-- from the container, why their variants wait, and when a district's
-- retention dropped their original (FIELDSYNC_ORIGINALS_KEEP_DAYS).
ALTER TABLE photos ADD COLUMN duration_ms BIGINT;
ALTER TABLE photos ADD COLUMN video TEXT;
ALTER TABLE photos ADD COLUMN variants_pending TEXT;
ALTER TABLE photos ADD COLUMN original_dropped_at TIMESTAMP;
-- A job that waits for a tool this server lacks ('ffmpeg'): not claimed,
-- and not counted as an attempt, until the tool is found.
ALTER TABLE photo_jobs ADD COLUMN needs TEXT;
