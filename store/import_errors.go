package store

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// ErrorFilter selects a page of an import's row errors.
type ErrorFilter struct {
	TenantID int64
	ImportID string
	Code     string // "" = every code
	After    int    // only rows after this row number
	Rows     int    // every error of at most this many rows; 0 = all rows
}

// EachImportError streams the import's row errors ordered by row and column to fn, one
// at a time from the database's cursor, so that a million errors never sit in memory.
// An error fn returns stops the iteration and comes back as it is.
func EachImportError(ctx context.Context, db sqlx.QueryerContext, f ErrorFilter, fn func(RowError) error) error {
	where := `e.import_id = $1 AND i.tenant_id = $2 AND e.row_num > $3 AND ($4 = '' OR e.code = $4)`
	query := `SELECT e.row_num, e.col, e.value, e.code, e.message
		FROM import_errors e JOIN imports i ON i.id = e.import_id WHERE ` + where
	args := []any{f.ImportID, f.TenantID, f.After, f.Code}
	if f.Rows > 0 {
		query += ` AND e.row_num <= (SELECT max(row_num) FROM (
			SELECT DISTINCT e.row_num FROM import_errors e JOIN imports i ON i.id = e.import_id
			WHERE ` + where + ` ORDER BY e.row_num LIMIT $5) page)`
		args = append(args, f.Rows)
	}
	rows, err := db.QueryxContext(ctx, query+` ORDER BY e.row_num, e.col`, args...)
	if err != nil {
		return fmt.Errorf("import %s errors: %w", f.ImportID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var e RowError
		if err := rows.StructScan(&e); err != nil {
			return fmt.Errorf("import %s errors: %w", f.ImportID, err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("import %s errors: %w", f.ImportID, err)
	}
	return nil
}

// ErrorsByCode counts the row errors of the tenant's imports by code, in one
// set-based query: import id → code → errors. An import without errors has no entry.
func ErrorsByCode(ctx context.Context, db sqlx.QueryerContext, tenantID int64, importIDs []string) (map[string]map[string]int64, error) {
	out := map[string]map[string]int64{}
	if len(importIDs) == 0 {
		return out, nil
	}
	rows, err := db.QueryxContext(ctx, `SELECT e.import_id, e.code, count(*)
		FROM import_errors e JOIN imports i ON i.id = e.import_id
		WHERE i.tenant_id = $1 AND e.import_id = ANY($2::uuid[])
		GROUP BY e.import_id, e.code`, tenantID, pq.Array(importIDs))
	if err != nil {
		return nil, fmt.Errorf("count import errors by code: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, code string
		var n int64
		if err := rows.Scan(&id, &code, &n); err != nil {
			return nil, fmt.Errorf("count import errors by code: %w", err)
		}
		if out[id] == nil {
			out[id] = map[string]int64{}
		}
		out[id][code] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count import errors by code: %w", err)
	}
	return out, nil
}
