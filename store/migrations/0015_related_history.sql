-- Appointments, visit reports and visit blocks belong to a customer and to the account
-- whose history they are part of. A transfer with related data moves or copies them to
-- the target account; without, they stay in the source account's history. Purging a
-- customer from the trash never deletes its booked appointments or visit reports (their
-- customer_id becomes NULL); visit blocks only mean something for a customer and go
-- with it.
ALTER TABLE appointments ADD COLUMN account_id bigint REFERENCES accounts (id);
ALTER TABLE visit_reports ADD COLUMN account_id bigint REFERENCES accounts (id);
ALTER TABLE visit_blocks ADD COLUMN account_id bigint REFERENCES accounts (id);
UPDATE appointments x SET account_id = c.account_id FROM customers c WHERE c.id = x.customer_id;
UPDATE visit_reports x SET account_id = c.account_id FROM customers c WHERE c.id = x.customer_id;
UPDATE visit_blocks x SET account_id = c.account_id FROM customers c WHERE c.id = x.customer_id;
ALTER TABLE appointments ALTER COLUMN account_id SET NOT NULL;
ALTER TABLE visit_reports ALTER COLUMN account_id SET NOT NULL;
ALTER TABLE visit_blocks ALTER COLUMN account_id SET NOT NULL;

ALTER TABLE appointments ALTER COLUMN customer_id DROP NOT NULL,
    DROP CONSTRAINT appointments_customer_id_fkey,
    ADD CONSTRAINT appointments_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE SET NULL;
ALTER TABLE visit_reports ALTER COLUMN customer_id DROP NOT NULL,
    DROP CONSTRAINT visit_reports_customer_id_fkey,
    ADD CONSTRAINT visit_reports_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE SET NULL;
ALTER TABLE visit_blocks
    DROP CONSTRAINT visit_blocks_customer_id_fkey,
    ADD CONSTRAINT visit_blocks_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE;

DROP INDEX appointments_customer;
DROP INDEX visit_reports_customer;
DROP INDEX visit_blocks_customer;
CREATE INDEX appointments_customer ON appointments (customer_id, account_id);
CREATE INDEX visit_reports_customer ON visit_reports (customer_id, account_id);
CREATE INDEX visit_blocks_customer ON visit_blocks (customer_id, account_id);
-- The trash purge finds old trash per tenant.
CREATE INDEX customers_trash ON customers (tenant_id, deleted_at) WHERE deleted_at IS NOT NULL;
