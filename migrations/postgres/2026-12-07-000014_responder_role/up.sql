-- The responder role (issue 22): users.role admits 'responder'.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('inspector', 'coordinator', 'admin', 'responder'));
CREATE INDEX users_department ON users (department_id);
