-- The customer portal's front door: portal identities (one per tenant and normalised
-- e-mail, linked to every customer carrying the address), their sessions, the login
-- tokens mailed in links, and the recipients of invitation batches.
ALTER TABLE tenants ADD COLUMN IF NOT EXISTS name text;

CREATE TABLE portal_identities (
    id                   bigserial PRIMARY KEY,
    tenant_id            bigint NOT NULL REFERENCES tenants (id),
    -- lower(trim(e-mail)); NULL for a customer who logs in with a login ID only.
    email                text,
    password_hash        text,
    must_change_password boolean NOT NULL DEFAULT false,
    password_set_at      timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX portal_identities_email ON portal_identities (tenant_id, email) WHERE email IS NOT NULL;
CREATE INDEX portal_identities_email_any ON portal_identities (email);

CREATE TABLE portal_identity_customers (
    identity_id bigint NOT NULL REFERENCES portal_identities (id) ON DELETE CASCADE,
    customer_id bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    PRIMARY KEY (identity_id, customer_id)
);
CREATE INDEX portal_identity_customers_customer ON portal_identity_customers (customer_id);

-- A session's id is random; only its SHA-256 is stored.
CREATE TABLE portal_sessions (
    id_hash              bytea PRIMARY KEY,
    tenant_id            bigint NOT NULL REFERENCES tenants (id),
    identity_id          bigint NOT NULL REFERENCES portal_identities (id) ON DELETE CASCADE,
    customer_id          bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    purpose              text NOT NULL,
    must_change_password boolean NOT NULL DEFAULT false,
    created_at           timestamptz NOT NULL DEFAULT now(),
    last_seen_at         timestamptz NOT NULL DEFAULT now(),
    expires_at           timestamptz NOT NULL
);
CREATE INDEX portal_sessions_identity ON portal_sessions (identity_id);
CREATE INDEX portal_sessions_expires ON portal_sessions (expires_at);

-- Every login link's token id, so a link can be revoked and its uses counted.
CREATE TABLE login_tokens (
    id           uuid PRIMARY KEY,
    tenant_id    bigint NOT NULL REFERENCES tenants (id),
    identity_id  bigint NOT NULL REFERENCES portal_identities (id) ON DELETE CASCADE,
    customer_id  bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    purpose      text NOT NULL CHECK (purpose IN ('invite', 'meter-entry')),
    run_id       uuid REFERENCES job_runs (id) ON DELETE SET NULL,
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    uses         integer NOT NULL DEFAULT 0,
    last_used_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_tokens_identity ON login_tokens (identity_id) WHERE revoked_at IS NULL;

-- One row per customer selected by an invitation batch (a job run of kind
-- 'invitations'). A row is claimed before its mail is sent and marked after, so a
-- retried or restarted batch never mails anyone twice.
CREATE TABLE invitation_recipients (
    run_id          uuid NOT NULL REFERENCES job_runs (id) ON DELETE CASCADE,
    customer_id     bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    tenant_id       bigint NOT NULL REFERENCES tenants (id),
    identity_id     bigint REFERENCES portal_identities (id),
    email           text,
    status          text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'claimed', 'sent', 'failed', 'skipped')),
    skip_reason     text CHECK (skip_reason IN ('no_email', 'already_invited')),
    attempt         integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    error           text,
    claimed_at      timestamptz,
    sent_at         timestamptz,
    PRIMARY KEY (run_id, customer_id)
);
CREATE INDEX invitation_recipients_pending ON invitation_recipients (run_id, next_attempt_at)
    WHERE status = 'pending';
