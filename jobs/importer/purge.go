package importer

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// PurgeStaging drops the staging tables nobody will apply any more: those of cancelled
// and failed imports, and of imports created before the cutoff and never applied.
func PurgeStaging(ctx context.Context, db *sqlx.DB, tenantID int64, before time.Time) (int, error) {
	var ids []string
	err := db.SelectContext(ctx, &ids, `SELECT id FROM imports
		WHERE tenant_id = $2 AND (status IN ('cancelled', 'failed') OR (created_at < $1 AND status <> 'applying'))
			AND to_regclass('staging."import_' || replace(id::text, '-', '') || '"') IS NOT NULL`, before, tenantID)
	if err != nil {
		return 0, fmt.Errorf("find stale staging tables: %w", err)
	}
	for _, id := range ids {
		if _, err := db.ExecContext(ctx, `DROP TABLE IF EXISTS `+stagingTable(id)); err != nil {
			return 0, fmt.Errorf("drop staging of import %s: %w", id, err)
		}
	}
	return len(ids), nil
}
