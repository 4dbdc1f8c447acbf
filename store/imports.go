package store

import (
	"context"
	"crypto/rand"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// ImportStatus is where an import is on its way: queued → previewing → previewed →
// applying → done, or failed or cancelled on the way.
type ImportStatus string

// Import statuses, in the order an import moves through them.
const (
	ImportQueued     ImportStatus = "queued"
	ImportPreviewing ImportStatus = "previewing"
	ImportPreviewed  ImportStatus = "previewed"
	ImportApplying   ImportStatus = "applying"
	ImportDone       ImportStatus = "done"
	ImportFailed     ImportStatus = "failed"
	ImportCancelled  ImportStatus = "cancelled"
)

// Finished says whether an import in this status has ended for good.
func (s ImportStatus) Finished() bool {
	return s == ImportDone || s == ImportFailed || s == ImportCancelled
}

// ErrConflict is returned when an object is not in a state that allows the change.
var ErrConflict = errors.New("conflict")

// Counts are an import's forecast (while previewed) or applied figures (once done).
type Counts struct {
	Rows         int64 `json:"rows"`
	Create       int64 `json:"create"`
	Update       int64 `json:"update"`
	Unchanged    int64 `json:"unchanged"`
	Skip         int64 `json:"skip"`
	Restore      int64 `json:"restore"`
	TransferCopy int64 `json:"transfer_copy"`
	TransferMove int64 `json:"transfer_move"`
	Delete       int64 `json:"delete"`
	Errors       int64 `json:"errors"`
}

// Scan reads Counts from jsonb.
func (c *Counts) Scan(src any) error { return scanJSON(src, c) }

// Value stores Counts as jsonb.
func (c Counts) Value() (driver.Value, error) { return json.Marshal(c) }

// Options are an import's profile options as given on upload.
type Options map[string]string

// Scan reads Options from jsonb.
func (o *Options) Scan(src any) error { return scanJSON(src, o) }

// Value stores Options as jsonb.
func (o Options) Value() (driver.Value, error) { return json.Marshal(o) }

// Warning is something a preview asks the user to confirm knowingly, with a code and a
// sentence: "mass_delete" for a sync that would trash more than half of the account's
// live customers (confirmed only with allow_mass_delete=true).
type Warning struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// WarningMassDelete is the warning of a sync that would trash more than half of the
// account's live customers.
const WarningMassDelete = "mass_delete"

// Warnings are an import preview's warnings.
type Warnings []Warning

// Scan reads Warnings from jsonb.
func (w *Warnings) Scan(src any) error { return scanJSON(src, w) }

// Has says whether one of the warnings has the code.
func (w Warnings) Has(code string) bool {
	for _, x := range w {
		if x.Code == code {
			return true
		}
	}
	return false
}

// Sources counts an import's transfers per source account.
type Sources map[string]int64

// Scan reads Sources from jsonb.
func (s *Sources) Scan(src any) error { return scanJSON(src, s) }

func scanJSON(src, dst any) error {
	b, ok := src.([]byte)
	if !ok {
		return fmt.Errorf("scan json: unexpected %T", src)
	}
	return json.Unmarshal(b, dst)
}

// Detected is what the preview found in the file: the profile's columns (by their
// name) → the header as found in the file, the header row as the user sees it.
type Detected struct {
	Format         string            `json:"format"`
	Sheet          *string           `json:"sheet"`
	Encoding       *string           `json:"encoding"`
	Delimiter      *string           `json:"delimiter"`
	HeaderRow      *int              `json:"header_row"`
	Columns        map[string]string `json:"columns"`
	IgnoredColumns []string          `json:"ignored_columns"`
}

// Scan reads Detected from jsonb.
func (d *Detected) Scan(src any) error { return scanJSON(src, d) }

// Value stores Detected as jsonb.
func (d Detected) Value() (driver.Value, error) { return json.Marshal(d) }

// SetImportDetected records what the preview found in the file.
func SetImportDetected(ctx context.Context, db sqlx.ExecerContext, id string, d Detected) error {
	if _, err := db.ExecContext(ctx, `UPDATE imports SET detected = $2 WHERE id = $1`, id, d); err != nil {
		return fmt.Errorf("import %s detected: %w", id, err)
	}
	return nil
}

// Import is one upload on its way through preview, confirm and apply.
type Import struct {
	ID          string       `db:"id"`
	TenantID    int64        `db:"tenant_id"`
	AccountID   int64        `db:"account_id"`
	Account     string       `db:"account"`
	CreatedBy   int64        `db:"created_by"`
	UploadID    *string      `db:"upload_id"`
	Profile     string       `db:"profile"`
	Filename    string       `db:"filename"`
	Options     Options      `db:"options"`
	Status      ImportStatus `db:"status"`
	RowsRead    int64        `db:"rows_read"`
	Counts      *Counts      `db:"counts"`
	Sources     *Sources     `db:"transfer_sources"`
	Detected    *Detected    `db:"detected"`
	SkipInvalid bool         `db:"skip_invalid"`
	Warnings    Warnings     `db:"warnings"`
	// AllowMassDelete is the confirm's consent to a sync that trashes more than half of
	// the account's live customers.
	AllowMassDelete bool       `db:"allow_mass_delete"`
	Error           *string    `db:"error"`
	CreatedAt       time.Time  `db:"created_at"`
	FinishedAt      *time.Time `db:"finished_at"`
}

// NewImport holds what the enqueuer knows when a file arrives.
type NewImport struct {
	ID        string
	TenantID  int64
	AccountID int64
	CreatedBy int64
	UploadID  string
	Profile   string
	Filename  string
	Options   Options
}

// CreateImport records a queued import.
func CreateImport(ctx context.Context, db sqlx.ExecerContext, n NewImport) error {
	_, err := db.ExecContext(ctx, `INSERT INTO imports (id, tenant_id, account_id, created_by, upload_id, profile, filename, options)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, n.ID, n.TenantID, n.AccountID, n.CreatedBy, n.UploadID, n.Profile, n.Filename, n.Options)
	if err != nil {
		return fmt.Errorf("create import: %w", err)
	}
	return nil
}

const importColumns = `i.id, i.tenant_id, i.account_id, a.name AS account, i.created_by, i.upload_id, i.profile,
	i.filename, i.options, i.status, i.rows_read, i.counts, i.transfer_sources, i.detected, i.skip_invalid,
	COALESCE(i.warnings, '[]') AS warnings, i.allow_mass_delete, i.error,
	i.created_at, i.finished_at`

// GetImport returns the tenant's import; another tenant's import is ErrNotFound.
func GetImport(ctx context.Context, db sqlx.QueryerContext, tenantID int64, id string) (Import, error) {
	if !ValidID(id) {
		return Import{}, ErrNotFound
	}
	return importWhere(ctx, db, `i.tenant_id = $1 AND i.id = $2`, tenantID, id)
}

// ImportByID returns an import for the worker, which acts on the payload's id.
func ImportByID(ctx context.Context, db sqlx.QueryerContext, id string) (Import, error) {
	return importWhere(ctx, db, `i.id = $1`, id)
}

// LockImport reads an import inside a transaction and holds its row lock until the end.
func LockImport(ctx context.Context, tx *sqlx.Tx, id string) (Import, error) {
	return importWhere(ctx, tx, `i.id = $1 FOR UPDATE OF i`, id)
}

func importWhere(ctx context.Context, db sqlx.QueryerContext, where string, args ...any) (Import, error) {
	return getOne[Import](ctx, db, "get import", `SELECT `+importColumns+` FROM imports i JOIN accounts a ON a.id = i.account_id WHERE `+where, args...)
}

// MoveImport changes an import's status from one of the given states; ErrConflict when it
// is in none of them. Moving to a finished status sets finished_at.
func MoveImport(ctx context.Context, db sqlx.ExecerContext, id string, to ImportStatus, from ...ImportStatus) error {
	states := make([]string, len(from))
	for i, f := range from {
		states[i] = string(f)
	}
	res, err := db.ExecContext(ctx, `UPDATE imports SET status = $2,
			finished_at = CASE WHEN $3 THEN now() ELSE finished_at END
		WHERE id = $1 AND status = ANY($4)`, id, to, to.Finished(), pq.Array(states))
	if err != nil {
		return fmt.Errorf("move import %s to %s: %w", id, to, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("move import %s to %s: %w", id, to, ErrConflict)
	}
	return nil
}

// SetImportProgress records how many rows a running preview has read so far; it is
// ErrConflict when the import is no longer previewing (the user cancelled it).
func SetImportProgress(ctx context.Context, db sqlx.ExecerContext, id string, rowsRead int64) error {
	res, err := db.ExecContext(ctx, `UPDATE imports SET rows_read = $2 WHERE id = $1 AND status = 'previewing'`, id, rowsRead)
	if err != nil {
		return fmt.Errorf("import %s progress: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("import %s progress: %w", id, ErrConflict)
	}
	return nil
}

// SetImportCounts records the forecast or the applied figures and the next status.
func SetImportCounts(ctx context.Context, db sqlx.ExecerContext, id string, status ImportStatus, rowsRead int64, c Counts, sources Sources) error {
	var src any
	if len(sources) > 0 {
		b, err := json.Marshal(sources)
		if err != nil {
			return fmt.Errorf("import %s sources: %w", id, err)
		}
		src = b
	}
	_, err := db.ExecContext(ctx, `UPDATE imports SET status = $2, rows_read = $3, counts = $4, transfer_sources = $5,
			finished_at = CASE WHEN $6 THEN now() ELSE finished_at END
		WHERE id = $1`, id, status, rowsRead, c, src, status.Finished())
	if err != nil {
		return fmt.Errorf("import %s counts: %w", id, err)
	}
	return nil
}

// SetImportWarnings records what a preview warns about; nil clears it.
func SetImportWarnings(ctx context.Context, db sqlx.ExecerContext, id string, w Warnings) error {
	var v any
	if len(w) > 0 {
		b, err := json.Marshal(w)
		if err != nil {
			return fmt.Errorf("import %s warnings: %w", id, err)
		}
		v = b
	}
	if _, err := db.ExecContext(ctx, `UPDATE imports SET warnings = $2 WHERE id = $1`, id, v); err != nil {
		return fmt.Errorf("import %s warnings: %w", id, err)
	}
	return nil
}

// AllowMassDelete records, while the import is previewed, whether its confirm consents
// to a sync trashing more than half of the account's live customers. ErrConflict when it
// is no longer previewed.
func AllowMassDelete(ctx context.Context, db sqlx.ExecerContext, id string, allow bool) error {
	res, err := db.ExecContext(ctx, `UPDATE imports SET allow_mass_delete = $2 WHERE id = $1 AND status = 'previewed'`, id, allow)
	if err != nil {
		return fmt.Errorf("import %s allow mass delete: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("import %s allow mass delete: %w", id, ErrConflict)
	}
	return nil
}

// FailImport records a failure with a sentence for the user, unless the import has
// already finished.
func FailImport(ctx context.Context, db sqlx.ExecerContext, id, message string) error {
	_, err := db.ExecContext(ctx, `UPDATE imports SET status = 'failed', error = $2, finished_at = now()
		WHERE id = $1 AND status NOT IN ('done', 'cancelled')`, id, message)
	if err != nil {
		return fmt.Errorf("fail import %s: %w", id, err)
	}
	return nil
}

// ConfirmImport moves a previewed import to applying and records whether invalid rows
// are skipped.
func ConfirmImport(ctx context.Context, db sqlx.ExecerContext, id string, skipInvalid bool) error {
	res, err := db.ExecContext(ctx, `UPDATE imports SET status = 'applying', skip_invalid = $2
		WHERE id = $1 AND status = 'previewed'`, id, skipInvalid)
	if err != nil {
		return fmt.Errorf("confirm import %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("confirm import %s: %w", id, ErrConflict)
	}
	return nil
}

// RowError is one invalid cell of an import, with the row as the user sees it.
type RowError struct {
	Row     int    `db:"row_num" json:"row"`
	Column  string `db:"col" json:"column"`
	Value   string `db:"value" json:"value"`
	Code    string `db:"code" json:"code"`
	Message string `db:"message" json:"message"`
}

// ImportErrors lists an import's row errors ordered by row.
func ImportErrors(ctx context.Context, db sqlx.QueryerContext, id string) ([]RowError, error) {
	out := []RowError{}
	if err := sqlx.SelectContext(ctx, db, &out, `SELECT row_num, col, value, code, message FROM import_errors
		WHERE import_id = $1 ORDER BY row_num, col`, id); err != nil {
		return nil, fmt.Errorf("import %s errors: %w", id, err)
	}
	return out, nil
}

// CopyImportErrors replaces the import's row errors with those of its staging table
// fromTable, in one statement: the rows whose errs column (a jsonb array of {col, value,
// code, message}) is set. fromTable is a trusted identifier built by the importer, never
// user input.
func CopyImportErrors(ctx context.Context, db sqlx.ExecerContext, importID, fromTable string) error {
	if _, err := db.ExecContext(ctx, `DELETE FROM import_errors WHERE import_id = $1`, importID); err != nil {
		return fmt.Errorf("import %s: clear row errors: %w", importID, err)
	}
	_, err := db.ExecContext(ctx, `INSERT INTO import_errors (import_id, row_num, col, value, code, message)
		SELECT $1, s.row_num, e.col, e.value, e.code, e.message
		FROM `+fromTable+` s, jsonb_to_recordset(s.errs) AS e(col text, value text, code text, message text)
		WHERE s.errs IS NOT NULL`, importID)
	if err != nil {
		return fmt.Errorf("import %s: save row errors: %w", importID, err)
	}
	return nil
}

// NewID returns a fresh id for an import or upload: a random version-4 UUID.
func NewID() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails (crypto/rand panics instead)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// ValidID says whether s has the form of an id we hand out (a UUID), so that a mistyped
// id is "not found" rather than a database error.
func ValidID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'):
			return false
		}
	}
	return true
}

// UnfinishedImport is an import some task still has to take further.
type UnfinishedImport struct {
	ID       string       `db:"id"`
	TenantID int64        `db:"tenant_id"`
	Status   ImportStatus `db:"status"`
}

// UnfinishedImports lists the imports waiting for a preview or an apply, across tenants:
// the worker's sweep makes sure each has its task.
func UnfinishedImports(ctx context.Context, db sqlx.QueryerContext) ([]UnfinishedImport, error) {
	var out []UnfinishedImport
	err := sqlx.SelectContext(ctx, db, &out, `SELECT id, tenant_id, status FROM imports
		WHERE status IN ('queued', 'previewing', 'applying') ORDER BY created_at`)
	if err != nil {
		return nil, fmt.Errorf("list unfinished imports: %w", err)
	}
	return out, nil
}

// StaleImports returns those of the given imports of the tenant that no task will
// preview or apply any more, so that what was kept for them can go: cancelled and failed
// imports, and imports created before the cutoff that are not being applied.
func StaleImports(ctx context.Context, db sqlx.QueryerContext, tenantID int64, before time.Time, ids []string) ([]string, error) {
	var valid []string
	for _, id := range ids {
		if ValidID(id) {
			valid = append(valid, id)
		}
	}
	out := []string{}
	if len(valid) == 0 {
		return out, nil
	}
	err := sqlx.SelectContext(ctx, db, &out, `SELECT id FROM imports
		WHERE tenant_id = $1 AND id = ANY($3::uuid[])
			AND (status IN ('cancelled', 'failed') OR (created_at < $2 AND status <> 'applying'))
		ORDER BY created_at`, tenantID, before, pq.Array(valid))
	if err != nil {
		return nil, fmt.Errorf("find stale imports of tenant %d: %w", tenantID, err)
	}
	return out, nil
}

// ImportFilter selects a page of a tenant's imports, newest first.
type ImportFilter struct {
	TenantID  int64
	AccountID int64        // 0 = every account of the tenant
	Status    ImportStatus // "" = any
	Profile   string       // "" = any
	After     string       // the id of the last import of the previous page; "" = from the newest
	Limit     int
}

// ListImports pages through the tenant's imports newest first, by (created_at, id). An
// After that names no import of the tenant is ErrNotFound.
func ListImports(ctx context.Context, db sqlx.QueryerContext, f ImportFilter) ([]Import, error) {
	cursor := `true`
	args := []any{f.TenantID, f.AccountID, f.Status, f.Profile, f.Limit}
	if f.After != "" {
		if !ValidID(f.After) {
			return nil, fmt.Errorf("list imports after %q: %w", f.After, ErrNotFound)
		}
		var exists bool
		if err := sqlx.GetContext(ctx, db, &exists, `SELECT EXISTS (SELECT 1 FROM imports WHERE tenant_id = $1 AND id = $2)`, f.TenantID, f.After); err != nil {
			return nil, fmt.Errorf("list imports: %w", err)
		}
		if !exists {
			return nil, fmt.Errorf("list imports after %s: %w", f.After, ErrNotFound)
		}
		cursor = `(i.created_at, i.id) < (SELECT created_at, id FROM imports WHERE tenant_id = $1 AND id = $6)`
		args = append(args, f.After)
	}
	out := []Import{}
	err := sqlx.SelectContext(ctx, db, &out, `SELECT `+importColumns+` FROM imports i JOIN accounts a ON a.id = i.account_id
		WHERE i.tenant_id = $1 AND ($2 = 0 OR i.account_id = $2) AND ($3 = '' OR i.status = $3) AND ($4 = '' OR i.profile = $4)
			AND `+cursor+`
		ORDER BY i.created_at DESC, i.id DESC LIMIT $5`, args...)
	if err != nil {
		return nil, fmt.Errorf("list imports: %w", err)
	}
	return out, nil
}
