package importer

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"portalwerk/store"
)

// ErrNoPreview is returned by PreviewChanges when the import's staged rows are gone (it
// was applied, cancelled or purged meanwhile).
var ErrNoPreview = errors.New("import has no staged rows")

// PreviewChanges lists, row by row, what a previewed import will change: derived from
// its staged rows against the customers as they are now, as apply will see them. Once
// applied, store.ImportChanges has what it changed.
func PreviewChanges(ctx context.Context, db sqlx.QueryerContext, im store.Import, f store.ChangeFilter) ([]store.Change, error) {
	prof, err := newProfile(im)
	if err != nil {
		return nil, err
	}
	st := stagingTable(im.ID)
	var exists bool
	if err := sqlx.GetContext(ctx, db, &exists, `SELECT to_regclass($1) IS NOT NULL`, st); err != nil {
		return nil, fmt.Errorf("import %s changes: %w", im.ID, err)
	}
	if !exists {
		return nil, ErrNoPreview
	}
	query, args := prof.changes(st, im)
	out := []store.Change{}
	err = sqlx.SelectContext(ctx, db, &out, store.ChangeQuery(query, len(args)), append(args, f.After, f.Action, f.Limit)...)
	if isUndefinedTable(err) {
		return nil, ErrNoPreview // dropped after the check
	}
	if err != nil {
		return nil, fmt.Errorf("import %s changes: %w", im.ID, err)
	}
	return out, nil
}

func isUndefinedTable(err error) bool {
	var se interface{ SQLState() string }
	return errors.As(err, &se) && se.SQLState() == "42P01"
}

// fieldChange is the jsonb {"<field>":{"old":c.<field>,"new":s.<field>}} when the staged
// row s writes a new value over the customer c (an empty cell keeps the stored one), else {}.
func fieldChange(field string) string {
	return fmt.Sprintf(`CASE WHEN s.%[1]s IS NOT NULL AND s.%[1]s IS DISTINCT FROM c.%[1]s
		THEN jsonb_build_object('%[1]s', jsonb_build_object('old', c.%[1]s, 'new', s.%[1]s)) ELSE '{}'::jsonb END`, field)
}

// passwordChange never shows a password or its hash: only that it is set.
const passwordChange = `CASE WHEN s.password_hash IS NOT NULL THEN '{"password":{"changed":true}}'::jsonb ELSE '{}'::jsonb END`

func jsonbConcat(parts []string) string { return "(" + strings.Join(parts, " || ") + ")" }
