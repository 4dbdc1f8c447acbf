-- Appointments, visit reports and visit blocks follow their customer: account_id NULL
-- means "in the history of the customer's current account", so a move with related data
-- writes none of them (it rewrote 300,000 rows for 100,000 customers with 3 appointments
-- each: about a sixth of the import's apply). A non-NULL account_id pins the row to that
-- account's history: a move without related data pins the rows it leaves behind, and
-- the trash purge pins the rows it keeps just before it deletes their customer. A row
-- pinned to the account its customer is in again (moved away and back) is the
-- customer's, as before; a move with related data takes it along (unpins it).
--
-- Every reader uses the effective owner, COALESCE(x.account_id, c.account_id). Deleting
-- an account stays refused while related data names it: a NULL row's customer names it.
-- Without an owner a row would be lost: the purge's ON DELETE SET NULL of customer_id
-- on an unpinned row is refused by the CHECK.
ALTER TABLE appointments ALTER COLUMN account_id DROP NOT NULL;
ALTER TABLE visit_reports ALTER COLUMN account_id DROP NOT NULL;
ALTER TABLE visit_blocks ALTER COLUMN account_id DROP NOT NULL;

UPDATE appointments x SET account_id = NULL FROM customers c WHERE c.id = x.customer_id AND x.account_id = c.account_id;
UPDATE visit_reports x SET account_id = NULL FROM customers c WHERE c.id = x.customer_id AND x.account_id = c.account_id;
UPDATE visit_blocks x SET account_id = NULL FROM customers c WHERE c.id = x.customer_id AND x.account_id = c.account_id;

ALTER TABLE appointments ADD CONSTRAINT appointments_owner CHECK (customer_id IS NOT NULL OR account_id IS NOT NULL);
ALTER TABLE visit_reports ADD CONSTRAINT visit_reports_owner CHECK (customer_id IS NOT NULL OR account_id IS NOT NULL);
ALTER TABLE visit_blocks ADD CONSTRAINT visit_blocks_owner CHECK (customer_id IS NOT NULL OR account_id IS NOT NULL);

-- The pinned rows are few: a move with related data finds those of its customers here
-- instead of probing every row of every customer.
CREATE INDEX appointments_pinned ON appointments (customer_id) WHERE account_id IS NOT NULL;
CREATE INDEX visit_reports_pinned ON visit_reports (customer_id) WHERE account_id IS NOT NULL;
CREATE INDEX visit_blocks_pinned ON visit_blocks (customer_id) WHERE account_id IS NOT NULL;
