PRAGMA foreign_keys = OFF;
BEGIN;
DROP TABLE IF EXISTS users_rebuilt;
CREATE TABLE users_rebuilt (
    id TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('inspector', 'coordinator', 'admin')),
    group_id TEXT REFERENCES groups (id),
    password_hash TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT 1,
    token_stamp INTEGER NOT NULL DEFAULT 0,
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
COMMIT;
PRAGMA foreign_keys = ON;
