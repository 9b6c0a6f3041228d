-- The responder role (issue 22): users.role admits 'responder'.
--
-- SQLite's own procedure for changing a table's constraints (the "12 steps"
-- of its ALTER TABLE page): foreign keys off, one transaction, a new table,
-- the rows copied, the old table dropped and the new one renamed. Running
-- it again after a crash between the commit and Diesel's bookkeeping only
-- rebuilds the table once more.
PRAGMA foreign_keys = OFF;
BEGIN;
DROP TABLE IF EXISTS users_rebuilt;
CREATE TABLE users_rebuilt (
    id TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('inspector', 'coordinator', 'admin', 'responder')),
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
    updated_at TIMESTAMP NOT NULL,
    department_id TEXT REFERENCES departments (id)
);
INSERT INTO users_rebuilt (id, username, display_name, role, group_id, password_hash, active,
                           token_stamp, scope_epoch, created_at, updated_at, department_id)
SELECT id, username, display_name, role, group_id, password_hash, active,
       token_stamp, scope_epoch, created_at, updated_at, department_id
FROM users;
DROP TABLE users;
ALTER TABLE users_rebuilt RENAME TO users;
CREATE INDEX users_group ON users (group_id);
CREATE INDEX users_department ON users (department_id);
COMMIT;
PRAGMA foreign_keys = ON;
