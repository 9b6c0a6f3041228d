-- Sync invariants: what the merge, the conflict log and the batch store
-- need to hold under concurrent writers.

-- The version at which the kept value was written, so an override can
-- tell whether the field changed since the conflict was logged; and
-- whether the conflict was an edit against the record's deletion (the
-- only case in which an override restores the record).
ALTER TABLE conflicts ADD COLUMN kept_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conflicts ADD COLUMN against_deletion BOOLEAN NOT NULL DEFAULT 0;

-- A hash of each answered batch: a batch id reused for other content is
-- refused instead of being answered with the stored answer. NULL for
-- batches answered before this column existed.
ALTER TABLE push_batches ADD COLUMN request_hash TEXT;

-- Photo metadata (caption, time, position, deletion) merges per field like
-- an inspection's fields: a version and a per-field meta map.
ALTER TABLE photos ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE photos ADD COLUMN field_meta TEXT NOT NULL DEFAULT '{}';

-- Conflicts logged before this column: their field's version as it is
-- now, so an override stays possible until the field changes again.
UPDATE conflicts SET kept_version = COALESCE((
    SELECT json_extract(i.field_meta, '$."' || conflicts.field || '".v')
    FROM inspections i WHERE i.id = conflicts.inspection_id), 0)
WHERE status = 'open';
