package importer_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"portalwerk/jobs/importer"
	"portalwerk/store"
)

func changeList(t *testing.T, list []store.Change) string {
	t.Helper()
	var b strings.Builder
	for _, c := range list {
		row := "-"
		if c.Row != nil {
			row = fmt.Sprint(*c.Row)
		}
		fmt.Fprintf(&b, "%s %s %s %v %s\n", row, c.Action, str(c.Key), c.PortalID != nil, c.Changes)
	}
	return b.String()
}

// A customers import lists creates, updates and restores with the values they replace;
// a password only as changed, never its value or hash.
func TestCustomersChanges(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addCustomer(f.acct, map[string]any{"external_id": "K-1", "first_name": "Max", "city": "Bonn"})
	f.addCustomer(f.acct, map[string]any{"external_id": "K-2", "first_name": "Eva", "tags": "{2024}"})
	f.addCustomer(f.acct, map[string]any{"external_id": "K-3", "first_name": "Alt", "deleted_at": time.Now()})
	file := csvUTF8("external_id;first_name;city;login_id;password",
		"K-1;Moritz;;;",          // update: first name only (an empty cell keeps the city)
		"K-2;Eva;;;",             // unchanged but for the tag, which it has: not listed
		"K-3;;Köln;;",            // restore
		"K-4;Neu;Ulm;k4;Geheim!", // create with a password
	)
	opts := map[string]string{"mode": "update", "tag": "2024"}
	im := f.preview("customers", "k.csv", file, opts)
	wantCounts(t, "preview", im.Counts, store.Counts{Rows: 4, Create: 1, Update: 1, Unchanged: 1, Restore: 1})
	list, err := importer.PreviewChanges(f.ctx, f.db, im, store.ChangeFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	want := `2 update K-1 true {"tags": {"new": ["2024"], "old": []}, "first_name": {"new": "Moritz", "old": "Max"}}
4 restore K-3 true {"city": {"new": "Köln", "old": null}, "tags": {"new": ["2024"], "old": []}}
5 create K-4 false {"city": {"new": "Ulm", "old": null}, "tags": {"new": ["2024"], "old": null}, "login_id": {"new": "k4", "old": null}, "password": {"changed": true}, "first_name": {"new": "Neu", "old": null}, "external_id": {"new": "K-4", "old": null}}
`
	if got := changeList(t, list); got != want {
		t.Errorf("previewed changes\n got %s\nwant %s", got, want)
	}
	restores, err := importer.PreviewChanges(f.ctx, f.db, im, store.ChangeFilter{Action: "restore", Limit: 100})
	if err != nil || len(restores) != 1 || *restores[0].Row != 4 {
		t.Errorf("restores: %v %+v", err, restores)
	}

	im = f.apply(im.ID, false)
	done, err := store.ImportChanges(f.ctx, f.db, im.ID, store.ChangeFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if got := changeList(t, done); got != want {
		t.Errorf("applied changes\n got %s\nwant %s", got, want)
	}
	if strings.Contains(changeList(t, done), "Geheim") || strings.Contains(changeList(t, done), "argon2") {
		t.Error("a password shows in the changes")
	}
	if _, err := importer.PreviewChanges(f.ctx, f.db, im, store.ChangeFilter{Limit: 100}); err != importer.ErrNoPreview {
		t.Errorf("preview changes of an applied import: %v", err)
	}
	// Applied again (a retried task) keeps them once.
	if err := f.eng.Apply(f.ctx, im.ID); err != nil {
		t.Fatal(err)
	}
	if again, _ := store.ImportChanges(f.ctx, f.db, im.ID, store.ChangeFilter{Limit: 100}); len(again) != 3 {
		t.Errorf("%d changes after a second apply", len(again))
	}
}

// A failed apply keeps no changes: it changed nothing.
func TestChangesOfARefusedApply(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addCustomer(f.acct, map[string]any{"external_id": key(1)})
	im := f.preview("emails", "x.csv", csvUTF8("Nutzerfremdnummer;E-Mail", "1;a@x.de", "2;b@x.de"), nil)
	if err := store.ConfirmImport(f.ctx, f.db, im.ID, false); err != nil {
		t.Fatal(err)
	}
	err := f.eng.Apply(f.ctx, im.ID)
	if err == nil {
		t.Fatal("apply with row errors, not skipping them, succeeded")
	}
	// German plurals: "1 fehlerhafte Zeile", not "1 fehlerhafte Zeilen".
	if msg := err.Error(); !strings.Contains(msg, "1 fehlerhafte Zeile,") {
		t.Errorf("message %q", msg)
	}
	if list, err := store.ImportChanges(f.ctx, f.db, im.ID, store.ChangeFilter{Limit: 100}); err != nil || len(list) != 0 {
		t.Errorf("changes of a refused apply: %v %+v", err, list)
	}
}

func TestChangedSincePreviewPlural(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for i := int64(1); i <= 3; i++ {
		f.addCustomer(f.acct, map[string]any{"external_id": key(i)})
	}
	for _, tc := range []struct {
		gone int64
		want string
	}{{1, "1 Zeile lässt sich nicht mehr"}, {2, "2 Zeilen lassen sich nicht mehr"}} {
		im := f.preview("emails", "x.csv", csvUTF8("Nutzerfremdnummer;E-Mail", "1;a@x.de", "2;b@x.de", "3;c@x.de"), map[string]string{"email_mode": "overwrite"})
		if _, err := f.db.ExecContext(f.ctx, `UPDATE customers SET deleted_at = now() WHERE account_id = $1 AND external_id = ANY($2)`,
			f.acct.ID, pqKeys(tc.gone)); err != nil {
			t.Fatal(err)
		}
		if err := store.ConfirmImport(f.ctx, f.db, im.ID, false); err != nil {
			t.Fatal(err)
		}
		if err := f.eng.Apply(f.ctx, im.ID); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%d gone: %v", tc.gone, err)
		}
		if _, err := f.db.ExecContext(f.ctx, `UPDATE customers SET deleted_at = NULL WHERE account_id = $1`, f.acct.ID); err != nil {
			t.Fatal(err)
		}
	}
}

// pqKeys is the keys 1..n as a PostgreSQL text array literal.
func pqKeys(n int64) string {
	var ks []string
	for i := int64(1); i <= n; i++ {
		ks = append(ks, key(i))
	}
	return "{" + strings.Join(ks, ",") + "}"
}
