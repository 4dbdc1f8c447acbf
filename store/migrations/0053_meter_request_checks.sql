-- What migration 0052 did for invitations, for meter requests: a run records one
-- portal_ready_results row per contract (its check), one meter_request_contracts row per
-- requested contract and one meter_request_recipients row per contact, before the first
-- mail. Their foreign keys checked every row on its own: for 20,000 contracts six
-- lookups per contract, 0.6 of the 0.9 s the selection took, while the invitations of
-- as many customers no longer pay them. A statement-level trigger checks the same once
-- per statement (the tenant once, the contracts, contacts, identities and customers in
-- one query each) and locks them FOR KEY SHARE as the foreign keys did; an UPDATE that
-- sets one of these columns is checked row by row (none of ours does). Deleting a tenant
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

CREATE FUNCTION meter_refs_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tenant bigint;
    missing bigint;
BEGIN
    FOR tenant IN SELECT DISTINCT tenant_id FROM new_rows LOOP
        PERFORM 1 FROM tenants t WHERE t.id = tenant FOR KEY SHARE OF t;
        IF NOT FOUND THEN
            PERFORM missing_ref(TG_TABLE_NAME, 'tenant_id', 'tenants', tenant::text);
        END IF;
    END LOOP;
    -- Each parent is locked first: one deleted since the rows were written is then
    -- missing below, and none can be deleted until this transaction ends.
    IF TG_TABLE_NAME = 'meter_request_recipients' THEN
        PERFORM 1 FROM contacts p WHERE p.id IN (SELECT contact_id FROM new_rows) FOR KEY SHARE OF p;
        SELECT n.contact_id INTO missing FROM new_rows n WHERE NOT EXISTS (SELECT 1 FROM contacts p WHERE p.id = n.contact_id) LIMIT 1;
        IF FOUND THEN
            PERFORM missing_ref(TG_TABLE_NAME, 'contact_id', 'contacts', missing::text);
        END IF;
        PERFORM 1 FROM portal_identities i WHERE i.id IN (SELECT identity_id FROM new_rows) FOR KEY SHARE OF i;
        SELECT n.identity_id INTO missing FROM new_rows n WHERE NOT EXISTS (SELECT 1 FROM portal_identities i WHERE i.id = n.identity_id) LIMIT 1;
        IF FOUND THEN
            PERFORM missing_ref(TG_TABLE_NAME, 'identity_id', 'portal_identities', missing::text);
        END IF;
        PERFORM 1 FROM customers c WHERE c.id IN (SELECT customer_id FROM new_rows) FOR KEY SHARE OF c;
        SELECT n.customer_id INTO missing FROM new_rows n WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = n.customer_id) LIMIT 1;
        IF FOUND THEN
            PERFORM missing_ref(TG_TABLE_NAME, 'customer_id', 'customers', missing::text);
        END IF;
    ELSE
        PERFORM 1 FROM contracts ct WHERE ct.id IN (SELECT contract_id FROM new_rows) FOR KEY SHARE OF ct;
        SELECT n.contract_id INTO missing FROM new_rows n WHERE NOT EXISTS (SELECT 1 FROM contracts ct WHERE ct.id = n.contract_id) LIMIT 1;
        IF FOUND THEN
            PERFORM missing_ref(TG_TABLE_NAME, 'contract_id', 'contracts', missing::text);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

-- The row-level check of an UPDATE that sets a checked column: the same over one row.
CREATE FUNCTION meter_ref_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM tenants t WHERE t.id = NEW.tenant_id FOR KEY SHARE OF t;
    IF NOT FOUND THEN
        PERFORM missing_ref(TG_TABLE_NAME, 'tenant_id', 'tenants', NEW.tenant_id::text);
    END IF;
    IF TG_TABLE_NAME = 'meter_request_recipients' THEN
        PERFORM 1 FROM contacts p WHERE p.id = NEW.contact_id FOR KEY SHARE OF p;
        IF NOT FOUND THEN
            PERFORM missing_ref(TG_TABLE_NAME, 'contact_id', 'contacts', NEW.contact_id::text);
        END IF;
        PERFORM 1 FROM portal_identities i WHERE i.id = NEW.identity_id FOR KEY SHARE OF i;
        IF NOT FOUND THEN
            PERFORM missing_ref(TG_TABLE_NAME, 'identity_id', 'portal_identities', NEW.identity_id::text);
        END IF;
        PERFORM 1 FROM customers c WHERE c.id = NEW.customer_id FOR KEY SHARE OF c;
        IF NOT FOUND THEN
            PERFORM missing_ref(TG_TABLE_NAME, 'customer_id', 'customers', NEW.customer_id::text);
        END IF;
    ELSE
        PERFORM 1 FROM contracts ct WHERE ct.id = NEW.contract_id FOR KEY SHARE OF ct;
        IF NOT FOUND THEN
            PERFORM missing_ref(TG_TABLE_NAME, 'contract_id', 'contracts', NEW.contract_id::text);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER portal_ready_results_refs_insert AFTER INSERT ON portal_ready_results REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION meter_refs_check();
CREATE TRIGGER portal_ready_results_refs_update AFTER UPDATE OF tenant_id, contract_id ON portal_ready_results
    FOR EACH ROW EXECUTE FUNCTION meter_ref_check();
CREATE TRIGGER meter_request_contracts_refs_insert AFTER INSERT ON meter_request_contracts REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION meter_refs_check();
CREATE TRIGGER meter_request_contracts_refs_update AFTER UPDATE OF tenant_id, contract_id ON meter_request_contracts
    FOR EACH ROW EXECUTE FUNCTION meter_ref_check();
CREATE TRIGGER meter_request_recipients_refs_insert AFTER INSERT ON meter_request_recipients REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION meter_refs_check();
CREATE TRIGGER meter_request_recipients_refs_update AFTER UPDATE OF tenant_id, contact_id, identity_id, customer_id ON meter_request_recipients
    FOR EACH ROW EXECUTE FUNCTION meter_ref_check();

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
