-- A mail batch writes one invitation_recipients row per customer when it selects them,
-- and one login_tokens row per mail when it claims them. Both tables named their tenant,
-- job run, customer and identity with foreign keys, which checked every written row on
-- its own: per 20,000 invitations 20,000 lookups of the same one tenant and the same one
-- run and two more per row, about a quarter of a claim's time and half of the recipients'
-- insert. Their ON DELETE CASCADE deleted row by row, with a scan of the whole table per
-- deleted customer (no index there leads with customer_id), so the daily trash purge grew
-- with the tokens times the customers it purged.
--
-- As migrations 0047 and 0049 did for accounts, a statement-level trigger checks the same
-- once per statement: the distinct tenants and runs one by one, the customers and
-- identities in one query each; it locks them FOR KEY SHARE as the foreign keys did, so
-- none can be deleted under a transaction still writing rows for it. An UPDATE that sets
-- any of the four columns is checked row by row (only the selection's fix-up of a
-- recipient whose customer changed between two statements sets identity_id: rare).
-- Deleting a tenant still named here, or an identity a recipient names, is refused;
-- deleting a job run deletes its recipients and unlinks its tokens; deleting customers or
-- identities deletes their tokens (and a customer's recipients) in one statement.
-- Unlike a foreign key, nothing guards a change of a parent's id or a TRUNCATE of a
-- parent table (neither happens here), and the checks rely on READ COMMITTED (see
-- README, "References of bulk-written rows").
ALTER TABLE invitation_recipients DROP CONSTRAINT invitation_recipients_tenant_id_fkey,
    DROP CONSTRAINT invitation_recipients_run_id_fkey,
    DROP CONSTRAINT invitation_recipients_customer_id_fkey,
    DROP CONSTRAINT invitation_recipients_identity_id_fkey;
ALTER TABLE login_tokens DROP CONSTRAINT login_tokens_tenant_id_fkey,
    DROP CONSTRAINT login_tokens_run_id_fkey,
    DROP CONSTRAINT login_tokens_customer_id_fkey,
    DROP CONSTRAINT login_tokens_identity_id_fkey;

-- missing_ref raises what the foreign key raised.
CREATE FUNCTION missing_ref(tbl text, col text, parent text, val text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%_%_fkey"', tbl, tbl, col
        USING ERRCODE = 'foreign_key_violation', DETAIL = format('Key (%s)=(%s) is not present in table "%s".', col, val, parent);
END
$$;

CREATE FUNCTION mail_batch_refs_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tenant bigint;
    run uuid;
    missing bigint;
BEGIN
    FOR tenant IN SELECT DISTINCT tenant_id FROM new_rows LOOP
        PERFORM 1 FROM tenants t WHERE t.id = tenant FOR KEY SHARE OF t;
        IF NOT FOUND THEN
            PERFORM missing_ref(TG_TABLE_NAME, 'tenant_id', 'tenants', tenant::text);
        END IF;
    END LOOP;
    FOR run IN SELECT DISTINCT run_id FROM new_rows WHERE run_id IS NOT NULL LOOP
        PERFORM 1 FROM job_runs r WHERE r.id = run FOR KEY SHARE OF r;
        IF NOT FOUND THEN
            PERFORM missing_ref(TG_TABLE_NAME, 'run_id', 'job_runs', run::text);
        END IF;
    END LOOP;
    -- Locked first: a customer or identity deleted since the rows were written is then
    -- missing below, and none can be deleted until this transaction ends.
    PERFORM 1 FROM customers c WHERE c.id IN (SELECT customer_id FROM new_rows) FOR KEY SHARE OF c;
    SELECT n.customer_id INTO missing FROM new_rows n
    WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = n.customer_id) LIMIT 1;
    IF FOUND THEN
        PERFORM missing_ref(TG_TABLE_NAME, 'customer_id', 'customers', missing::text);
    END IF;
    PERFORM 1 FROM portal_identities i WHERE i.id IN (SELECT identity_id FROM new_rows) FOR KEY SHARE OF i;
    SELECT n.identity_id INTO missing FROM new_rows n
    WHERE n.identity_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM portal_identities i WHERE i.id = n.identity_id) LIMIT 1;
    IF FOUND THEN
        PERFORM missing_ref(TG_TABLE_NAME, 'identity_id', 'portal_identities', missing::text);
    END IF;
    RETURN NULL;
END
$$;

-- The row-level check of an UPDATE that sets a checked column, for the (column, parent
-- table) pairs its trigger names as arguments (a rare path: dynamic SQL is fine here).
CREATE FUNCTION ref_check_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    i int;
    val text;
    n int;
BEGIN
    FOR i IN 0 .. TG_NARGS / 2 - 1 LOOP
        EXECUTE format('SELECT ($1).%I::text', TG_ARGV[2 * i]) INTO val USING NEW;
        CONTINUE WHEN val IS NULL;
        EXECUTE format('SELECT 1 FROM %I p WHERE p.id = ($1).%I FOR KEY SHARE OF p', TG_ARGV[2 * i + 1], TG_ARGV[2 * i]) USING NEW;
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n = 0 THEN
            PERFORM missing_ref(TG_TABLE_NAME, TG_ARGV[2 * i], TG_ARGV[2 * i + 1], val);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

CREATE TRIGGER invitation_recipients_refs_insert AFTER INSERT ON invitation_recipients REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION mail_batch_refs_check();
CREATE TRIGGER invitation_recipients_refs_update AFTER UPDATE OF tenant_id, run_id, customer_id, identity_id ON invitation_recipients
    FOR EACH ROW EXECUTE FUNCTION ref_check_row('tenant_id', 'tenants', 'run_id', 'job_runs', 'customer_id', 'customers',
        'identity_id', 'portal_identities');
CREATE TRIGGER login_tokens_refs_insert AFTER INSERT ON login_tokens REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION mail_batch_refs_check();
CREATE TRIGGER login_tokens_refs_update AFTER UPDATE OF tenant_id, run_id, customer_id, identity_id ON login_tokens
    FOR EACH ROW EXECUTE FUNCTION ref_check_row('tenant_id', 'tenants', 'run_id', 'job_runs', 'customer_id', 'customers',
        'identity_id', 'portal_identities');

-- What deleting a parent does to the rows that name it, one trigger per parent table.
CREATE FUNCTION mail_batch_parent_delete() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    held text;
BEGIN
    CASE TG_TABLE_NAME
    WHEN 'tenants' THEN
        SELECT o.id INTO held FROM old_rows o
        WHERE EXISTS (SELECT 1 FROM invitation_recipients x WHERE x.tenant_id = o.id)
           OR EXISTS (SELECT 1 FROM login_tokens x WHERE x.tenant_id = o.id)
        LIMIT 1;
    WHEN 'job_runs' THEN
        DELETE FROM invitation_recipients x USING old_rows o WHERE x.run_id = o.id;
        UPDATE login_tokens x SET run_id = NULL FROM old_rows o WHERE x.run_id = o.id;
    WHEN 'customers' THEN
        DELETE FROM login_tokens x USING old_rows o WHERE x.customer_id = o.id;
        DELETE FROM invitation_recipients x USING old_rows o WHERE x.customer_id = o.id;
    WHEN 'portal_identities' THEN
        SELECT x.identity_id INTO held FROM invitation_recipients x JOIN old_rows o ON o.id = x.identity_id LIMIT 1;
        IF held IS NULL THEN
            DELETE FROM login_tokens x USING old_rows o WHERE x.identity_id = o.id;
        END IF;
    END CASE;
    IF held IS NOT NULL THEN
        RAISE EXCEPTION 'delete on table "%" violates foreign key constraint of invitation recipients or login tokens', TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation', DETAIL = format('Key (id)=(%s) is still referenced.', held);
    END IF;
    RETURN NULL;
END
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tenants', 'job_runs', 'customers', 'portal_identities'] LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS old_rows
            FOR EACH STATEMENT EXECUTE FUNCTION mail_batch_parent_delete()', t || '_mail_batch_delete', t);
    END LOOP;
END
$$;
