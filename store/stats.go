package store

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// ImportStat is how many imports are in one status and how many rows their previews
// have read, summed over every tenant (for the metrics).
type ImportStat struct {
	Status   ImportStatus `db:"status"`
	Imports  int64        `db:"imports"`
	RowsRead int64        `db:"rows_read"`
}

// ImportStats counts the imports of every tenant by status, ordered by status.
func ImportStats(ctx context.Context, db sqlx.QueryerContext) ([]ImportStat, error) {
	var out []ImportStat
	err := sqlx.SelectContext(ctx, db, &out, `SELECT status, count(*) AS imports, COALESCE(sum(rows_read), 0) AS rows_read
		FROM imports GROUP BY status ORDER BY status`)
	if err != nil {
		return nil, fmt.Errorf("import stats: %w", err)
	}
	return out, nil
}
