-- Responses (issue 22): what a department answers on a follow-up, with its
-- evidence as photos (`photos.response_id`), and the follow-up's history
-- telling a hand-off (`dispatched`, with the department it went to) from a
-- status change and from a response's own status.
CREATE TABLE followup_responses (
    id TEXT PRIMARY KEY NOT NULL,
    followup_id TEXT NOT NULL REFERENCES followups (id),
    note TEXT NOT NULL DEFAULT '',
    -- The status the response moved the follow-up to, if any.
    status TEXT CHECK (status IN ('in_progress', 'resolved')),
    by_id TEXT NOT NULL REFERENCES users (id),
    -- The department the follow-up was with when the response came.
    department_id TEXT REFERENCES departments (id),
    -- sha256 of the response as sent: the same id sent again with other
    -- content is refused, not stored twice.
    content_hash TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX followup_responses_followup ON followup_responses (followup_id, at);
ALTER TABLE photos ADD COLUMN response_id TEXT REFERENCES followup_responses (id);
CREATE INDEX photos_response ON photos (response_id);
ALTER TABLE followup_history ADD COLUMN event TEXT NOT NULL DEFAULT 'status'
    CHECK (event IN ('dispatched', 'status', 'response'));
ALTER TABLE followup_history ADD COLUMN department_id TEXT REFERENCES departments (id);
ALTER TABLE followup_history ADD COLUMN department TEXT;
-- A follow-up's first entry is its dispatch to the department it names.
UPDATE followup_history SET event = 'dispatched',
    department_id = (SELECT f.department_id FROM followups f WHERE f.id = followup_history.followup_id),
    department = (SELECT f.department FROM followups f WHERE f.id = followup_history.followup_id)
WHERE followup_history.id = (SELECT h.id FROM followup_history h
                             WHERE h.followup_id = followup_history.followup_id
                             ORDER BY h.at, h.id LIMIT 1);
