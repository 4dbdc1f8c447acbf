-- Imports update many customers at once, mostly columns without an index (e-mail,
-- names). Free space on each page lets PostgreSQL do those as HOT updates that leave
-- the indexes alone.
ALTER TABLE customers SET (fillfactor = 80);
