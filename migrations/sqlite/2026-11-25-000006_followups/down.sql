DROP TABLE followup_history;
DROP TABLE followups;
