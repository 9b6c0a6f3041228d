-- Departments (issue 22): the district bureaus a follow-up is handed to.
-- Every follow-up's department text becomes a department of that name, so
-- nothing is lost and each follow-up names one (`department_id`); its text
-- stays as the name it was given.
CREATE TABLE departments (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
INSERT INTO departments (id, name, active, created_at, updated_at)
SELECT gen_random_uuid()::text, name, TRUE, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
FROM (SELECT DISTINCT trim(department) AS name FROM followups WHERE trim(department) <> '') AS d;
ALTER TABLE followups ADD COLUMN department_id TEXT REFERENCES departments (id);
UPDATE followups SET department_id =
    (SELECT d.id FROM departments d WHERE d.name = trim(followups.department));
CREATE INDEX followups_department ON followups (department_id, status);
-- A user of any role may belong to one department.
ALTER TABLE users ADD COLUMN department_id TEXT REFERENCES departments (id);
