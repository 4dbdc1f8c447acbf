-- Portal-ready and meter requests (SPEC §5, seed 004).
--
-- portal_contacts: the contacts a portal-ready check gave portal access, each with the
-- identity (tenant + normalised e-mail) it logs in as. The identity is also linked to the
-- contact's customer (portal_identity_customers); that link stays while the contact
-- still carries the address it was granted for.
CREATE TABLE portal_contacts (
    contact_id  bigint PRIMARY KEY REFERENCES contacts (id) ON DELETE CASCADE,
    tenant_id   bigint NOT NULL REFERENCES tenants (id),
    identity_id bigint NOT NULL REFERENCES portal_identities (id) ON DELETE CASCADE,
    email       text NOT NULL,
    granted_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX portal_contacts_identity ON portal_contacts (identity_id);

-- What a portal-ready check (or the check before a meter request) found per contract:
-- problems is empty for a ready contract. batch is the job run's id, or the periodic
-- task's id.
CREATE TABLE portal_ready_results (
    batch       text NOT NULL,
    tenant_id   bigint NOT NULL REFERENCES tenants (id),
    contract_id bigint NOT NULL REFERENCES contracts (id) ON DELETE CASCADE,
    period      text,
    period_start date,
    period_end  date,
    problems    text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (batch, contract_id)
);

-- The periods a contract's readings were requested for: the periodic job requests
-- every contract whose current period has none.
CREATE TABLE meter_request_contracts (
    contract_id bigint NOT NULL REFERENCES contracts (id) ON DELETE CASCADE,
    period      text NOT NULL,
    tenant_id   bigint NOT NULL REFERENCES tenants (id),
    batch       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (contract_id, period)
);

-- One row per contact and period: a contact gets one meter-request mail per period,
-- whichever run or replica asks again. A row is claimed before its mail is sent and
-- marked after (as invitation_recipients).
CREATE TABLE meter_request_recipients (
    tenant_id       bigint NOT NULL REFERENCES tenants (id),
    contact_id      bigint NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    period          text NOT NULL,
    batch           text NOT NULL,
    identity_id     bigint NOT NULL REFERENCES portal_identities (id) ON DELETE CASCADE,
    customer_id     bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    email           text NOT NULL,
    period_start    date NOT NULL,
    period_end      date NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'claimed', 'sent', 'failed')),
    attempt         integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    error           text,
    token_id        uuid,
    claimed_at      timestamptz,
    sent_at         timestamptz,
    PRIMARY KEY (tenant_id, contact_id, period)
);
CREATE INDEX meter_request_recipients_batch ON meter_request_recipients (batch, status, next_attempt_at);
CREATE INDEX meter_request_recipients_token ON meter_request_recipients (token_id) WHERE token_id IS NOT NULL;
