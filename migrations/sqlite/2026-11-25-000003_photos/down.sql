DROP TABLE photo_jobs;
