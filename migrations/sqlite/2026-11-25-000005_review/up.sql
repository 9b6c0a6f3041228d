-- The coordinators' queue: newest first under each filter.
CREATE INDEX inspections_queue ON inspections (created_at, id);
CREATE INDEX inspections_group_queue ON inspections (group_id, created_at, id);
CREATE INDEX inspections_review_queue ON inspections (review_status, created_at, id);
CREATE INDEX inspections_inspector_queue ON inspections (inspector_id, created_at, id);
CREATE INDEX inspections_position ON inspections (lat, lon);
CREATE INDEX conflicts_open ON conflicts (inspection_id, status);
