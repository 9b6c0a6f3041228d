-- The PostgreSQL schema: the same tables, columns and indexes as the
-- SQLite migrations 000001 to 000010 (see migrations/sqlite/ for why each
-- exists), in one step. From here on a change is a migration of the same
-- version in both directories.
-- Times are TIMESTAMP (without time zone) in UTC; ids are UUID text;
-- JSON columns are TEXT; Diesel's Integer is INTEGER, BigInt is BIGINT.

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
    active BOOLEAN NOT NULL DEFAULT TRUE,
    token_stamp BIGINT NOT NULL DEFAULT 0,
    scope_epoch BIGINT NOT NULL DEFAULT 0,
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
    lat DOUBLE PRECISION NOT NULL,
    lon DOUBLE PRECISION NOT NULL,
    radius_m DOUBLE PRECISION NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    code TEXT
);
CREATE INDEX sites_group ON sites (group_id);
CREATE UNIQUE INDEX sites_code ON sites (code) WHERE code IS NOT NULL;
CREATE INDEX sites_group_kind ON sites (group_id, kind);

CREATE TABLE templates (
    id TEXT PRIMARY KEY NOT NULL,
    group_id TEXT REFERENCES groups (id),
    current_version INTEGER NOT NULL,
    retired BOOLEAN NOT NULL DEFAULT FALSE,
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

CREATE TABLE schedules (
    id TEXT PRIMARY KEY NOT NULL,
    group_id TEXT NOT NULL REFERENCES groups (id),
    name TEXT NOT NULL,
    assignee_id TEXT REFERENCES users (id),
    stops TEXT NOT NULL,
    freq TEXT NOT NULL,
    weekdays TEXT NOT NULL,
    month_day INTEGER,
    horizon_days INTEGER NOT NULL,
    active BOOLEAN NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    generated_through DATE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX schedules_group ON schedules (group_id);

CREATE TABLE routes (
    id TEXT PRIMARY KEY NOT NULL,
    group_id TEXT NOT NULL REFERENCES groups (id),
    name TEXT NOT NULL,
    assignee_id TEXT REFERENCES users (id),
    scheduled_for DATE NOT NULL,
    due_at TIMESTAMP,
    status TEXT NOT NULL CHECK (status IN ('planned', 'active', 'done', 'cancelled')),
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    schedule_id TEXT REFERENCES schedules (id)
);
CREATE INDEX routes_group ON routes (group_id);
CREATE INDEX routes_assignee ON routes (assignee_id);
CREATE UNIQUE INDEX routes_schedule_date ON routes (schedule_id, scheduled_for)
    WHERE schedule_id IS NOT NULL;
CREATE INDEX routes_open ON routes (status, scheduled_for);

CREATE TABLE route_stops (
    id TEXT PRIMARY KEY NOT NULL,
    route_id TEXT NOT NULL REFERENCES routes (id),
    seq INTEGER NOT NULL,
    site_id TEXT NOT NULL REFERENCES sites (id),
    template_id TEXT NOT NULL REFERENCES templates (id),
    notes TEXT NOT NULL DEFAULT ''
);
CREATE INDEX route_stops_route ON route_stops (route_id, seq);

-- seq from a sequence: every write transaction holds the cluster's write
-- lock (db/mod.rs) from its start to its commit, so the numbers are handed
-- out in commit order, as SQLite's AUTOINCREMENT is.
CREATE TABLE change_log (
    seq BIGSERIAL PRIMARY KEY NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    group_id TEXT,
    owner_id TEXT,
    changed_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX change_log_object ON change_log (entity, entity_id);
CREATE INDEX change_log_group ON change_log (group_id, entity, seq);
CREATE INDEX change_log_owner ON change_log (owner_id, seq);

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

CREATE TABLE devices (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    first_seen_at TIMESTAMP NOT NULL,
    last_push_at TIMESTAMP,
    last_pull_at TIMESTAMP
);
CREATE INDEX devices_user ON devices (user_id);

CREATE TABLE inspections (
    id TEXT PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL,
    group_id TEXT NOT NULL REFERENCES groups (id),
    inspector_id TEXT NOT NULL REFERENCES users (id),
    site_id TEXT NOT NULL REFERENCES sites (id),
    route_id TEXT REFERENCES routes (id),
    stop_id TEXT,
    template_id TEXT NOT NULL REFERENCES templates (id),
    template_version INTEGER NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    fields TEXT NOT NULL,
    field_meta TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'draft',
    lat DOUBLE PRECISION,
    lon DOUBLE PRECISION,
    review_status TEXT NOT NULL DEFAULT 'pending'
        CHECK (review_status IN ('pending', 'submitted', 'approved', 'returned', 'rejected')),
    submitted_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
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

CREATE TABLE photos (
    id TEXT PRIMARY KEY NOT NULL,
    inspection_id TEXT NOT NULL REFERENCES inspections (id),
    sha256 TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    content_type TEXT NOT NULL,
    width INTEGER,
    height INTEGER,
    caption TEXT NOT NULL DEFAULT '',
    taken_at TIMESTAMP,
    location TEXT,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    status TEXT NOT NULL DEFAULT 'missing'
        CHECK (status IN ('missing', 'stored', 'ready', 'failed')),
    exif TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    field_meta TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX photos_inspection ON photos (inspection_id);
CREATE INDEX photos_sha256 ON photos (sha256);

CREATE TABLE conflicts (
    id TEXT PRIMARY KEY NOT NULL,
    inspection_id TEXT NOT NULL REFERENCES inspections (id),
    field TEXT NOT NULL,
    kept TEXT NOT NULL,
    discarded TEXT NOT NULL,
    kept_device_id TEXT NOT NULL,
    discarded_device_id TEXT NOT NULL,
    kept_changed_at TIMESTAMP NOT NULL,
    discarded_changed_at TIMESTAMP NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
    resolved_by TEXT REFERENCES users (id),
    resolved_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    kept_version BIGINT NOT NULL DEFAULT 0,
    against_deletion BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX conflicts_inspection ON conflicts (inspection_id);
CREATE INDEX conflicts_status ON conflicts (status, created_at);
CREATE INDEX conflicts_open ON conflicts (inspection_id, status);

CREATE TABLE push_batches (
    device_id TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    response BYTEA NOT NULL,
    created_at TIMESTAMP NOT NULL,
    request_hash TEXT,
    PRIMARY KEY (device_id, batch_id)
);

CREATE TABLE reviews (
    id TEXT PRIMARY KEY NOT NULL,
    inspection_id TEXT NOT NULL REFERENCES inspections (id),
    decision TEXT NOT NULL CHECK (decision IN ('approve', 'return', 'reject')),
    comment TEXT NOT NULL DEFAULT '',
    reviewer_id TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX reviews_inspection ON reviews (inspection_id, created_at);

CREATE TABLE photo_jobs (
    id TEXT PRIMARY KEY NOT NULL,
    photo_id TEXT NOT NULL REFERENCES photos (id),
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX photo_jobs_due ON photo_jobs (status, next_attempt_at);
CREATE INDEX photo_jobs_photo ON photo_jobs (photo_id);

CREATE TABLE uploads (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    photo_id TEXT NOT NULL REFERENCES photos (id),
    length BIGINT NOT NULL,
    "offset" BIGINT NOT NULL DEFAULT 0,
    metadata TEXT NOT NULL DEFAULT '',
    expires_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    busy_until TIMESTAMP
);
CREATE INDEX uploads_expires ON uploads (expires_at);
CREATE INDEX uploads_user ON uploads (user_id);

CREATE TABLE followups (
    id TEXT PRIMARY KEY NOT NULL,
    inspection_id TEXT NOT NULL REFERENCES inspections (id),
    site_id TEXT NOT NULL REFERENCES sites (id),
    group_id TEXT NOT NULL REFERENCES groups (id),
    owner_id TEXT NOT NULL REFERENCES users (id),
    title TEXT NOT NULL,
    department TEXT NOT NULL,
    assignee_id TEXT REFERENCES users (id),
    due_at TIMESTAMP,
    status TEXT NOT NULL CHECK (status IN ('open', 'in_progress', 'resolved', 'verified')),
    verify_stop_id TEXT,
    created_by TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX followups_group ON followups (group_id, status, due_at);
CREATE INDEX followups_inspection ON followups (inspection_id);
CREATE INDEX followups_stop ON followups (verify_stop_id);
CREATE INDEX followups_site ON followups (site_id, status, due_at);

CREATE TABLE followup_history (
    id TEXT PRIMARY KEY NOT NULL,
    followup_id TEXT NOT NULL REFERENCES followups (id),
    status TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    by_id TEXT NOT NULL REFERENCES users (id),
    at TIMESTAMP NOT NULL
);
CREATE INDEX followup_history_followup ON followup_history (followup_id, at);

CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    csrf TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    token_stamp BIGINT NOT NULL DEFAULT -1,
    role TEXT NOT NULL DEFAULT ''
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
