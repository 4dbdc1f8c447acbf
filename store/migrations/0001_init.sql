CREATE TABLE tenants (
    id         bigserial PRIMARY KEY,
    slug       text NOT NULL UNIQUE,
    locale     text NOT NULL DEFAULT 'de',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
    id           bigserial PRIMARY KEY,
    tenant_id    bigint NOT NULL REFERENCES tenants (id),
    name         text NOT NULL,
    role         text NOT NULL CHECK (role IN ('admin', 'member')),
    can_transfer boolean NOT NULL DEFAULT false,
    -- SHA-256 of the API key: keys are 256-bit random, so a fast hash is as safe as a slow one.
    key_hash     bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);

-- Uploaded files live in PostgreSQL so any worker on any machine can read them.
CREATE TABLE uploads (
    id         uuid PRIMARY KEY,
    tenant_id  bigint NOT NULL REFERENCES tenants (id),
    filename   text NOT NULL,
    size       bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE upload_chunks (
    upload_id uuid NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    seq       integer NOT NULL,
    data      bytea NOT NULL,
    PRIMARY KEY (upload_id, seq)
);

CREATE TABLE imports (
    id               uuid PRIMARY KEY,
    tenant_id        bigint NOT NULL REFERENCES tenants (id),
    account_id       bigint NOT NULL REFERENCES accounts (id),
    created_by       bigint NOT NULL REFERENCES accounts (id),
    upload_id        uuid REFERENCES uploads (id) ON DELETE SET NULL,
    profile          text NOT NULL,
    filename         text NOT NULL,
    options          jsonb NOT NULL DEFAULT '{}',
    status           text NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'previewing', 'previewed', 'applying', 'done', 'failed', 'cancelled')),
    rows_read        bigint NOT NULL DEFAULT 0,
    counts           jsonb,
    transfer_sources jsonb,
    skip_invalid     boolean NOT NULL DEFAULT false,
    error            text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);
CREATE INDEX imports_tenant_idx ON imports (tenant_id, created_at);

CREATE TABLE import_errors (
    import_id uuid NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    row_num   integer NOT NULL,
    col       text NOT NULL,
    value     text NOT NULL,
    code      text NOT NULL,
    message   text NOT NULL
);
CREATE INDEX import_errors_import_idx ON import_errors (import_id, row_num);

CREATE TABLE customers (
    id                   bigserial PRIMARY KEY,
    tenant_id            bigint NOT NULL REFERENCES tenants (id),
    account_id           bigint NOT NULL REFERENCES accounts (id),
    external_id          text,
    salutation           text,
    first_name           text,
    last_name            text,
    company              text,
    street               text,
    zip                  text,
    city                 text,
    email                text,
    phone                text,
    login_id             text,
    password_hash        text,
    must_change_password boolean NOT NULL DEFAULT false,
    tags                 text[] NOT NULL DEFAULT '{}',
    locale               text,
    deleted_at           timestamptz,
    invited_at           timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX customers_live_external_id ON customers (account_id, external_id)
    WHERE deleted_at IS NULL AND external_id IS NOT NULL;
CREATE INDEX customers_external_id ON customers (tenant_id, external_id);
CREATE UNIQUE INDEX customers_login_id ON customers (tenant_id, login_id) WHERE login_id IS NOT NULL;
CREATE INDEX customers_account ON customers (account_id, id);
