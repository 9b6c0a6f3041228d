ALTER TABLE uploads DROP COLUMN parts;
DROP INDEX photo_jobs_lease;
ALTER TABLE photo_jobs DROP COLUMN lease_until;
