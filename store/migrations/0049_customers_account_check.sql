-- A transfer with transfer=move changes the account_id of every moved customer in one
-- statement. The foreign key on accounts checked each changed row on its own (100,000
-- lookups of the same one account for 100,000 moved customers: about a third of the
-- move). As migration 0047 did for the related data, statement-level triggers check the
-- same once per statement over the distinct accounts it wrote, and lock them FOR KEY
-- SHARE as the foreign key did. An UPDATE trigger with a transition table cannot name
-- columns (UPDATE OF account_id), so it sees every update of customers: the e-mail
-- import's 100,000 updates are captured and checked once for their one account.
-- Deleting an account that customers still name is refused, as before.
ALTER TABLE customers DROP CONSTRAINT customers_account_id_fkey;

-- The check reads the transition table once (0047's read it twice: 0.1–0.2 s for
-- 100,000 rows) and locks each distinct account on its own.
CREATE OR REPLACE FUNCTION related_account_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    acc bigint;
BEGIN
    FOR acc IN SELECT DISTINCT account_id FROM new_rows WHERE account_id IS NOT NULL LOOP
        PERFORM 1 FROM accounts a WHERE a.id = acc FOR KEY SHARE OF a;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%_account_id_fkey"', TG_TABLE_NAME, TG_TABLE_NAME
                USING ERRCODE = 'foreign_key_violation', DETAIL = format('Key (account_id)=(%s) is not present in table "accounts".', acc);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

CREATE TRIGGER customers_account_insert AFTER INSERT ON customers REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION related_account_check();
CREATE TRIGGER customers_account_update AFTER UPDATE ON customers REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION related_account_check();

CREATE OR REPLACE FUNCTION accounts_related_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    held bigint;
BEGIN
    SELECT o.id INTO held FROM old_rows o
    WHERE EXISTS (SELECT 1 FROM customers x WHERE x.account_id = o.id)
       OR EXISTS (SELECT 1 FROM appointments x WHERE x.account_id = o.id)
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
