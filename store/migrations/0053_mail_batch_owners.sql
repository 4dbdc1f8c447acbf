-- What migration 0052 did for the tenant and run of invitation recipients and login
-- tokens, for their customer and identity: the foreign keys checked every written row on
-- its own (a quarter of a claim's time: two lookups per login token), and their ON DELETE
-- CASCADE deleted row by row, with a scan of the whole table per deleted customer (no
-- index leads with customer_id there), so the daily trash purge grew with the number of
-- tokens times the customers it purged. A statement-level trigger now checks and locks
-- (FOR KEY SHARE, as the foreign keys did) the customers and identities a statement
-- wrote, in one query each; deleting customers or identities deletes their tokens and
-- recipients in one statement. Deleting an identity that recipients still name is
-- refused, as before.
ALTER TABLE invitation_recipients DROP CONSTRAINT invitation_recipients_customer_id_fkey,
    DROP CONSTRAINT invitation_recipients_identity_id_fkey;
ALTER TABLE login_tokens DROP CONSTRAINT login_tokens_customer_id_fkey,
    DROP CONSTRAINT login_tokens_identity_id_fkey;

CREATE FUNCTION mail_batch_owners_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing bigint;
BEGIN
    -- Locked first: a customer or identity deleted since the rows were written is then
    -- missing below, and none can be deleted until this transaction ends.
    PERFORM 1 FROM customers c WHERE c.id IN (SELECT customer_id FROM new_rows) FOR KEY SHARE OF c;
    SELECT n.customer_id INTO missing FROM new_rows n
    WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = n.customer_id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%_customer_id_fkey"', TG_TABLE_NAME, TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation', DETAIL = format('Key (customer_id)=(%s) is not present in table "customers".', missing);
    END IF;
    PERFORM 1 FROM portal_identities i WHERE i.id IN (SELECT identity_id FROM new_rows) FOR KEY SHARE OF i;
    SELECT n.identity_id INTO missing FROM new_rows n
    WHERE n.identity_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM portal_identities i WHERE i.id = n.identity_id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%_identity_id_fkey"', TG_TABLE_NAME, TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation', DETAIL = format('Key (identity_id)=(%s) is not present in table "portal_identities".', missing);
    END IF;
    RETURN NULL;
END
$$;

-- The row-level variant for an UPDATE that sets either column (no statement of the
-- batches does).
CREATE FUNCTION mail_batch_owner_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM customers c WHERE c.id = NEW.customer_id FOR KEY SHARE OF c;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%_customer_id_fkey"', TG_TABLE_NAME, TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation', DETAIL = format('Key (customer_id)=(%s) is not present in table "customers".', NEW.customer_id);
    END IF;
    IF NEW.identity_id IS NOT NULL THEN
        PERFORM 1 FROM portal_identities i WHERE i.id = NEW.identity_id FOR KEY SHARE OF i;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%_identity_id_fkey"', TG_TABLE_NAME, TG_TABLE_NAME
                USING ERRCODE = 'foreign_key_violation', DETAIL = format('Key (identity_id)=(%s) is not present in table "portal_identities".', NEW.identity_id);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

-- Transition tables are captured once per statement and table, so these share the
-- capture with 0052's triggers.
CREATE TRIGGER invitation_recipients_owners_insert AFTER INSERT ON invitation_recipients REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION mail_batch_owners_check();
CREATE TRIGGER invitation_recipients_owners_update AFTER UPDATE OF customer_id, identity_id ON invitation_recipients
    FOR EACH ROW EXECUTE FUNCTION mail_batch_owner_check();
CREATE TRIGGER login_tokens_owners_insert AFTER INSERT ON login_tokens REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION mail_batch_owners_check();
CREATE TRIGGER login_tokens_owners_update AFTER UPDATE OF customer_id, identity_id ON login_tokens
    FOR EACH ROW EXECUTE FUNCTION mail_batch_owner_check();

CREATE FUNCTION customers_mail_batch_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM login_tokens x USING old_rows o WHERE x.customer_id = o.id;
    DELETE FROM invitation_recipients x USING old_rows o WHERE x.customer_id = o.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER customers_mail_batch_delete AFTER DELETE ON customers
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION customers_mail_batch_delete();

CREATE FUNCTION identities_mail_batch_delete() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    held bigint;
BEGIN
    SELECT x.identity_id INTO held FROM invitation_recipients x JOIN old_rows o ON o.id = x.identity_id LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'delete on table "portal_identities" violates foreign key constraint "invitation_recipients_identity_id_fkey"'
            USING ERRCODE = 'foreign_key_violation', DETAIL = format('Key (id)=(%s) is still referenced from table "invitation_recipients".', held);
    END IF;
    DELETE FROM login_tokens x USING old_rows o WHERE x.identity_id = o.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER identities_mail_batch_delete AFTER DELETE ON portal_identities
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION identities_mail_batch_delete();
