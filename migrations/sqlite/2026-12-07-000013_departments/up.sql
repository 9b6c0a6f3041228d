-- Departments (issue 22): the district bureaus a follow-up is handed to.
-- Every follow-up's department text becomes a department of that name, so
-- nothing is lost and each follow-up names one (`department_id`); its text
-- stays as the name it was given.
CREATE TABLE departments (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    active BOOLEAN NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
INSERT INTO departments (id, name, active, created_at, updated_at)
SELECT lower(substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4' || substr(h, 14, 3) || '-8'
             || substr(h, 18, 3) || '-' || substr(h, 21, 12)),
       name, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP
FROM (SELECT DISTINCT trim(department) AS name, hex(randomblob(16)) AS h
      FROM (SELECT DISTINCT trim(department) AS department FROM followups
            WHERE trim(department) <> ''));
ALTER TABLE followups ADD COLUMN department_id TEXT REFERENCES departments (id);
UPDATE followups SET department_id =
    (SELECT d.id FROM departments d WHERE d.name = trim(followups.department));
CREATE INDEX followups_department ON followups (department_id, status);
-- A user of any role may belong to one department.
ALTER TABLE users ADD COLUMN department_id TEXT REFERENCES departments (id);
