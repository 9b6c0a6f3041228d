ALTER TABLE users DROP COLUMN department_id;
DROP INDEX followups_department;
ALTER TABLE followups DROP COLUMN department_id;
DROP TABLE departments;
