package importer

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/jmoiron/sqlx"
	"golang.org/x/crypto/argon2"

	"portalwerk/jobs/sheet"
	"portalwerk/store"
)

// customersProfile imports a customer book (seeds 002/003): create, update or sync by
// key, restoring from the trash and transferring from the tenant's other accounts.
type customersProfile struct {
	mode      string // create, update or sync
	keys      string // external_id | portal_id | external_id,portal_id | email | login_id
	transfer  string // none, copy or move
	related   bool   // a transfer takes appointments, visit reports and visit blocks along
	tag       string
	mustReset bool
	names     map[string]string
	nfn       bool // the external_id column is a Nutzerfremdnummer: 20 digits

	// What the last recheck found beside the counts (see report).
	sources  store.Sources
	warnings store.Warnings
}

func newCustomersProfile(o store.Options) *customersProfile {
	return &customersProfile{mode: o["mode"], keys: o["keys"], transfer: o["transfer"],
		related: o["transfer_related"] == "true", tag: strings.TrimSpace(o["tag"]),
		mustReset: o["must_change_password"] == "true"}
}

// customerText are the free-text fields, staged and stored under the same names.
var customerText = []string{"salutation", "first_name", "last_name", "company", "street", "zip", "city", "phone"}

func (p *customersProfile) stagingColumns() []string {
	cols := []string{"external_id text", "portal_id bigint"}
	for _, f := range customerText {
		cols = append(cols, f+" text")
	}
	return append(cols, "email text", "login_id text", "password_hash text", "errs jsonb")
}

func (p *customersProfile) prepare(l layout) error {
	p.names = l.name
	p.nfn = isNFNHeader(l.name["external_id"])
	if p.mode != "create" {
		for _, k := range strings.Split(p.keys, ",") {
			if !l.has(k) {
				return &FileError{Code: "missing_column", Message: fmt.Sprintf("Für den Abgleich über „%s“ fehlt die Spalte %s in der Datei.", p.keys, k)}
			}
		}
	}
	return nil
}

func (p *customersProfile) name(field string) string {
	if n := p.names[field]; n != "" {
		return n
	}
	return field
}

func (p *customersProfile) stage(r sheet.Row, l layout, errs *rowErrors) []any {
	vals := make([]any, 0, 13)

	ext := l.cell(r, "external_id")
	key, code, msg := textKey(ext)
	if p.nfn && strings.TrimSpace(ext.Value) != "" {
		key, code, msg = nutzerfremdnummer(ext)
	}
	if code != "" {
		errs.add(p.name("external_id"), ext.Value, code, msg)
	}
	vals = append(vals, nullable(key))

	var portalID any
	if c := l.cell(r, "portal_id"); strings.TrimSpace(c.Value) != "" {
		id, err := strconv.ParseInt(wholeNumber(strings.TrimSpace(c.Value)), 10, 64)
		if err != nil || id <= 0 {
			errs.add(p.name("portal_id"), c.Value, "invalid_key", "Die Portal ID muss eine ganze Zahl sein, wie sie das Portal vergeben hat.")
		} else {
			portalID = id
		}
	}
	vals = append(vals, portalID)
	for _, f := range customerText {
		if f == "zip" {
			vals = append(vals, numberText(l.cell(r, f)))
			continue
		}
		vals = append(vals, text(l.cell(r, f)))
	}
	mc := l.cell(r, "email")
	addr, ok := email(mc)
	if !ok {
		errs.add(p.name("email"), mc.Value, "invalid_email", "Die E-Mail-Adresse ist ungültig. Erwartet wird genau eine Adresse der Form name@beispiel.de.")
	}
	vals = append(vals, nullable(addr), text(l.cell(r, "login_id")))
	var hash any
	if pw := l.cell(r, "password").Value; pw != "" {
		hash = plainPassword(wholeNumber(pw)) // hashed by the loader's pool
	}
	return append(vals, hash)
}

// HashPassword returns an argon2id hash of pw in the PHC string format, on one core: the
// import hashes a file's passwords with a pool of one hasher per core.
func HashPassword(pw string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	const t, m, threads = 2, 19 * 1024, 1
	sum := argon2.IDKey([]byte(pw), salt, t, m, threads, 32)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, m, t, threads, enc.EncodeToString(salt), enc.EncodeToString(sum))
}

// keyMatch joins a staged row s to a customer c by the chosen keys.
func (p *customersProfile) keyMatch() string {
	switch p.keys {
	case "portal_id":
		return `c.id = s.portal_id`
	case "external_id,portal_id":
		return `c.id = s.portal_id AND c.external_id = s.external_id`
	case "email":
		return `c.email = s.email`
	case "login_id":
		return `c.login_id = s.login_id`
	}
	return `c.external_id = s.external_id`
}

// keyValue is the row's key as the user typed it (the first key of two), over alias s.
func (p *customersProfile) keyValue() string {
	switch p.keys {
	case "portal_id":
		return `s.portal_id::text`
	case "email", "login_id":
		return `s.` + p.keys
	}
	return `s.external_id`
}

// keyExpr is the row's key over the staging alias s2, NULL when the row has none.
func (p *customersProfile) keyExpr() string {
	switch p.keys {
	case "portal_id":
		return `s2.portal_id`
	case "external_id,portal_id":
		return `CASE WHEN s2.external_id IS NOT NULL AND s2.portal_id IS NOT NULL THEN s2.external_id || '/' || s2.portal_id END`
	case "email", "login_id":
		return `s2.` + p.keys
	}
	return `s2.external_id`
}

// uniqueColumn: the customers profile's key may span columns or be derived; its
// forecast searches the whole staging table for duplicates.
func (p *customersProfile) uniqueColumn() int { return -1 }

// report is what the last recheck found beside the counts: the transfers per source
// account and the warnings the user must confirm knowingly.
func (p *customersProfile) report() (store.Sources, store.Warnings) { return p.sources, p.warnings }

// transfers says whether rows not found in the target account are looked up in the
// tenant's other accounts.
func (p *customersProfile) transfers() bool { return p.transfer == "copy" || p.transfer == "move" }

func (p *customersProfile) forecast(ctx context.Context, tx *sqlx.Tx, st string, im store.Import, _ dupCheck) (store.Counts, error) {
	// match_id: the customer the row updates, restores (restore: found in the own trash)
	// or transfers (xfer: found in src_account, another account of the tenant).
	if _, err := tx.ExecContext(ctx, `ALTER TABLE `+st+` ADD COLUMN match_id bigint, ADD COLUMN restore boolean NOT NULL DEFAULT false,
			ADD COLUMN xfer boolean NOT NULL DEFAULT false, ADD COLUMN src_account bigint`); err != nil {
		return store.Counts{}, fmt.Errorf("prepare staging: %w", err)
	}
	if err := markDuplicates(ctx, tx, st, p.keyExpr(), p.name(strings.Split(p.keys, ",")[0]), "duplicate_key",
		"Dieser Schlüssel steht mehrfach in der Datei; er wurde zuerst in Zeile %s verwendet."); err != nil {
		return store.Counts{}, err
	}
	if p.keys != "external_id" {
		if err := markDuplicates(ctx, tx, st, "s2.external_id", p.name("external_id"), "duplicate_key",
			"Diese externe ID steht mehrfach in der Datei; sie wurde zuerst in Zeile %s verwendet."); err != nil {
			return store.Counts{}, err
		}
	}
	if err := markDuplicates(ctx, tx, st, "s2.login_id", p.name("login_id"), "duplicate_login",
		"Diese Login ID steht mehrfach in der Datei; sie wurde zuerst in Zeile %s verwendet."); err != nil {
		return store.Counts{}, err
	}
	return p.recheck(ctx, tx, st, im)
}

// stage is one named set-based statement of the customers profile's recheck: one
// statement against the whole staging table, never one per row.
type stage struct {
	name string
	sql  string
	args []any
}

// stages are the recheck's statements for the profile's mode and transfer, in order:
// the lookup (own live customers, own trash, then the other accounts' live customers
// and trash) into the transaction's table of matches, recording what differs from the
// staged rows' matches, then the conflicts with stored customers.
func (p *customersProfile) stages(st string, im store.Import) []stage {
	steps := []stage{startMatches(), p.matchOwn(st, im, false)}
	if p.mode == "create" {
		// Every row is a new customer: neither the trash nor other accounts are searched.
		return append(steps, append(recordMatches(st), p.keyTakenOnCreate(st, im), p.loginTaken(st, im))...)
	}
	steps = append(steps, p.matchOwn(st, im, true))
	if p.transfers() {
		steps = append(steps, p.matchOther(st, im, false), p.matchOther(st, im, true))
	}
	return append(steps, append(recordMatches(st), p.externalIDTaken(st, im), p.loginTaken(st, im))...)
}

// matches is the transaction's table of what the lookup stages found, one row per
// staged row with a hit. The lookup writes this narrow table instead of the staging
// table: at apply, where mostly nothing changed since the preview, recordMatches then
// rewrites no staged row at all (a reset and a fresh match rewrote every one).
const matches = "customer_matches"

func startMatches() stage {
	return stage{"start matches", `CREATE TEMP TABLE IF NOT EXISTS ` + matches + ` (
			row_num integer PRIMARY KEY, match_id bigint, restore boolean NOT NULL DEFAULT false,
			xfer boolean NOT NULL DEFAULT false, src_account bigint, errs jsonb) ON COMMIT DROP;
		TRUNCATE ` + matches, nil}
}

// unmatched is true for a staged row s no earlier lookup stage found.
const unmatched = `NOT EXISTS (SELECT 1 FROM ` + matches + ` l WHERE l.row_num = s.row_num)`

// recordMatches writes into the staged rows what the lookup found, only where it
// differs from what they hold (a staged row without a match loses the one it had). The
// differing rows are found in one pass over the staged rows and the matches (OFFSET 0
// keeps the planner from joining the staged rows with themselves first); at apply,
// where mostly nothing changed since the preview, there are none, and the join with
// the staged rows to update ends at once (a hash join with an empty side reads
// nothing more). A second statement for the rows that lost their match cost another
// pass.
func recordMatches(st string) []stage {
	return []stage{
		// A temporary table has no statistics until analyzed; the joins below need them.
		{"analyze matches", `ANALYZE ` + matches, nil},
		{"record matches", `UPDATE ` + st + ` s SET match_id = d.match_id, restore = d.restore, xfer = d.xfer,
				src_account = d.src_account, errs = COALESCE(d.errs, s.errs)
			FROM (SELECT s2.row_num, l.match_id, COALESCE(l.restore, false) AS restore, COALESCE(l.xfer, false) AS xfer, l.src_account, l.errs
				FROM ` + st + ` s2 LEFT JOIN ` + matches + ` l ON l.row_num = s2.row_num
				WHERE l.errs IS NOT NULL OR (s2.match_id, s2.restore, s2.xfer, s2.src_account)
					IS DISTINCT FROM (l.match_id, COALESCE(l.restore, false), COALESCE(l.xfer, false), l.src_account)
				OFFSET 0) d
			WHERE s.row_num = d.row_num`, nil},
	}
}

// matchOwn finds the row's customer among the target account's live customers, or
// (trash) in its trash, the most recently deleted first.
func (p *customersProfile) matchOwn(st string, im store.Import, trash bool) stage {
	if !trash {
		return stage{"match live", `INSERT INTO ` + matches + ` (row_num, match_id)
			SELECT DISTINCT ON (s.row_num) s.row_num, c.id FROM ` + st + ` s
			JOIN customers c ON c.account_id = $1 AND c.deleted_at IS NULL AND ` + p.keyMatch() + `
			ORDER BY s.row_num, c.id`, []any{im.AccountID}}
	}
	return stage{"match trash", `INSERT INTO ` + matches + ` (row_num, match_id, restore)
		SELECT DISTINCT ON (s.row_num) s.row_num, c.id, true FROM ` + st + ` s
		JOIN customers c ON c.account_id = $1 AND c.deleted_at IS NOT NULL AND ` + p.keyMatch() + `
		WHERE ` + unmatched + `
		ORDER BY s.row_num, c.deleted_at DESC, c.id DESC`, []any{im.AccountID}}
}

// matchOther finds the rows still without a customer among the live customers (or, with
// trash, the trash) of the tenant's other accounts. Hits in two or more accounts are the
// row error ambiguous_transfer naming the accounts; in one account's trash the most
// recently deleted wins. The first hit comes from DISTINCT ON and the ambiguity from a
// window over the row's hits (lowest and highest account, no count of distinct ones per
// row); the accounts' names are looked up only for the ambiguous rows. The window is
// ordered as DISTINCT ON is (over the whole partition), so one sort serves both. The
// other accounts are named, so that a small file finds live customers through
// customers_live_external_id (the trash has customers_trash_external_id); a large one
// reads the tenant's customers in one pass.
func (p *customersProfile) matchOther(st string, im store.Import, trash bool) stage {
	name, deleted, order := "match other accounts", "c.deleted_at IS NULL", "c.id"
	if trash {
		name, deleted, order = "match other accounts' trash", "c.deleted_at IS NOT NULL", "c.deleted_at DESC, c.id DESC"
	}
	return stage{name, `INSERT INTO ` + matches + ` (row_num, match_id, xfer, src_account, errs)
		SELECT m.row_num, CASE WHEN NOT m.ambiguous THEN m.id END, NOT m.ambiguous, CASE WHEN NOT m.ambiguous THEN m.account_id END,
			CASE WHEN m.ambiguous THEN jsonb_build_array(jsonb_build_object(
				'col', $3::text, 'value', m.key, 'code', 'ambiguous_transfer',
				'message', format('Dieser Kunde ist in mehreren anderen Benutzerkonten vorhanden (%s); es ist nicht eindeutig, aus welchem er übernommen werden soll. Bitte bereinigen Sie eines der Konten.',
					(SELECT string_agg(a.name, ' und ' ORDER BY a.name) FROM accounts a WHERE a.id = ANY(m.accounts))))) END
		FROM (SELECT DISTINCT ON (s.row_num) s.row_num, ` + p.keyValue() + ` AS key, c.id, c.account_id,
				min(c.account_id) OVER w <> max(c.account_id) OVER w AS ambiguous,
				array_agg(c.account_id) OVER w AS accounts
			FROM ` + st + ` s
			JOIN customers c ON c.tenant_id = $1 AND c.account_id <> $2
				AND c.account_id = ANY(ARRAY(SELECT a.id FROM accounts a WHERE a.tenant_id = $1 AND a.id <> $2))
				AND ` + deleted + ` AND ` + p.keyMatch() + `
			WHERE s.errs IS NULL AND ` + unmatched + `
			WINDOW w AS (PARTITION BY s.row_num ORDER BY ` + order + ` ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
			ORDER BY s.row_num, ` + order + `) m`, []any{im.TenantID, im.AccountID, p.name(strings.Split(p.keys, ",")[0])}}
}

// externalIDTaken: the external ID the customer will have (a restored or transferred
// one keeps its own when the cell is empty) must not be another live customer's of the
// target account.
//
// One pass over the staged rows joined with the account's live customers (at most one
// per external ID): the matched customer's own external ID is looked up only for a row
// without one. Joining the staging table with itself and with every customer of the
// tenant for it took half a second at 100,000 transferred rows.
func (p *customersProfile) externalIDTaken(st string, im store.Import) stage {
	return stage{"key exists", `UPDATE ` + st + ` s SET errs = jsonb_build_array(jsonb_build_object(
			'col', $2::text, 'value', c.external_id, 'code', 'key_exists',
			'message', 'Ein Kunde mit dieser externen ID ist in diesem Benutzerkonto bereits vorhanden.'))
		FROM customers c
		WHERE s.errs IS NULL AND c.account_id = $1 AND c.deleted_at IS NULL AND c.id IS DISTINCT FROM s.match_id
			AND c.external_id = COALESCE(s.external_id,
				(SELECT m.external_id FROM customers m WHERE m.id = s.match_id AND (s.restore OR s.xfer)))`,
		[]any{im.AccountID, p.name("external_id")}}
}

// keyTakenOnCreate: in mode=create a row whose key or external ID is live in the account
// cannot be a new customer.
func (p *customersProfile) keyTakenOnCreate(st string, im store.Import) stage {
	return stage{"key exists", `UPDATE ` + st + ` s SET errs = jsonb_build_array(jsonb_build_object(
			'col', CASE WHEN s.match_id IS NOT NULL THEN $2::text ELSE $3::text END,
			'value', CASE WHEN s.match_id IS NOT NULL THEN ` + p.keyValue() + ` ELSE s.external_id END, 'code', 'key_exists',
			'message', 'Ein Kunde mit diesem Schlüssel ist in diesem Benutzerkonto bereits vorhanden.'))
		WHERE s.errs IS NULL AND (s.match_id IS NOT NULL OR (s.external_id IS NOT NULL AND EXISTS (
			SELECT 1 FROM customers c WHERE c.account_id = $1 AND c.deleted_at IS NULL AND c.external_id = s.external_id)))`,
		[]any{im.AccountID, p.name(strings.Split(p.keys, ",")[0]), p.name("external_id")}}
}

// loginTaken: a login ID is unique in the tenant, trash included. The customer the row
// updates, restores or moves may keep its own; a copy is a new customer, so the source's
// login ID is another customer's. Rows without a login ID are left out in so many words:
// then a file without any is not sorted by it for a merge join (0.05 s per 100,000 rows).
func (p *customersProfile) loginTaken(st string, im store.Import) stage {
	own := `c.id IS DISTINCT FROM s.match_id`
	if p.transfer == "copy" {
		own = `(s.xfer OR c.id IS DISTINCT FROM s.match_id)`
	}
	return stage{"login taken", `UPDATE ` + st + ` s SET errs = jsonb_build_array(jsonb_build_object(
			'col', $2::text, 'value', s.login_id, 'code', 'duplicate_login',
			'message', format('Diese Login ID wird bereits von Kunde %s im Benutzerkonto %s verwendet.', COALESCE(c.external_id, 'mit Portal ID ' || c.id::text), a.name)))
		FROM customers c JOIN accounts a ON a.id = c.account_id
		WHERE s.errs IS NULL AND s.login_id IS NOT NULL AND c.tenant_id = $1 AND c.login_id = s.login_id AND ` + own,
		[]any{im.TenantID, p.name("login_id")}}
}

// transferAction is the changes list's and the counts' name of the profile's transfer.
func (p *customersProfile) transferAction() string { return "transfer_" + p.transfer }

// recheck matches the rows against the data as it is now, marks the conflicts with stored
// customers and counts. Preview and apply both run it, apply inside its transaction.
func (p *customersProfile) recheck(ctx context.Context, tx *sqlx.Tx, st string, im store.Import) (store.Counts, error) {
	for _, s := range p.stages(st, im) {
		if _, err := tx.ExecContext(ctx, s.sql, s.args...); err != nil {
			return store.Counts{}, fmt.Errorf("customers import: %s: %w", s.name, err)
		}
	}
	var c store.Counts
	create := `s.match_id IS NULL`
	if p.mode == "create" {
		create = `true`
	}
	var transferred int64
	// Only the updates are compared with their customer, in a join of their own that
	// runs only if the file has any: a file of transfers, restores and new customers
	// reads no customer for the counts (a join of every staged row hashed all customers
	// of the database, and a parallel hash join builds that hash before it finds its
	// other side empty).
	update := `s.errs IS NULL AND s.match_id IS NOT NULL AND NOT s.restore AND NOT s.xfer`
	err := tx.QueryRowxContext(ctx, `SELECT a.*, u.* FROM (SELECT
			count(*) FILTER (WHERE s.errs IS NOT NULL),
			count(*) FILTER (WHERE s.errs IS NULL AND `+create+`),
			count(*) FILTER (WHERE s.errs IS NULL AND s.restore),
			count(*) FILTER (WHERE s.errs IS NULL AND s.xfer)
		FROM `+st+` s) a, (SELECT count(*) FILTER (WHERE `+p.changed()+`), count(*) FILTER (WHERE NOT `+p.changed()+`)
		FROM `+st+` s JOIN customers c ON c.id = s.match_id
		WHERE `+update+` AND EXISTS (SELECT 1 FROM `+st+` s WHERE `+update+`)) u`).Scan(&c.Errors, &c.Create, &c.Restore, &transferred, &c.Update, &c.Unchanged)
	if err != nil {
		return c, fmt.Errorf("count customers import: %w", err)
	}
	if p.transfer == "copy" {
		c.TransferCopy = transferred
	} else {
		c.TransferMove = transferred
	}
	p.sources, p.warnings = nil, nil
	if transferred > 0 {
		var rows []struct {
			Account string `db:"name"`
			N       int64  `db:"n"`
		}
		if err := sqlx.SelectContext(ctx, tx, &rows, `SELECT a.name, count(*) AS n FROM `+st+` s JOIN accounts a ON a.id = s.src_account
			WHERE s.errs IS NULL AND s.xfer GROUP BY a.name`); err != nil {
			return c, fmt.Errorf("count customers import: transfer sources: %w", err)
		}
		p.sources = store.Sources{}
		for _, r := range rows {
			p.sources[r.Account] = r.N
		}
	}
	if p.mode == "sync" {
		var live int64
		if err := tx.QueryRowxContext(ctx, `SELECT count(*), count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM `+st+` s WHERE s.match_id = c.id))
			FROM customers c WHERE c.account_id = $1 AND c.deleted_at IS NULL`, im.AccountID).Scan(&live, &c.Delete); err != nil {
			return c, fmt.Errorf("count customers import: delete: %w", err)
		}
		if 2*c.Delete > live {
			p.warnings = store.Warnings{{Code: store.WarningMassDelete, Message: fmt.Sprintf(
				"Dieser Abgleich (mode=sync) würde %d von %d Kunden des Benutzerkontos %s in den Papierkorb verschieben, mehr als die Hälfte. Prüfen Sie, ob die Datei vollständig ist; bestätigen Sie sonst mit allow_mass_delete=true.",
				c.Delete, live, im.Account)}}
		}
	}
	return c, nil
}

// changed is true when a matched row writes at least one new value; an empty cell keeps
// the stored value.
func (p *customersProfile) changed() string {
	var or []string
	for _, f := range append([]string{"external_id", "email", "login_id"}, customerText...) {
		or = append(or, fmt.Sprintf("(s.%s IS NOT NULL AND s.%[1]s IS DISTINCT FROM c.%[1]s)", f))
	}
	// A new password always counts: salted hashes cannot be compared.
	or = append(or, "s.password_hash IS NOT NULL")
	if p.tag != "" {
		or = append(or, "NOT ("+quote(p.tag)+" = ANY(c.tags))")
	}
	return "(" + strings.Join(or, " OR ") + ")"
}

func (p *customersProfile) changes(st string, im store.Import) (string, []any) {
	create := `s.match_id IS NULL`
	if p.mode == "create" {
		create = `true`
	}
	var parts []string
	for _, f := range append([]string{"external_id", "email", "login_id"}, customerText...) {
		parts = append(parts, fieldChange(f))
	}
	parts = append(parts, passwordChange)
	if p.tag != "" {
		t := quote(p.tag)
		parts = append(parts, jsonChange("tags", "c.tags", "array_append(c.tags, "+t+"::text)",
			"c.id IS NULL OR NOT ("+t+" = ANY(c.tags))"))
	}
	// A transfer names the account the customer comes from: the member is built once per
	// account (OFFSET 0 keeps the planner from pulling the subquery up and building it
	// for every row again) and taken by the rows of a transfer.
	parts = append(parts, `CASE WHEN s.xfer THEN src.change END`)
	action := `CASE WHEN ` + create + ` THEN 'create' WHEN s.restore THEN 'restore' WHEN s.xfer THEN '` + p.transferAction() + `' ELSE 'update' END`
	// A copy is a new customer: it has no portal id before apply.
	portalID := `c.id`
	if p.transfer == "copy" {
		portalID = `CASE WHEN s.xfer THEN NULL ELSE c.id END`
	}
	query := `SELECT s.row_num::bigint AS pos, s.row_num, ` + action + ` AS action,
			` + p.keyValue() + ` AS key, ` + portalID + ` AS customer_id, ` + jsonObject(parts) + ` AS changes
		FROM ` + st + ` s LEFT JOIN customers c ON c.id = s.match_id AND NOT ` + create + `
			LEFT JOIN (SELECT a.id, ` + jsonChange("account", "a.name", quote(im.Account)+"::text", "true") + ` AS change
				FROM accounts a WHERE a.tenant_id = ` + strconv.FormatInt(im.TenantID, 10) + ` OFFSET 0) src ON src.id = s.src_account
		WHERE s.errs IS NULL AND (` + create + ` OR s.restore OR s.xfer OR ` + p.changed() + `)`
	if p.mode == "sync" {
		// The customers a sync moves to the trash have no row; they follow every row.
		query += `
		UNION ALL
		SELECT ` + strconv.FormatInt(deletePos, 10) + ` + c.id, NULL, 'delete', ` + p.storedKey() + `, c.id, '{}'::jsonb
		FROM customers c WHERE c.account_id = ` + strconv.FormatInt(im.AccountID, 10) + ` AND c.deleted_at IS NULL
			AND NOT EXISTS (SELECT 1 FROM ` + st + ` s WHERE s.match_id = c.id)`
	}
	return query, nil
}

// deletePos places the customers a sync trashes after every row in the changes list:
// row numbers are PostgreSQL integers.
const deletePos = 1 << 31

// storedKey is a stored customer c's key, as the rows give it.
func (p *customersProfile) storedKey() string {
	switch p.keys {
	case "portal_id":
		return `c.id::text`
	case "email", "login_id":
		return `c.` + p.keys
	}
	return `c.external_id`
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func (p *customersProfile) apply(ctx context.Context, tx *sqlx.Tx, st string, im store.Import, counts store.Counts) error {
	if p.mode == "sync" {
		// First, while the staged rows still name the account's own customers.
		res, err := tx.ExecContext(ctx, `UPDATE customers c SET deleted_at = now(), updated_at = now()
			WHERE c.account_id = $1 AND c.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM `+st+` s WHERE s.match_id = c.id)`, im.AccountID)
		if err != nil {
			return fmt.Errorf("trash customers: %w", err)
		}
		if n, _ := res.RowsAffected(); n != counts.Delete {
			return fmt.Errorf("trash customers: trashed %d, counted %d", n, counts.Delete)
		}
	}
	fields := append([]string{"external_id", "email", "login_id"}, customerText...)
	// The row's values over a matched customer c; an empty cell keeps the stored value.
	var values []string
	for _, f := range fields {
		values = append(values, fmt.Sprintf("%s = COALESCE(s.%[1]s, c.%[1]s)", f))
	}
	values = append(values, "password_hash = COALESCE(s.password_hash, c.password_hash)",
		"must_change_password = CASE WHEN s.password_hash IS NOT NULL AND COALESCE(s.login_id, c.login_id) IS NOT NULL THEN $1 ELSE c.must_change_password END")
	if p.tag != "" {
		values = append(values, "tags = CASE WHEN "+quote(p.tag)+" = ANY(c.tags) THEN c.tags ELSE array_append(c.tags, "+quote(p.tag)+"::text) END")
	}
	// A move writes the row's values as it moves the customer (one new version of it);
	// a copy's new customer gets them below, like an update.
	folded := counts.TransferMove > 0
	if n := counts.TransferCopy + counts.TransferMove; n > 0 {
		var mv *store.MoveValues
		if folded {
			// Only the columns the values read: the planner sizes its join by them.
			mv = &store.MoveValues{From: `SELECT match_id, ` + strings.Join(fields, ", ") + `, password_hash FROM ` + st + ` WHERE errs IS NULL AND xfer`,
				To: im.AccountID, Set: values, Args: []any{p.mustReset}}
		}
		if err := p.transferIn(ctx, tx, st, im, n, mv); err != nil {
			return err
		}
	}
	tags := `'{}'::text[]`
	if p.tag != "" {
		tags = `ARRAY[` + quote(p.tag) + `]::text[]`
	}
	insert := `INSERT INTO customers (tenant_id, account_id, ` + strings.Join(fields, ", ") + `, password_hash, must_change_password, tags)
		SELECT $1, $2, s.` + strings.Join(fields, ", s.") + `, s.password_hash, s.password_hash IS NOT NULL AND s.login_id IS NOT NULL AND $3, ` + tags + `
		FROM ` + st + ` s WHERE s.errs IS NULL`
	if p.mode != "create" {
		insert += ` AND s.match_id IS NULL`
	}
	res, err := tx.ExecContext(ctx, insert+` ORDER BY s.row_num`, im.TenantID, im.AccountID, p.mustReset)
	if err != nil {
		return fmt.Errorf("insert customers: %w", err)
	}
	if n, _ := res.RowsAffected(); n != counts.Create {
		return fmt.Errorf("insert customers: inserted %d rows, counted %d", n, counts.Create)
	}
	if p.mode == "create" {
		return nil
	}
	set := append(values, "deleted_at = NULL", "updated_at = now()")
	which := `(s.restore OR s.xfer OR ` + p.changed() + `)`
	want := counts.Update + counts.Restore + counts.TransferCopy + counts.TransferMove
	if folded {
		which = `NOT s.xfer AND (s.restore OR ` + p.changed() + `)`
		want -= counts.TransferMove
	}
	res, err = tx.ExecContext(ctx, `UPDATE customers c SET `+strings.Join(set, ", ")+`
		FROM `+st+` s WHERE s.errs IS NULL AND c.id = s.match_id AND `+which, p.mustReset)
	if err != nil {
		return fmt.Errorf("update customers: %w", err)
	}
	if n, _ := res.RowsAffected(); n != want {
		return fmt.Errorf("update customers: updated %d rows, counted %d", n, want)
	}
	return nil
}

// transferIn copies or moves the n customers the rows found in other accounts into the
// target account (store.TransferCustomersWith). A move, given values, writes them as it
// moves the customers the rows name; a copy goes through the transfer batch, and the
// rows are pointed at the new customers, so that their values are applied next like an
// update's.
func (p *customersProfile) transferIn(ctx context.Context, tx *sqlx.Tx, st string, im store.Import, n int64, values *store.MoveValues) error {
	if p.transfer == "move" {
		done, err := store.TransferCustomersWith(ctx, tx, store.TransferMove, p.related, values)
		if err != nil {
			return err
		}
		if done != n {
			return fmt.Errorf("transfer customers: transferred %d, counted %d", done, n)
		}
		return nil
	}
	if err := store.StartTransferBatch(ctx, tx); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO `+store.TransferBatch+` (source_id, to_account, from_account)
		SELECT s.match_id, $1, s.src_account FROM `+st+` s WHERE s.errs IS NULL AND s.xfer`, im.AccountID); err != nil {
		return fmt.Errorf("transfer customers: fill batch: %w", err)
	}
	// A temporary table has no statistics until analyzed: without them the joins of the
	// transfer against customers and appointments are planned as for a handful of rows.
	if _, err := tx.ExecContext(ctx, `ANALYZE `+store.TransferBatch); err != nil {
		return fmt.Errorf("transfer customers: analyze batch: %w", err)
	}
	done, err := store.TransferCustomersWith(ctx, tx, store.TransferCopy, p.related, nil)
	if err != nil {
		return err
	}
	if done != n {
		return fmt.Errorf("transfer customers: transferred %d, counted %d", done, n)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE `+st+` s SET match_id = b.new_id FROM `+store.TransferBatch+` b
		WHERE s.errs IS NULL AND s.xfer AND b.source_id = s.match_id AND b.new_id <> s.match_id`); err != nil {
		return fmt.Errorf("transfer customers: rows to the transferred: %w", err)
	}
	return nil
}
