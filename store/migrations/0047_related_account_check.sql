-- A transfer with related data moves the account_id of every appointment, visit report
-- and visit block of its customers in one statement. Their foreign key on accounts
-- checked each changed row on its own (300,000 lookups of the same one account for
-- 100,000 customers with 3 appointments each: about 1 s of a 5 s apply). These
-- statement-level triggers check the same once per statement, over the distinct
-- accounts the statement wrote, and lock them FOR KEY SHARE as the foreign key did, so
-- an account cannot be deleted under a transaction that is still writing rows for it.
-- Deleting an account that related data still names is refused, as before.
CREATE FUNCTION related_account_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing bigint;
BEGIN
    SELECT n.account_id INTO missing
    FROM (SELECT DISTINCT account_id FROM new_rows WHERE account_id IS NOT NULL) n
    LEFT JOIN (SELECT a.id FROM accounts a
               WHERE a.id IN (SELECT account_id FROM new_rows) FOR KEY SHARE OF a) a ON a.id = n.account_id
    WHERE a.id IS NULL
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%_account_id_fkey"', TG_TABLE_NAME, TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation', DETAIL = format('Key (account_id)=(%s) is not present in table "accounts".', missing);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION accounts_related_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    held bigint;
BEGIN
    SELECT o.id INTO held FROM old_rows o
    WHERE EXISTS (SELECT 1 FROM appointments x WHERE x.account_id = o.id)
       OR EXISTS (SELECT 1 FROM visit_reports x WHERE x.account_id = o.id)
       OR EXISTS (SELECT 1 FROM visit_blocks x WHERE x.account_id = o.id)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'delete on table "accounts" violates foreign key constraint of its related data'
            USING ERRCODE = 'foreign_key_violation', DETAIL = format('Key (id)=(%s) is still referenced.', held);
    END IF;
    RETURN NULL;
END
$$;

-- One trigger per table and event: a trigger with transition tables has a single event.
DO $$
DECLARE
    t text;
    ev text;
BEGIN
    FOREACH t IN ARRAY ARRAY['appointments', 'visit_reports', 'visit_blocks'] LOOP
        EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', t, t || '_account_id_fkey');
        FOREACH ev IN ARRAY ARRAY['insert', 'update'] LOOP
            EXECUTE format('CREATE TRIGGER %I AFTER %s ON %I REFERENCING NEW TABLE AS new_rows
                FOR EACH STATEMENT EXECUTE FUNCTION related_account_check()', t || '_account_' || ev, ev, t);
        END LOOP;
    END LOOP;
END
$$;
CREATE TRIGGER accounts_related_delete AFTER DELETE ON accounts
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION accounts_related_check();
