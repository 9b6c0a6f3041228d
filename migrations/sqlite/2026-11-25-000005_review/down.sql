DROP INDEX conflicts_open;
DROP INDEX inspections_position;
DROP INDEX inspections_inspector_queue;
DROP INDEX inspections_review_queue;
DROP INDEX inspections_group_queue;
DROP INDEX inspections_queue;
