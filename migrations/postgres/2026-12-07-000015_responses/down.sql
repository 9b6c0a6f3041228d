ALTER TABLE followup_history DROP COLUMN department;
ALTER TABLE followup_history DROP COLUMN department_id;
ALTER TABLE followup_history DROP COLUMN event;
DROP INDEX photos_response;
ALTER TABLE photos DROP COLUMN response_id;
DROP TABLE followup_responses;
