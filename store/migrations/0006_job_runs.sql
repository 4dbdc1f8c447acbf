-- One row per run of a job the API answers with 202 {"id","status":"queued"}
-- (invitations, portal-ready checks, meter requests, releases). The run records the
-- task that does it, so the resume sweep can enqueue that task again when the enqueue
-- after the commit was lost.
CREATE TABLE job_runs (
    id             uuid PRIMARY KEY,
    tenant_id      bigint NOT NULL REFERENCES tenants (id),
    account_id     bigint NOT NULL REFERENCES accounts (id),
    created_by     bigint NOT NULL REFERENCES accounts (id),
    kind           text NOT NULL,
    status         text NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'done', 'failed')),
    params         jsonb NOT NULL DEFAULT '{}',
    task_type      text NOT NULL,
    task_queue     text NOT NULL,
    task_id        text NOT NULL,
    task_payload   jsonb NOT NULL,
    counts         jsonb NOT NULL DEFAULT '{}',
    progress_done  bigint NOT NULL DEFAULT 0,
    progress_total bigint,
    error          text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    finished_at    timestamptz
);
CREATE INDEX job_runs_tenant ON job_runs (tenant_id, kind, created_at);
CREATE INDEX job_runs_unfinished ON job_runs (created_at) WHERE status IN ('queued', 'running');
