-- Sync: devices, inspections with their per-field version map, photo
-- metadata, the conflict log, stored push answers, and reviews (written by
-- the review issue, handed out by pull already).

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
    version INTEGER NOT NULL,
    group_id TEXT NOT NULL REFERENCES groups (id),
    inspector_id TEXT NOT NULL REFERENCES users (id),
    site_id TEXT NOT NULL REFERENCES sites (id),
    route_id TEXT REFERENCES routes (id),
    -- Not a foreign key: a stop removed from a route leaves its
    -- inspections standing.
    stop_id TEXT,
    template_id TEXT NOT NULL REFERENCES templates (id),
    template_version INTEGER NOT NULL,
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
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX inspections_group ON inspections (group_id, updated_at);
CREATE INDEX inspections_inspector ON inspections (inspector_id, updated_at);
CREATE INDEX inspections_site ON inspections (site_id);
CREATE INDEX inspections_route ON inspections (route_id);
CREATE INDEX inspections_stop ON inspections (stop_id);
CREATE INDEX inspections_review ON inspections (review_status, updated_at);

CREATE TABLE photos (
    id TEXT PRIMARY KEY NOT NULL,
    inspection_id TEXT NOT NULL REFERENCES inspections (id),
    sha256 TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    width INTEGER,
    height INTEGER,
    caption TEXT NOT NULL DEFAULT '',
    taken_at TIMESTAMP,
    -- JSON {lat, lon, accuracy_m} or NULL.
    location TEXT,
    deleted BOOLEAN NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'missing'
        CHECK (status IN ('missing', 'stored', 'ready', 'failed')),
    -- JSON {lat, lon, taken_at} read from the bytes, or NULL.
    exif TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX photos_inspection ON photos (inspection_id);
CREATE INDEX photos_sha256 ON photos (sha256);

CREATE TABLE conflicts (
    id TEXT PRIMARY KEY NOT NULL,
    inspection_id TEXT NOT NULL REFERENCES inspections (id),
    field TEXT NOT NULL,
    -- JSON values.
    kept TEXT NOT NULL,
    discarded TEXT NOT NULL,
    kept_device_id TEXT NOT NULL,
    discarded_device_id TEXT NOT NULL,
    kept_changed_at TIMESTAMP NOT NULL,
    discarded_changed_at TIMESTAMP NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
    resolved_by TEXT REFERENCES users (id),
    resolved_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX conflicts_inspection ON conflicts (inspection_id);
CREATE INDEX conflicts_status ON conflicts (status, created_at);

-- The answer given to each (device, batch), so a replay gets it again.
CREATE TABLE push_batches (
    device_id TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    -- The answer as deflated JSON (a batch answer repeats its field names
    -- hundreds of times; it shrinks about tenfold).
    response BLOB NOT NULL,
    created_at TIMESTAMP NOT NULL,
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
