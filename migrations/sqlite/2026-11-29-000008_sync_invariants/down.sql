ALTER TABLE photos DROP COLUMN field_meta;
ALTER TABLE photos DROP COLUMN version;
ALTER TABLE push_batches DROP COLUMN request_hash;
ALTER TABLE conflicts DROP COLUMN against_deletion;
ALTER TABLE conflicts DROP COLUMN kept_version;
