package importer

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"portalwerk/jobs/sheet"
	"portalwerk/store"
)

// emailsProfile fills in residents' e-mail addresses by Nutzerfremdnummer (seeds 000/001).
type emailsProfile struct {
	mode    string // fill_empty or overwrite
	keyName string // the key column as the file names it
}

func (p *emailsProfile) stagingColumns() []string {
	return []string{"external_id text", "email text", "errs jsonb"}
}

func (p *emailsProfile) prepare(l layout) error {
	p.keyName = l.name["external_id"]
	if p.keyName == "" {
		p.keyName = "Nutzerfremdnummer"
	}
	return nil
}

func (p *emailsProfile) stage(r sheet.Row, l layout, errs *rowErrors) []any {
	keyCell := l.cell(r, "external_id")
	key, code, msg := nutzerfremdnummer(keyCell)
	if code != "" {
		errs.add(l.name["external_id"], keyCell.Value, code, msg)
	}
	mailCell := l.cell(r, "email")
	addr, ok := email(mailCell)
	if !ok {
		errs.add(l.name["email"], mailCell.Value, "invalid_email", "Die E-Mail-Adresse ist ungültig. Erwartet wird genau eine Adresse der Form name@beispiel.de.")
	}
	return []any{nullable(key), nullable(addr)}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// liveMatch joins a staged row to the live customer with its key in the target account.
const liveMatch = `c.account_id = $1 AND c.deleted_at IS NULL AND c.external_id = s.external_id`

func (p *emailsProfile) uniqueColumn() int { return 0 } // external_id

func (p *emailsProfile) forecast(ctx context.Context, tx *sqlx.Tx, st string, im store.Import, dups dupCheck) (store.Counts, error) {
	if err := markDuplicatesOf(ctx, tx, st, "s2.external_id", p.keyName, "duplicate_key",
		"Die Nutzerfremdnummer steht mehrfach in der Datei; sie wurde zuerst in Zeile %s verwendet.", dups); err != nil {
		return store.Counts{}, err
	}
	return p.recheck(ctx, tx, st, im)
}

// recheck classifies every staged row against the data as it is now in one join. Rows
// whose key has no live customer in the target account are errors; only when there are
// any does a second statement mark them (unknown_key), so a clean file costs one pass.
func (p *emailsProfile) recheck(ctx context.Context, tx *sqlx.Tx, st string, im store.Import) (store.Counts, error) {
	var c store.Counts
	var unknown int64
	// A row without errors always has a key (an empty key is invalid_key).
	err := tx.QueryRowxContext(ctx, `SELECT
			count(*) FILTER (WHERE s.errs IS NOT NULL),
			count(*) FILTER (WHERE s.errs IS NULL AND c.id IS NULL),
			count(*) FILTER (WHERE s.errs IS NULL AND c.id IS NOT NULL AND s.email IS NULL),
			count(*) FILTER (WHERE s.errs IS NULL AND c.id IS NOT NULL AND s.email IS NOT NULL AND NOT `+p.changed()+`),
			count(*) FILTER (WHERE s.errs IS NULL AND `+p.changed()+`)
		FROM `+st+` s LEFT JOIN customers c ON `+liveMatch, im.AccountID).Scan(&c.Errors, &unknown, &c.Skip, &c.Unchanged, &c.Update)
	if err != nil {
		return store.Counts{}, fmt.Errorf("count emails import: %w", err)
	}
	if unknown == 0 {
		return c, nil
	}
	res, err := tx.ExecContext(ctx, `UPDATE `+st+` s SET errs = jsonb_build_array(jsonb_build_object(
			'col', $2::text, 'value', s.external_id, 'code', 'unknown_key',
			'message', 'Diese Nutzerfremdnummer ist beim Abrechnungsunternehmen nicht bekannt. Bitte prüfen Sie die Nummer.'))
		WHERE s.errs IS NULL AND NOT EXISTS (SELECT 1 FROM customers c WHERE `+liveMatch+`)`,
		im.AccountID, p.keyName)
	if err != nil {
		return store.Counts{}, fmt.Errorf("mark unknown keys: %w", err)
	}
	// Both statements see the same snapshot of customers only under repeatable read; under
	// read committed a customer may come or go in between, so the count must agree.
	if n, _ := res.RowsAffected(); n != unknown {
		return store.Counts{}, fmt.Errorf("mark unknown keys: marked %d rows, counted %d: the customers changed meanwhile", n, unknown)
	}
	c.Errors += unknown
	return c, nil
}

// changed is true for a staged row that writes a new address. fill_empty writes only
// where the customer has none (an empty string counts as none).
func (p *emailsProfile) changed() string {
	cond := `s.email IS NOT NULL AND c.id IS NOT NULL AND c.email IS DISTINCT FROM s.email`
	if p.mode != "overwrite" {
		cond += ` AND (c.email IS NULL OR c.email = '')`
	}
	return "(" + cond + ")"
}

func (p *emailsProfile) apply(ctx context.Context, tx *sqlx.Tx, st string, im store.Import, counts store.Counts) error {
	res, err := tx.ExecContext(ctx, `UPDATE customers c SET email = s.email, updated_at = now()
		FROM `+st+` s WHERE s.errs IS NULL AND `+liveMatch+` AND `+p.changed(), im.AccountID)
	if err != nil {
		return fmt.Errorf("apply emails: %w", err)
	}
	if n, _ := res.RowsAffected(); n != counts.Update {
		return fmt.Errorf("apply emails: updated %d rows, counted %d", n, counts.Update)
	}
	return nil
}

func (p *emailsProfile) changes(st string, im store.Import) (string, []any) {
	return `SELECT s.row_num::bigint AS pos, s.row_num, 'update'::text AS action, s.external_id AS key, c.id AS customer_id,
			jsonb_build_object('email', jsonb_build_object('old', c.email, 'new', s.email)) AS changes
		FROM ` + st + ` s JOIN customers c ON ` + liveMatch + `
		WHERE s.errs IS NULL AND ` + p.changed(), []any{im.AccountID}
}

// markDuplicates marks every row after the first with the same value of expr (over the
// staging table aliased s2; NULL values are never duplicates).
func markDuplicates(ctx context.Context, tx *sqlx.Tx, st, expr, display, code, msg string) error {
	return markDuplicatesOf(ctx, tx, st, expr, display, code, msg, dupCheck{all: true})
}

// markDuplicatesOf is markDuplicates where the loader's filter knows which values can
// be duplicates (expr is then the filtered column): none means nothing to search.
func markDuplicatesOf(ctx context.Context, tx *sqlx.Tx, st, expr, display, code, msg string, dups dupCheck) error {
	if !dups.all && len(dups.values) == 0 {
		return nil
	}
	args := []any{display, code, msg}
	only := ""
	if !dups.all {
		only = ` AND (` + expr + `) = ANY($4)`
		args = append(args, pq.Array(dups.values))
	}
	_, err := tx.ExecContext(ctx, `UPDATE `+st+` s SET errs = COALESCE(s.errs, '[]'::jsonb) || jsonb_build_array(jsonb_build_object(
			'col', $1::text, 'value', d.val, 'code', $2::text, 'message', format($3, d.first)))
		FROM (SELECT row_num, (`+expr+`)::text AS val, min(row_num) OVER (PARTITION BY `+expr+`) AS first
			FROM `+st+` s2 WHERE (`+expr+`) IS NOT NULL`+only+`) d
		WHERE s.row_num = d.row_num AND d.row_num > d.first`, args...)
	if err != nil {
		return fmt.Errorf("mark duplicate %s: %w", display, err)
	}
	return nil
}
