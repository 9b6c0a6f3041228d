-- Follow-ups: what a finding asks of a department, chased until a
-- re-inspection verifies it fixed. Every change is kept as history.
CREATE TABLE followups (
    id TEXT PRIMARY KEY NOT NULL,
    inspection_id TEXT NOT NULL REFERENCES inspections (id),
    site_id TEXT NOT NULL REFERENCES sites (id),
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
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX followups_group ON followups (group_id, status, due_at);
CREATE INDEX followups_inspection ON followups (inspection_id);
CREATE INDEX followups_stop ON followups (verify_stop_id);

CREATE TABLE followup_history (
    id TEXT PRIMARY KEY NOT NULL,
    followup_id TEXT NOT NULL REFERENCES followups (id),
    status TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    by_id TEXT NOT NULL REFERENCES users (id),
    at TIMESTAMP NOT NULL
);
CREATE INDEX followup_history_followup ON followup_history (followup_id, at);
