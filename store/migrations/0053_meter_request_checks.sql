-- What migration 0052 did for invitations, for meter requests: a run records one
-- portal_ready_results row per contract (its check), one meter_request_contracts row per
-- requested contract and one meter_request_recipients row per contact, before the first
-- mail. Their foreign keys checked every row on its own: for 20,000 contracts six
-- lookups per contract, 0.6 of the 0.9 s the selection took, while the invitations of
-- as many customers no longer pay them. A statement-level trigger checks the same once
-- per statement (the tenant once, the contracts, contacts, identities and customers in
-- one query each) and locks them FOR KEY SHARE as the foreign keys did; an UPDATE that
-- sets one of these columns is checked row by row (0052's ref_check_row; none of ours does). Deleting a tenant
-- still named is refused; deleting contracts, contacts, customers or identities deletes
-- the rows naming them in one statement, as the foreign keys' ON DELETE CASCADE did.
ALTER TABLE portal_ready_results DROP CONSTRAINT portal_ready_results_tenant_id_fkey,
    DROP CONSTRAINT portal_ready_results_contract_id_fkey;
ALTER TABLE meter_request_contracts DROP CONSTRAINT meter_request_contracts_tenant_id_fkey,
    DROP CONSTRAINT meter_request_contracts_contract_id_fkey;
ALTER TABLE meter_request_recipients DROP CONSTRAINT meter_request_recipients_tenant_id_fkey,
    DROP CONSTRAINT meter_request_recipients_contact_id_fkey,
    DROP CONSTRAINT meter_request_recipients_identity_id_fkey,
    DROP CONSTRAINT meter_request_recipients_customer_id_fkey;

-- refs_check checks what 0052's mail_batch_refs_check checks, for the (column, parent
-- table) pairs its trigger names as arguments: each parent a statement's rows name is
-- locked FOR KEY SHARE, then a row naming a missing one is refused. Dynamic SQL is
-- planned per statement: right for rows written once per run, not for the claims'
-- login tokens, which is why 0052 keeps its own static function.
CREATE FUNCTION refs_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    i int;
    missing text;
BEGIN
    FOR i IN 0 .. TG_NARGS / 2 - 1 LOOP
        EXECUTE format('SELECT count(*) FROM (SELECT 1 FROM %I p WHERE p.id IN (SELECT %I FROM new_rows) FOR KEY SHARE OF p) l',
            TG_ARGV[2 * i + 1], TG_ARGV[2 * i]);
        EXECUTE format('SELECT n.%1$I::text FROM new_rows n WHERE n.%1$I IS NOT NULL AND NOT EXISTS (SELECT 1 FROM %2$I p WHERE p.id = n.%1$I) LIMIT 1',
            TG_ARGV[2 * i], TG_ARGV[2 * i + 1]) INTO missing;
        IF missing IS NOT NULL THEN
            PERFORM missing_ref(TG_TABLE_NAME, TG_ARGV[2 * i], TG_ARGV[2 * i + 1], missing);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

CREATE TRIGGER portal_ready_results_refs_insert AFTER INSERT ON portal_ready_results REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION refs_check('tenant_id', 'tenants', 'contract_id', 'contracts');
CREATE TRIGGER portal_ready_results_refs_update AFTER UPDATE OF tenant_id, contract_id ON portal_ready_results
    FOR EACH ROW EXECUTE FUNCTION ref_check_row('tenant_id', 'tenants', 'contract_id', 'contracts');
CREATE TRIGGER meter_request_contracts_refs_insert AFTER INSERT ON meter_request_contracts REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION refs_check('tenant_id', 'tenants', 'contract_id', 'contracts');
CREATE TRIGGER meter_request_contracts_refs_update AFTER UPDATE OF tenant_id, contract_id ON meter_request_contracts
    FOR EACH ROW EXECUTE FUNCTION ref_check_row('tenant_id', 'tenants', 'contract_id', 'contracts');
CREATE TRIGGER meter_request_recipients_refs_insert AFTER INSERT ON meter_request_recipients REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION refs_check('tenant_id', 'tenants', 'contact_id', 'contacts',
        'identity_id', 'portal_identities', 'customer_id', 'customers');
CREATE TRIGGER meter_request_recipients_refs_update AFTER UPDATE OF tenant_id, contact_id, identity_id, customer_id ON meter_request_recipients
    FOR EACH ROW EXECUTE FUNCTION ref_check_row('tenant_id', 'tenants', 'contact_id', 'contacts',
        'identity_id', 'portal_identities', 'customer_id', 'customers');

-- What deleting a parent does to the rows that name it, one trigger per parent table.
CREATE FUNCTION meter_parent_delete() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    held bigint;
BEGIN
    CASE TG_TABLE_NAME
    WHEN 'tenants' THEN
        SELECT o.id INTO held FROM old_rows o
        WHERE EXISTS (SELECT 1 FROM portal_ready_results x WHERE x.tenant_id = o.id)
           OR EXISTS (SELECT 1 FROM meter_request_contracts x WHERE x.tenant_id = o.id)
           OR EXISTS (SELECT 1 FROM meter_request_recipients x WHERE x.tenant_id = o.id)
        LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'delete on table "tenants" violates foreign key constraint of its meter requests'
                USING ERRCODE = 'foreign_key_violation', DETAIL = format('Key (id)=(%s) is still referenced.', held);
        END IF;
    WHEN 'contracts' THEN
        DELETE FROM portal_ready_results x USING old_rows o WHERE x.contract_id = o.id;
        DELETE FROM meter_request_contracts x USING old_rows o WHERE x.contract_id = o.id;
    WHEN 'contacts' THEN
        DELETE FROM meter_request_recipients x USING old_rows o WHERE x.contact_id = o.id;
    WHEN 'customers' THEN
        DELETE FROM meter_request_recipients x USING old_rows o WHERE x.customer_id = o.id;
    WHEN 'portal_identities' THEN
        DELETE FROM meter_request_recipients x USING old_rows o WHERE x.identity_id = o.id;
    END CASE;
    RETURN NULL;
END
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tenants', 'contracts', 'contacts', 'customers', 'portal_identities'] LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS old_rows
            FOR EACH STATEMENT EXECUTE FUNCTION meter_parent_delete()', t || '_meter_delete', t);
    END LOOP;
END
$$;
