-- Several servers on one database: a photo job is claimed for a while
-- (its lease), renewed while it runs, and taken over by any server once
-- the lease has run out (its server died). Jobs left "running" by an
-- older version get a lease that has already ended.
ALTER TABLE photo_jobs ADD COLUMN lease_until TIMESTAMP;
UPDATE photo_jobs SET lease_until = updated_at WHERE status = 'running';
CREATE INDEX photo_jobs_lease ON photo_jobs (status, lease_until);

-- A resumable upload's bytes are parts in the blob store (any server may
-- take the next PATCH); the row lists them. The bytes of uploads begun
-- before this (one file per upload on the server that took them) are not
-- carried over: those uploads start again from 0, which their phones learn
-- from HEAD.
ALTER TABLE uploads ADD COLUMN parts TEXT NOT NULL DEFAULT '[]';
UPDATE uploads SET "offset" = 0, busy_until = NULL;
