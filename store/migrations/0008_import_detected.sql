-- What the preview found in the file: format, sheet, encoding, delimiter, header row and
-- which columns it recognised (the API's "detected").
ALTER TABLE imports ADD COLUMN detected jsonb;
