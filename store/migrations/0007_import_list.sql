-- GET /v1/imports pages newest first by (created_at, id), for the tenant or, for a
-- member, for its own account; the error download filters by code and counts by code.
DROP INDEX imports_tenant_idx;
CREATE INDEX imports_tenant_created ON imports (tenant_id, created_at DESC, id DESC);
CREATE INDEX imports_account_created ON imports (account_id, created_at DESC, id DESC);
CREATE INDEX import_errors_code ON import_errors (import_id, code, row_num);
