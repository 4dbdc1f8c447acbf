package importer_test

import (
	"testing"
	"time"

	"portalwerk/jobs/importer"
	"portalwerk/store"
)

// A tenant's purge drops the staging tables of its cancelled, failed and stale imports
// and keeps those still needed, and those of every other tenant.
func TestPurgeStagingPerTenant(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	other := newFixture(t)
	file := csvUTF8("Nutzerfremdnummer;E-Mail", "1;a@x.de")
	previewed := func(f *fixture) string { return f.preview("emails", "a.csv", file, nil).ID }

	cancelled, failed, old, fresh, applying := previewed(f), previewed(f), previewed(f), previewed(f), previewed(f)
	otherCancelled, otherOld := previewed(other), previewed(other)
	for _, id := range []string{cancelled, otherCancelled} {
		if err := store.MoveImport(f.ctx, f.db, id, store.ImportCancelled, store.ImportPreviewed); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.FailImport(f.ctx, f.db, failed, "kaputt"); err != nil {
		t.Fatal(err)
	}
	if err := store.ConfirmImport(f.ctx, f.db, applying, false); err != nil {
		t.Fatal(err)
	}
	f.db.MustExec(`UPDATE imports SET created_at = now() - interval '40 days' WHERE id IN ($1, $2, $3)`, old, applying, otherOld)

	n, err := importer.PurgeStaging(f.ctx, f.db, f.acct.TenantID, time.Now().Add(-30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("purged %d staging tables, want 3", n)
	}
	for id, keep := range map[string]bool{cancelled: false, failed: false, old: false, fresh: true, applying: true,
		otherCancelled: true, otherOld: true} {
		if got := f.stagingExists(id); got != keep {
			t.Errorf("import %s (%s): staging kept %v, want %v", id, f.get(id).Status, got, keep)
		}
	}
}
