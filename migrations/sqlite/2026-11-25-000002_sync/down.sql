DROP TABLE reviews;
DROP TABLE push_batches;
DROP TABLE conflicts;
DROP TABLE photos;
DROP TABLE inspections;
DROP TABLE devices;
