-- Quick reports (issue 22): an inspection of `kind` 'report' has no site,
-- route, stop or checklist. `inspections.kind` is new; its site, checklist
-- and checklist version, and a follow-up's site, may be null.
--
-- SQLite drops a NOT NULL only by rebuilding the table: its own procedure
-- (foreign keys off, one transaction, new table, copy, drop, rename, the
-- indexes again), as migration 14. Rerun after a crash between its commit
-- and Diesel's bookkeeping, it rebuilds once more (the copy keeps `kind`).
PRAGMA foreign_keys = OFF;
BEGIN;
DROP TABLE IF EXISTS inspections_rebuilt;
CREATE TABLE inspections_rebuilt (
    id TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL,
    group_id TEXT NOT NULL REFERENCES groups (id),
    inspector_id TEXT NOT NULL REFERENCES users (id),
    site_id TEXT REFERENCES sites (id),
    route_id TEXT REFERENCES routes (id),
    -- Not a foreign key: a stop removed from a route leaves its
    -- inspections standing.
    stop_id TEXT,
    template_id TEXT REFERENCES templates (id),
    template_version INTEGER,
    deleted BOOLEAN NOT NULL DEFAULT 0,
    -- JSON object: field path -> value.
    fields TEXT NOT NULL,
    -- JSON object: field path -> {"v": version, "d": device, "t": changed_at}.
    field_meta TEXT NOT NULL,
    -- Copies of fields the queries need.
    status TEXT NOT NULL DEFAULT 'draft',
    lat DOUBLE,
    lon DOUBLE,
    review_status TEXT NOT NULL DEFAULT 'pending'
        CHECK (review_status IN ('pending', 'submitted', 'approved', 'returned', 'rejected')),
    submitted_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    -- Set when the record is made, never changed.
    kind TEXT NOT NULL DEFAULT 'inspection' CHECK (kind IN ('inspection', 'report')),
    -- A report's urgency and category, copies of its fields for the queue.
    urgent BOOLEAN NOT NULL DEFAULT 0,
    category TEXT
);
INSERT INTO inspections_rebuilt (id, version, group_id, inspector_id, site_id, route_id, stop_id,
    template_id, template_version, deleted, fields, field_meta, status, lat, lon, review_status,
    submitted_at, created_at, updated_at)
SELECT id, version, group_id, inspector_id, site_id, route_id, stop_id,
    template_id, template_version, deleted, fields, field_meta, status, lat, lon, review_status,
    submitted_at, created_at, updated_at
FROM inspections;
DROP TABLE inspections;
ALTER TABLE inspections_rebuilt RENAME TO inspections;
CREATE INDEX inspections_group ON inspections (group_id, updated_at);
CREATE INDEX inspections_inspector ON inspections (inspector_id, updated_at);
CREATE INDEX inspections_site ON inspections (site_id);
CREATE INDEX inspections_route ON inspections (route_id);
CREATE INDEX inspections_stop ON inspections (stop_id);
CREATE INDEX inspections_review ON inspections (review_status, updated_at);
CREATE INDEX inspections_queue ON inspections (created_at, id);
CREATE INDEX inspections_group_queue ON inspections (group_id, created_at, id);
CREATE INDEX inspections_review_queue ON inspections (review_status, created_at, id);
CREATE INDEX inspections_inspector_queue ON inspections (inspector_id, created_at, id);
CREATE INDEX inspections_position ON inspections (lat, lon);
CREATE INDEX inspections_site_time ON inspections (site_id, review_status, deleted, created_at);
CREATE INDEX inspections_kind_queue ON inspections (kind, urgent, created_at, id);

DROP TABLE IF EXISTS followups_rebuilt;
CREATE TABLE followups_rebuilt (
    id TEXT PRIMARY KEY NOT NULL,
    inspection_id TEXT NOT NULL REFERENCES inspections (id),
    -- None for a quick report's follow-up.
    site_id TEXT REFERENCES sites (id),
    group_id TEXT NOT NULL REFERENCES groups (id),
    -- The inspector whose record raised it (their phone receives it).
    owner_id TEXT NOT NULL REFERENCES users (id),
    title TEXT NOT NULL,
    department TEXT NOT NULL,
    assignee_id TEXT REFERENCES users (id),
    due_at TIMESTAMP,
    status TEXT NOT NULL CHECK (status IN ('open', 'in_progress', 'resolved', 'verified')),
    -- The route stop added to look again at the site, if any.
    verify_stop_id TEXT,
    created_by TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    item_key TEXT,
    department_id TEXT REFERENCES departments (id)
);
INSERT INTO followups_rebuilt (id, inspection_id, site_id, group_id, owner_id, title, department,
    assignee_id, due_at, status, verify_stop_id, created_by, created_at, updated_at, item_key,
    department_id)
SELECT id, inspection_id, site_id, group_id, owner_id, title, department,
    assignee_id, due_at, status, verify_stop_id, created_by, created_at, updated_at, item_key,
    department_id
FROM followups;
DROP TABLE followups;
ALTER TABLE followups_rebuilt RENAME TO followups;
CREATE INDEX followups_group ON followups (group_id, status, due_at);
CREATE INDEX followups_inspection ON followups (inspection_id);
CREATE INDEX followups_stop ON followups (verify_stop_id);
CREATE INDEX followups_site ON followups (site_id, status, due_at);
CREATE INDEX followups_department ON followups (department_id, status);
COMMIT;
PRAGMA foreign_keys = ON;
