-- A release turns 200,000 entered readings into released ones in one statement. A status
-- change is never a HOT update (status is in the partial indexes' predicates), so each
-- new row version gets an entry in every index whose predicate it meets:
-- readings_tenant_status (tenant_id, status, id) took one for every released reading,
-- about an eighth of the release's write. Its one use, listing a tenant's readings by
-- id, also works from the primary key; what is worth an index is finding the few
-- unreleased readings among the many released ones (the release and the entered/failed
-- lists), and released readings leave a partial index on those.
DROP INDEX readings_tenant_status;
CREATE INDEX readings_tenant_open ON readings (tenant_id, id) WHERE status <> 'released';
