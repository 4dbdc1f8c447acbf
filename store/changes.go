package store

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// ChangeActions are the kinds of change an import makes to a customer.
var ChangeActions = []string{"create", "update", "restore", "transfer_copy", "transfer_move", "delete"}

// Change is what an import does to one customer: the row, the action, the row's key and
// per field {"old":…,"new":…} (a password only as {"changed":true}).
type Change struct {
	Pos      int64     `db:"pos" json:"-"`
	Row      *int      `db:"row_num" json:"row,omitempty"` // nil for a delete: no row asks for it
	Action   string    `db:"action" json:"action"`
	Key      *string   `db:"key" json:"key"`
	PortalID *int64    `db:"customer_id" json:"portal_id"` // nil for a customer not created yet
	Changes  JSONValue `db:"changes" json:"changes"`
}

// JSONValue is a JSON document as PostgreSQL returns it, passed on as it is.
type JSONValue []byte

// Scan copies the driver's bytes.
func (j *JSONValue) Scan(src any) error {
	switch v := src.(type) {
	case []byte:
		*j = append(JSONValue(nil), v...)
	case string:
		*j = JSONValue(v)
	default:
		return fmt.Errorf("scan json: unexpected %T", src)
	}
	return nil
}

// MarshalJSON returns the document; empty is null.
func (j JSONValue) MarshalJSON() ([]byte, error) {
	if len(j) == 0 {
		return []byte("null"), nil
	}
	return j, nil
}

// ChangeFilter pages through an import's changes by position (the row number).
type ChangeFilter struct {
	Action string // "" = every action
	After  int64
	Limit  int
}

// ChangeQuery is the wrapper both sources of changes are paged with: query yields the
// columns pos, row_num, action, key, customer_id, changes; its own arguments come first.
func ChangeQuery(query string, nargs int) string {
	return fmt.Sprintf(`SELECT pos, row_num, action, key, customer_id, changes FROM (%s) q
		WHERE q.pos > $%d AND ($%d = '' OR q.action = $%d) ORDER BY q.pos LIMIT $%d`, query, nargs+1, nargs+2, nargs+2, nargs+3)
}

// ImportChanges lists what an applied import changed.
func ImportChanges(ctx context.Context, db sqlx.QueryerContext, importID string, f ChangeFilter) ([]Change, error) {
	out := []Change{}
	q := ChangeQuery(`SELECT pos, row_num, action, key, customer_id, changes FROM import_changes WHERE import_id = $1`, 1)
	if err := sqlx.SelectContext(ctx, db, &out, q, importID, f.After, f.Action, f.Limit); err != nil {
		return nil, fmt.Errorf("import %s changes: %w", importID, err)
	}
	return out, nil
}

// SaveImportChanges replaces an import's changes with the rows of query (the columns of
// ChangeQuery's), in one statement. query is built by the importer over its staging
// table, never from user input; args are its arguments.
func SaveImportChanges(ctx context.Context, db sqlx.ExecerContext, importID, query string, args ...any) error {
	if _, err := db.ExecContext(ctx, `DELETE FROM import_changes WHERE import_id = $1`, importID); err != nil {
		return fmt.Errorf("import %s: clear changes: %w", importID, err)
	}
	_, err := db.ExecContext(ctx, fmt.Sprintf(`INSERT INTO import_changes (import_id, pos, row_num, action, key, customer_id, changes)
		SELECT $%d, q.pos, q.row_num, q.action, q.key, q.customer_id, q.changes FROM (%s) q`, len(args)+1, query), append(args, importID)...)
	if err != nil {
		return fmt.Errorf("import %s: save changes: %w", importID, err)
	}
	return nil
}
