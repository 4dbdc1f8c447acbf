-- Data that belongs to a customer and travels with it on a transfer.
CREATE TABLE appointments (
    id          bigserial PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id),
    starts_at   timestamptz NOT NULL,
    subject     text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX appointments_customer ON appointments (customer_id);

CREATE TABLE visit_reports (
    id          bigserial PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id),
    visited_on  date NOT NULL,
    text        text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX visit_reports_customer ON visit_reports (customer_id);

CREATE TABLE visit_blocks (
    id          bigserial PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id),
    from_date   date NOT NULL,
    until_date  date NOT NULL,
    reason      text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX visit_blocks_customer ON visit_blocks (customer_id);
