-- What an applied import changed, row by row (GET /v1/imports/{id}/changes once done;
-- while previewed the same is derived from the staging table). pos orders the changes:
-- the row number, and for a customer a sync moves to the trash (no row) a place after
-- every row.
CREATE TABLE import_changes (
    import_id   uuid NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    pos         bigint NOT NULL,
    row_num     integer,
    action      text NOT NULL
        CHECK (action IN ('create', 'update', 'restore', 'transfer_copy', 'transfer_move', 'delete')),
    key         text,
    customer_id bigint,
    changes     jsonb NOT NULL,
    PRIMARY KEY (import_id, pos)
);
