-- A mail batch writes one invitation_recipients row per customer when it selects them,
-- and one login_tokens row per mail when it claims them. Both tables named their tenant
-- and their job run with foreign keys, which checked every written row on its own:
-- 20,000 lookups of the same one tenant and the same one run per 20,000 invitations,
-- about a tenth of the PostgreSQL time of a batch. As migrations 0047 and 0049 did for
-- accounts, a statement-level trigger checks the same once per statement over the
-- distinct tenants and runs the statement wrote, and locks them FOR KEY SHARE as the
-- foreign key did, so neither can be deleted under a transaction still writing rows for
-- it. An UPDATE that sets tenant_id or run_id is checked row by row (no statement of
-- the batches does). Deleting a tenant still named here is refused; deleting a job run
-- deletes its recipients and unlinks its tokens, as the foreign keys' actions did.
ALTER TABLE invitation_recipients DROP CONSTRAINT invitation_recipients_tenant_id_fkey,
    DROP CONSTRAINT invitation_recipients_run_id_fkey;
ALTER TABLE login_tokens DROP CONSTRAINT login_tokens_tenant_id_fkey,
    DROP CONSTRAINT login_tokens_run_id_fkey;

CREATE FUNCTION mail_batch_refs_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tenant bigint;
    run uuid;
BEGIN
    FOR tenant IN SELECT DISTINCT tenant_id FROM new_rows LOOP
        PERFORM 1 FROM tenants t WHERE t.id = tenant FOR KEY SHARE OF t;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%_tenant_id_fkey"', TG_TABLE_NAME, TG_TABLE_NAME
                USING ERRCODE = 'foreign_key_violation', DETAIL = format('Key (tenant_id)=(%s) is not present in table "tenants".', tenant);
        END IF;
    END LOOP;
    FOR run IN SELECT DISTINCT run_id FROM new_rows WHERE run_id IS NOT NULL LOOP
        PERFORM 1 FROM job_runs r WHERE r.id = run FOR KEY SHARE OF r;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%_run_id_fkey"', TG_TABLE_NAME, TG_TABLE_NAME
                USING ERRCODE = 'foreign_key_violation', DETAIL = format('Key (run_id)=(%s) is not present in table "job_runs".', run);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

-- The row-level variant for an UPDATE that sets either column.
CREATE FUNCTION mail_batch_ref_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM tenants t WHERE t.id = NEW.tenant_id FOR KEY SHARE OF t;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%_tenant_id_fkey"', TG_TABLE_NAME, TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation', DETAIL = format('Key (tenant_id)=(%s) is not present in table "tenants".', NEW.tenant_id);
    END IF;
    IF NEW.run_id IS NOT NULL THEN
        PERFORM 1 FROM job_runs r WHERE r.id = NEW.run_id FOR KEY SHARE OF r;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%_run_id_fkey"', TG_TABLE_NAME, TG_TABLE_NAME
                USING ERRCODE = 'foreign_key_violation', DETAIL = format('Key (run_id)=(%s) is not present in table "job_runs".', NEW.run_id);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER invitation_recipients_refs_insert AFTER INSERT ON invitation_recipients REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION mail_batch_refs_check();
CREATE TRIGGER invitation_recipients_refs_update AFTER UPDATE OF tenant_id, run_id ON invitation_recipients
    FOR EACH ROW EXECUTE FUNCTION mail_batch_ref_check();
CREATE TRIGGER login_tokens_refs_insert AFTER INSERT ON login_tokens REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION mail_batch_refs_check();
CREATE TRIGGER login_tokens_refs_update AFTER UPDATE OF tenant_id, run_id ON login_tokens
    FOR EACH ROW EXECUTE FUNCTION mail_batch_ref_check();

CREATE FUNCTION tenants_mail_batch_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    held bigint;
BEGIN
    SELECT o.id INTO held FROM old_rows o
    WHERE EXISTS (SELECT 1 FROM invitation_recipients x WHERE x.tenant_id = o.id)
       OR EXISTS (SELECT 1 FROM login_tokens x WHERE x.tenant_id = o.id)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'delete on table "tenants" violates foreign key constraint of its invitations or login links'
            USING ERRCODE = 'foreign_key_violation', DETAIL = format('Key (id)=(%s) is still referenced.', held);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER tenants_mail_batch_delete AFTER DELETE ON tenants
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tenants_mail_batch_check();

CREATE FUNCTION job_runs_mail_batch_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM invitation_recipients x USING old_rows o WHERE x.run_id = o.id;
    UPDATE login_tokens x SET run_id = NULL FROM old_rows o WHERE x.run_id = o.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER job_runs_mail_batch_delete AFTER DELETE ON job_runs
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION job_runs_mail_batch_delete();
