-- Each import stages its rows in a table of its own here, dropped once it is applied,
-- cancelled or purged.
CREATE SCHEMA staging;
