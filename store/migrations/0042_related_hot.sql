-- A transfer with related data moves every appointment, visit report and visit block of
-- its customers to the target account in one statement. With account_id in their index
-- and full pages, each such update wrote a new index entry and a row version on another
-- page. The queries find these rows by customer (a handful each) and filter the account,
-- so the index needs customer_id only; half-full pages leave room for every new version
-- on its own page: the move becomes a HOT update that leaves the indexes alone. Existing
-- pages keep their old fill until the table is rewritten.
DROP INDEX appointments_customer;
DROP INDEX visit_reports_customer;
DROP INDEX visit_blocks_customer;
CREATE INDEX appointments_customer ON appointments (customer_id);
CREATE INDEX visit_reports_customer ON visit_reports (customer_id);
CREATE INDEX visit_blocks_customer ON visit_blocks (customer_id);
ALTER TABLE appointments SET (fillfactor = 50);
ALTER TABLE visit_reports SET (fillfactor = 50);
ALTER TABLE visit_blocks SET (fillfactor = 50);
