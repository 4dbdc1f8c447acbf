-- Meter readings (SPEC §5, seed 004). A contract belongs to a customer and is identified
-- by its number within it; a contact belongs to the customer too, identified by its
-- name within it, and a contract lists which of the customer's contacts it has. A
-- contract has meters (meter or machine numbers), a meter has registers (Schwarz/Weiß,
-- Farbe, Wärme), and a register has readings.
CREATE TABLE contracts (
    id          bigserial PRIMARY KEY,
    tenant_id   bigint NOT NULL REFERENCES tenants (id),
    customer_id bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    number      text NOT NULL,
    reporting   text NOT NULL CHECK (reporting IN ('portal', 'other')),
    "interval"  text NOT NULL CHECK ("interval" IN ('monthly', 'quarterly', 'yearly')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (customer_id, number)
);
CREATE INDEX contracts_tenant_number ON contracts (tenant_id, number);

CREATE TABLE contacts (
    id          bigserial PRIMARY KEY,
    tenant_id   bigint NOT NULL REFERENCES tenants (id),
    customer_id bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    name        text NOT NULL,
    email       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (customer_id, name)
);
CREATE INDEX contacts_email ON contacts (tenant_id, lower(email)) WHERE email IS NOT NULL;

CREATE TABLE contract_contacts (
    contract_id bigint NOT NULL REFERENCES contracts (id) ON DELETE CASCADE,
    contact_id  bigint NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    PRIMARY KEY (contract_id, contact_id)
);
CREATE INDEX contract_contacts_contact ON contract_contacts (contact_id);

CREATE TABLE meters (
    id          bigserial PRIMARY KEY,
    tenant_id   bigint NOT NULL REFERENCES tenants (id),
    contract_id bigint NOT NULL REFERENCES contracts (id) ON DELETE CASCADE,
    number      text NOT NULL,
    UNIQUE (contract_id, number)
);

-- digits: integer digits (the register runs over at 10^digits); decimals after the point.
CREATE TABLE registers (
    id              bigserial PRIMARY KEY,
    tenant_id       bigint NOT NULL REFERENCES tenants (id),
    meter_id        bigint NOT NULL REFERENCES meters (id) ON DELETE CASCADE,
    name            text NOT NULL,
    unit            text,
    digits          smallint NOT NULL CHECK (digits BETWEEN 1 AND 15),
    decimals        smallint NOT NULL DEFAULT 0 CHECK (decimals BETWEEN 0 AND 6 AND digits + decimals <= 15),
    how_to_read_url text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (meter_id, name)
);

-- A reading is entered (from the portal, by hand or by an import), then released for
-- billing: released readings are locked and are the base of the next one. A release
-- that finds a rule failing leaves the reading unreleased with status failed (and a
-- protocol entry); a correction makes it entered again. At most one unreleased reading
-- per register.
CREATE TABLE readings (
    id              bigserial PRIMARY KEY,
    tenant_id       bigint NOT NULL REFERENCES tenants (id),
    register_id     bigint NOT NULL REFERENCES registers (id) ON DELETE CASCADE,
    value           numeric NOT NULL CHECK (value >= 0),
    read_on         date NOT NULL,
    status          text NOT NULL DEFAULT 'entered' CHECK (status IN ('entered', 'failed', 'released')),
    source          text NOT NULL CHECK (source IN ('portal', 'import', 'manual')),
    -- At entry: plausible, or stored only after the customer confirmed the hint of rule.
    plausible       boolean NOT NULL DEFAULT true,
    flagged_rule    text,
    entered_by      bigint REFERENCES contacts (id) ON DELETE SET NULL,
    entered_at      timestamptz NOT NULL DEFAULT now(),
    -- The release runs that last checked and released the reading (no foreign keys: a
    -- release writes 200,000 of them in one statement, and a per-row check of job_runs
    -- would cost more than the write).
    checked_run_id  uuid,
    released_at     timestamptz,
    released_by     bigint REFERENCES accounts (id),
    release_run_id  uuid,
    manual_reason   text,
    CHECK ((status = 'released') = (released_at IS NOT NULL))
);
CREATE UNIQUE INDEX readings_one_open ON readings (register_id) WHERE status <> 'released';
CREATE INDEX readings_released_on ON readings (register_id, read_on) WHERE status = 'released';
CREATE INDEX readings_tenant_status ON readings (tenant_id, status, id);

-- What a release found: one entry per reading it did not release, with the decisive
-- rule and its message.
CREATE TABLE release_protocol (
    run_id     uuid NOT NULL REFERENCES job_runs (id) ON DELETE CASCADE,
    reading_id bigint NOT NULL REFERENCES readings (id) ON DELETE CASCADE,
    rule       text NOT NULL,
    message    text NOT NULL,
    PRIMARY KEY (run_id, reading_id)
);

-- A tenant's overrides of the plausibility defaults (jobs/plausibility.Defaults).
CREATE TABLE plausibility_settings (
    tenant_id  bigint PRIMARY KEY REFERENCES tenants (id),
    params     jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- A tenant's own text blocks (the meter-request mail); without one the default of
-- templates/ applies.
CREATE TABLE mail_templates (
    tenant_id  bigint NOT NULL REFERENCES tenants (id),
    name       text NOT NULL,
    body       text NOT NULL,
    updated_by bigint REFERENCES accounts (id),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, name)
);
