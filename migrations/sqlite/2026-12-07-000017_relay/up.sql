-- The relay's notifications (issue 22): events written in the same
-- transaction as the change that causes them (the live feed reads them by
-- seq), the channels admins point at group robots and webhooks, and one
-- delivery per event and channel (the outbox the sender works through).
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    group_id TEXT,
    owner_id TEXT,
    department_id TEXT,
    inspection_id TEXT,
    followup_id TEXT,
    -- JSON: what the message says (title, place, urgency, link, ...).
    payload TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE channels (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('wecom', 'dingtalk', 'feishu', 'webhook')),
    url TEXT NOT NULL,
    secret TEXT,
    group_id TEXT REFERENCES groups (id),
    department_id TEXT REFERENCES departments (id),
    -- JSON array of event kinds.
    events TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT 1,
    -- Why the server stopped it (a webhook that answered 410), if it did.
    disabled_reason TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE TABLE deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    channel_id TEXT NOT NULL REFERENCES channels (id),
    event_seq BIGINT NOT NULL REFERENCES events (seq),
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'given_up')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at TIMESTAMP NOT NULL,
    last_error TEXT,
    sent_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (channel_id, event_seq)
);
CREATE INDEX deliveries_due ON deliveries (status, channel_id, event_seq);
-- One sender at a time across servers: a lease row.
CREATE TABLE leases (
    name TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    until TIMESTAMP NOT NULL
);
-- `followup.overdue` is raised once per follow-up.
ALTER TABLE followups ADD COLUMN overdue_notified_at TIMESTAMP;
