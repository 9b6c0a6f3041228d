ALTER TABLE followups DROP COLUMN overdue_notified_at;
DROP TABLE leases;
DROP INDEX deliveries_due;
DROP TABLE deliveries;
DROP TABLE channels;
DROP TABLE events;
