package store_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"portalwerk/store"
	"portalwerk/store/storetest"
)

// newImport creates a queued import of the bundle's account, moved on to status.
func (b *testBundle) newImport(t *testing.T, status store.ImportStatus) store.Import {
	t.Helper()
	up := storetest.Upload(t, b.tx, b.acc.TenantID, "a.csv", []byte("Nutzerfremdnummer;E-Mail\n1;a@x.de\n"))
	im := storetest.Import(t, b.tx, b.acc, up, "emails", nil)
	if status != store.ImportQueued {
		if _, err := b.tx.ExecContext(b.ctx, `UPDATE imports SET status = $2 WHERE id = $1`, im.ID, status); err != nil {
			t.Fatal(err)
		}
	}
	return b.get(t, im.ID)
}

func (b *testBundle) get(t *testing.T, id string) store.Import {
	t.Helper()
	im, err := store.GetImport(b.ctx, b.tx, b.acc.TenantID, id)
	if err != nil {
		t.Fatal(err)
	}
	return im
}

var allStatuses = []store.ImportStatus{store.ImportQueued, store.ImportPreviewing, store.ImportPreviewed,
	store.ImportApplying, store.ImportDone, store.ImportFailed, store.ImportCancelled}

func TestImportCreatedQueued(t *testing.T) {
	t.Parallel()
	b := setup(t)
	im := b.newImport(t, store.ImportQueued)
	if im.Status != store.ImportQueued || im.TenantID != b.acc.TenantID || im.Account != "huber" ||
		im.Filename != "a.csv" || im.UploadID == nil || im.FinishedAt != nil || im.Counts != nil {
		t.Errorf("new import: %+v", im)
	}
}

// MoveImport moves only from the states it is given; a move to a finished state stamps
// finished_at.
func TestMoveImport(t *testing.T) {
	t.Parallel()
	for _, from := range allStatuses {
		for _, to := range allStatuses {
			t.Run(fmt.Sprintf("%s to %s", from, to), func(t *testing.T) {
				t.Parallel()
				b := setup(t)
				im := b.newImport(t, from)
				// The cancel of the HTTP API: from the states before apply.
				err := store.MoveImport(b.ctx, b.tx, im.ID, to, store.ImportQueued, store.ImportPreviewing, store.ImportPreviewed)
				allowed := from == store.ImportQueued || from == store.ImportPreviewing || from == store.ImportPreviewed
				got := b.get(t, im.ID)
				if !allowed {
					if !errors.Is(err, store.ErrConflict) {
						t.Fatalf("move from %s: %v, want ErrConflict", from, err)
					}
					if got.Status != from {
						t.Errorf("status %s after a refused move, want %s", got.Status, from)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if got.Status != to {
					t.Errorf("status %s, want %s", got.Status, to)
				}
				if (got.FinishedAt != nil) != to.Finished() {
					t.Errorf("finished_at %v after a move to %s", got.FinishedAt, to)
				}
			})
		}
	}
}

func TestMoveImportMissing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if err := store.MoveImport(b.ctx, b.tx, store.NewID(), store.ImportCancelled, allStatuses...); !errors.Is(err, store.ErrConflict) {
		t.Errorf("move of a missing import: %v, want ErrConflict", err)
	}
}

func TestConfirmImportOnlyFromPreviewed(t *testing.T) {
	t.Parallel()
	for _, from := range allStatuses {
		t.Run(string(from), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			im := b.newImport(t, from)
			err := store.ConfirmImport(b.ctx, b.tx, im.ID, true)
			got := b.get(t, im.ID)
			if from != store.ImportPreviewed {
				if !errors.Is(err, store.ErrConflict) || got.Status != from || got.SkipInvalid {
					t.Errorf("confirm from %s: %v, status %s, skip_invalid %v", from, err, got.Status, got.SkipInvalid)
				}
				return
			}
			if err != nil || got.Status != store.ImportApplying || !got.SkipInvalid || got.FinishedAt != nil {
				t.Errorf("confirm: %v, status %s, skip_invalid %v, finished_at %v", err, got.Status, got.SkipInvalid, got.FinishedAt)
			}
		})
	}
}

// FailImport records the user's sentence, except on an import that is done or
// cancelled: that stays as it is.
func TestFailImport(t *testing.T) {
	t.Parallel()
	for _, from := range allStatuses {
		t.Run(string(from), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			im := b.newImport(t, from)
			if err := store.FailImport(b.ctx, b.tx, im.ID, "Die Datei ist kaputt."); err != nil {
				t.Fatal(err)
			}
			got := b.get(t, im.ID)
			if from == store.ImportDone || from == store.ImportCancelled {
				if got.Status != from || got.Error != nil {
					t.Errorf("fail of a %s import: status %s, error %v", from, got.Status, got.Error)
				}
				return
			}
			if got.Status != store.ImportFailed || got.Error == nil || *got.Error != "Die Datei ist kaputt." || got.FinishedAt == nil {
				t.Errorf("fail from %s: status %s, error %v, finished_at %v", from, got.Status, got.Error, got.FinishedAt)
			}
		})
	}
}

func TestSetImportCounts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	im := b.newImport(t, store.ImportPreviewing)
	c := store.Counts{Rows: 3, Create: 1, Update: 1, Errors: 1}
	if err := store.SetImportCounts(b.ctx, b.tx, im.ID, store.ImportPreviewed, 3, c, nil); err != nil {
		t.Fatal(err)
	}
	got := b.get(t, im.ID)
	if got.Status != store.ImportPreviewed || got.RowsRead != 3 || got.Counts == nil || *got.Counts != c || got.Sources != nil || got.FinishedAt != nil {
		t.Errorf("previewed: %+v", got)
	}
	c.Update, c.TransferMove = 0, 1
	if err := store.SetImportCounts(b.ctx, b.tx, im.ID, store.ImportDone, 3, c, store.Sources{"maier": 1}); err != nil {
		t.Fatal(err)
	}
	got = b.get(t, im.ID)
	if got.Status != store.ImportDone || *got.Counts != c || got.Sources == nil || (*got.Sources)["maier"] != 1 || got.FinishedAt == nil {
		t.Errorf("done: %+v", got)
	}
}

// Progress is written while the import previews; once the user cancelled it, the
// preview learns so from ErrConflict.
func TestSetImportProgress(t *testing.T) {
	t.Parallel()
	b := setup(t)
	im := b.newImport(t, store.ImportPreviewing)
	if err := store.SetImportProgress(b.ctx, b.tx, im.ID, 2048); err != nil {
		t.Fatal(err)
	}
	if got := b.get(t, im.ID); got.RowsRead != 2048 {
		t.Errorf("rows_read %d, want 2048", got.RowsRead)
	}
	if err := store.MoveImport(b.ctx, b.tx, im.ID, store.ImportCancelled, store.ImportPreviewing); err != nil {
		t.Fatal(err)
	}
	if err := store.SetImportProgress(b.ctx, b.tx, im.ID, 4096); !errors.Is(err, store.ErrConflict) {
		t.Errorf("progress after cancel: %v, want ErrConflict", err)
	}
	if got := b.get(t, im.ID); got.RowsRead != 2048 {
		t.Errorf("rows_read %d after cancel, want 2048", got.RowsRead)
	}
}

// GetImport answers another tenant's import and a malformed id as not found.
func TestGetImportScoping(t *testing.T) {
	t.Parallel()
	b := setup(t)
	im := b.newImport(t, store.ImportQueued)
	other := storetest.Account(t, b.tx, "", "huber", store.RoleAdmin)
	if _, err := store.GetImport(b.ctx, b.tx, other.TenantID, im.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another tenant's import: %v, want ErrNotFound", err)
	}
	for _, id := range []string{"", "nope", strings.ToUpper(im.ID) + "0", "'; DROP TABLE imports; --", strings.Repeat("g", 36)} {
		if _, err := store.GetImport(b.ctx, b.tx, b.acc.TenantID, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("id %q: %v, want ErrNotFound", id, err)
		}
	}
	if _, err := store.GetImport(b.ctx, b.tx, b.acc.TenantID, store.NewID()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing import: %v, want ErrNotFound", err)
	}
	if _, err := store.ImportByID(b.ctx, b.tx, store.NewID()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing import by id: %v, want ErrNotFound", err)
	}
	if got, err := store.GetImport(b.ctx, b.tx, b.acc.TenantID, strings.ToUpper(im.ID)); err != nil || got.ID != im.ID {
		t.Errorf("upper-case id: %v, %v", got.ID, err)
	}
}

// CopyImportErrors replaces the import's row errors with those of its staging table.
func TestCopyImportErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	im := b.newImport(t, store.ImportPreviewing)
	st := `staging."import_` + strings.ReplaceAll(im.ID, "-", "") + `"`
	if _, err := b.tx.ExecContext(b.ctx, `CREATE TABLE `+st+` (row_num integer NOT NULL, email text, errs jsonb);
		INSERT INTO `+st+` VALUES
			(2, 'a@x.de', NULL),
			(4, 'kaputt', '[{"col": "E-Mail", "value": "kaputt", "code": "invalid_email", "message": "Keine E-Mail-Adresse."}]'),
			(3, '', '[{"col": "E-Mail", "value": "", "code": "required", "message": "Fehlt."},
			          {"col": "Nutzerfremdnummer", "value": "", "code": "required", "message": "Fehlt."}]')`); err != nil {
		t.Fatal(err)
	}
	want := []store.RowError{
		{Row: 3, Column: "E-Mail", Value: "", Code: "required", Message: "Fehlt."},
		{Row: 3, Column: "Nutzerfremdnummer", Value: "", Code: "required", Message: "Fehlt."},
		{Row: 4, Column: "E-Mail", Value: "kaputt", Code: "invalid_email", Message: "Keine E-Mail-Adresse."},
	}
	for run := range 2 { // a second copy replaces, it does not add
		if err := store.CopyImportErrors(b.ctx, b.tx, im.ID, st); err != nil {
			t.Fatal(err)
		}
		got, err := store.ImportErrors(b.ctx, b.tx, im.ID)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("copy %d: row errors\n got %v\nwant %v", run+1, got, want)
		}
	}
	// Rows fixed since: the copy leaves only what is still wrong.
	if _, err := b.tx.ExecContext(b.ctx, `UPDATE `+st+` SET errs = NULL WHERE row_num = 3`); err != nil {
		t.Fatal(err)
	}
	if err := store.CopyImportErrors(b.ctx, b.tx, im.ID, st); err != nil {
		t.Fatal(err)
	}
	if got, _ := store.ImportErrors(b.ctx, b.tx, im.ID); fmt.Sprint(got) != fmt.Sprint(want[2:]) {
		t.Errorf("after the fix: row errors %v, want %v", got, want[2:])
	}
}

// StaleImports picks, among the given imports, the tenant's that no task needs any more.
func TestStaleImports(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ids := map[store.ImportStatus]string{}
	var all []string
	for _, s := range allStatuses {
		ids[s] = b.newImport(t, s).ID
		all = append(all, ids[s])
	}
	oldPreviewed, oldApplying := b.newImport(t, store.ImportPreviewed).ID, b.newImport(t, store.ImportApplying).ID
	other := storetest.Account(t, b.tx, "", "huber", store.RoleAdmin)
	up := storetest.Upload(t, b.tx, other.TenantID, "a.csv", []byte("x"))
	otherCancelled := storetest.Import(t, b.tx, other, up, "emails", nil).ID
	if _, err := b.tx.ExecContext(b.ctx, `UPDATE imports SET status = 'cancelled' WHERE id = $1`, otherCancelled); err != nil {
		t.Fatal(err)
	}
	if _, err := b.tx.ExecContext(b.ctx, `UPDATE imports SET created_at = now() - interval '40 days' WHERE id IN ($1, $2)`, oldPreviewed, oldApplying); err != nil {
		t.Fatal(err)
	}
	all = append(all, oldPreviewed, oldApplying, otherCancelled, "not-an-id", store.NewID())

	got, err := store.StaleImports(b.ctx, b.tx, b.acc.TenantID, time.Now().Add(-30*24*time.Hour), all)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{ids[store.ImportFailed]: true, ids[store.ImportCancelled]: true, oldPreviewed: true}
	if len(got) != len(want) {
		t.Errorf("stale imports %v, want %v", got, want)
	}
	for _, id := range got {
		if !want[id] {
			t.Errorf("import %s is not stale", id)
		}
	}
	if got, err := store.StaleImports(b.ctx, b.tx, b.acc.TenantID, time.Now(), nil); err != nil || len(got) != 0 {
		t.Errorf("no candidates: %v, %v", got, err)
	}
}

// UnfinishedImports lists the imports a task still has to take further.
func TestUnfinishedImports(t *testing.T) {
	t.Parallel()
	b := setup(t)
	want := map[string]store.ImportStatus{}
	for _, s := range allStatuses {
		im := b.newImport(t, s)
		if s == store.ImportQueued || s == store.ImportPreviewing || s == store.ImportApplying {
			want[im.ID] = s
		}
	}
	list, err := store.UnfinishedImports(b.ctx, b.tx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]store.ImportStatus{}
	for _, u := range list {
		if u.TenantID == b.acc.TenantID {
			got[u.ID] = u.Status
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("unfinished imports %v, want %v", got, want)
	}
}
