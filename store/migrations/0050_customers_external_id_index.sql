-- A move changes the account_id of every moved customer: not a HOT update, so every
-- index of customers gets a new entry per moved customer (four, at 500,000 moved
-- customers about a second each). customers_external_id (tenant_id, external_id) had
-- one reader left: the customers import's lookup of a key in the tenant's other
-- accounts. For live customers that lookup names the other accounts and uses
-- customers_live_external_id (account_id, external_id) instead; for the trash it keeps
-- an index of its own, which a move (out of the trash, or of a live customer) never
-- writes: a moved customer is live.
DROP INDEX customers_external_id;
CREATE INDEX customers_trash_external_id ON customers (tenant_id, external_id) WHERE deleted_at IS NOT NULL;
