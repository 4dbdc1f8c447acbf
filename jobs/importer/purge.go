package importer

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"portalwerk/store"
)

// PurgeStaging drops the tenant's staging tables nobody will apply any more: those of
// cancelled and failed imports, and of imports created before the cutoff and never
// applied. Other tenants' tables stay.
func PurgeStaging(ctx context.Context, db *sqlx.DB, tenantID int64, before time.Time) (int, error) {
	var tables []string
	if err := db.SelectContext(ctx, &tables, `SELECT tablename FROM pg_tables
		WHERE schemaname = 'staging' AND tablename LIKE 'import\_%'`); err != nil {
		return 0, fmt.Errorf("list staging tables: %w", err)
	}
	var ids []string
	for _, t := range tables {
		if id, ok := stagedImport(t); ok {
			ids = append(ids, id)
		}
	}
	stale, err := store.StaleImports(ctx, db, tenantID, before, ids)
	if err != nil {
		return 0, err
	}
	for _, id := range stale {
		if _, err := db.ExecContext(ctx, `DROP TABLE IF EXISTS `+stagingTable(id)); err != nil {
			return 0, fmt.Errorf("drop staging of import %s: %w", id, err)
		}
	}
	return len(stale), nil
}

// stagedImport is the import id of a staging table's name (see stagingTable).
func stagedImport(table string) (string, bool) {
	h, ok := strings.CutPrefix(table, "import_")
	if !ok || len(h) != 32 {
		return "", false
	}
	id := h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	return id, store.ValidID(id)
}

// DropStaging drops the import's staging table, if it has one, at once (a cancelled
// preview's table need not wait for the purge). It waits at most a few seconds for a
// lock on the table; the purge takes what it leaves.
func DropStaging(ctx context.Context, db *sqlx.DB, id string) error {
	return store.InTx(ctx, db, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `SET LOCAL lock_timeout = '3s'`); err != nil {
			return fmt.Errorf("drop staging of import %s: %w", id, err)
		}
		if _, err := tx.ExecContext(ctx, `DROP TABLE IF EXISTS `+stagingTable(id)); err != nil {
			return fmt.Errorf("drop staging of import %s: %w", id, err)
		}
		return nil
	})
}
