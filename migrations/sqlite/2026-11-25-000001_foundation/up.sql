-- The foundation: people, reference data, inspection routes, and the two
-- append-only logs (change_log for sync pull, audit_log for admins) that
-- everything written later also goes through.
-- Times are TIMESTAMP in UTC; ids are UUID text; JSON columns are TEXT.

CREATE TABLE groups (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    towns TEXT NOT NULL DEFAULT '[]',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('inspector', 'coordinator', 'admin')),
    group_id TEXT REFERENCES groups (id),
    password_hash TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT 1,
    -- Bumped whenever existing tokens must stop working (deactivation,
    -- password change); access tokens carry it and are checked against it.
    token_stamp INTEGER NOT NULL DEFAULT 0,
    -- Bumped when what the user may pull shrinks (moved to another group,
    -- a route reassigned away): their sync cursors then answer reset.
    scope_epoch INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX users_group ON users (group_id);

CREATE TABLE refresh_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    family_id TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    device_id TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP,
    revoked_at TIMESTAMP,
    replaced_by TEXT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE sites (
    id TEXT PRIMARY KEY NOT NULL,
    group_id TEXT NOT NULL REFERENCES groups (id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    address TEXT NOT NULL DEFAULT '',
    lat DOUBLE NOT NULL,
    lon DOUBLE NOT NULL,
    radius_m DOUBLE NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX sites_group ON sites (group_id);

-- A checklist is a stable id with immutable numbered versions.
CREATE TABLE templates (
    id TEXT PRIMARY KEY NOT NULL,
    -- NULL: used district-wide; else only by that group.
    group_id TEXT REFERENCES groups (id),
    current_version INTEGER NOT NULL,
    retired BOOLEAN NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE template_versions (
    template_id TEXT NOT NULL REFERENCES templates (id),
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    items TEXT NOT NULL,
    created_by TEXT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (template_id, version)
);

CREATE TABLE routes (
    id TEXT PRIMARY KEY NOT NULL,
    group_id TEXT NOT NULL REFERENCES groups (id),
    name TEXT NOT NULL,
    assignee_id TEXT REFERENCES users (id),
    scheduled_for DATE NOT NULL,
    due_at TIMESTAMP,
    status TEXT NOT NULL CHECK (status IN ('planned', 'active', 'done', 'cancelled')),
    deleted BOOLEAN NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX routes_group ON routes (group_id);
CREATE INDEX routes_assignee ON routes (assignee_id);

CREATE TABLE route_stops (
    id TEXT PRIMARY KEY NOT NULL,
    route_id TEXT NOT NULL REFERENCES routes (id),
    seq INTEGER NOT NULL,
    site_id TEXT NOT NULL REFERENCES sites (id),
    template_id TEXT NOT NULL REFERENCES templates (id),
    notes TEXT NOT NULL DEFAULT ''
);
CREATE INDEX route_stops_route ON route_stops (route_id, seq);

-- The latest change of every synced object, written in the same
-- transaction as the change: a change deletes the object's old row and
-- inserts one with a new, higher seq. Pull reads it in seq order, so an
-- object changed ten times since a cursor comes once, at its latest state.
-- Rows are never purged (deletes are tombstones).
CREATE TABLE change_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    -- The group whose members see it; NULL: the whole district.
    group_id TEXT,
    -- For an inspector's own objects (inspections, their photos, reviews,
    -- conflicts): the inspector.
    owner_id TEXT,
    changed_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX change_log_object ON change_log (entity, entity_id);
-- Pull reads each (group, kind) and each owner as its own range in seq
-- order and merges them: every range is an index scan that stops at the
-- page size, however large the log grows.
CREATE INDEX change_log_group ON change_log (group_id, entity, seq);
CREATE INDEX change_log_owner ON change_log (owner_id, seq);

-- Append-only: logins, admin changes, reviews, overrides, follow-ups.
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    actor_id TEXT,
    action TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT,
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_actor ON audit_log (actor_id, at);
CREATE INDEX audit_log_object ON audit_log (object_type, object_id, at);
CREATE INDEX audit_log_at ON audit_log (at);
