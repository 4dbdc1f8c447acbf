package importer_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"portalwerk/jobs/importer"
	"portalwerk/store"
	"portalwerk/store/storetest"
)

// mode=sync updates and creates like update and moves every live customer of the account
// the file does not list to the trash; the changes list names them without a row.
func TestCustomersSync(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	kept := f.addCustomer(f.acct, map[string]any{"external_id": "K-1", "first_name": "Max"})
	gone := f.addCustomer(f.acct, map[string]any{"external_id": "K-2", "first_name": "Eva"})
	trashed := f.addCustomer(f.acct, map[string]any{"external_id": "K-3", "deleted_at": time.Now()})
	f.addCustomer(f.acct, map[string]any{"external_id": "K-5"})
	f.addCustomer(f.acct, map[string]any{"external_id": "K-6"})
	other := f.account("maier")
	untouched := f.addCustomer(other, map[string]any{"external_id": "K-9"})
	// K-5 and K-6 stay listed by a row with an error: an invalid row never trashes its customer.
	file := csvUTF8("external_id;first_name;email", "K-1;Moritz;", "K-3;Zurück;", "K-4;Neu;", "K-5;;kaputt@", "K-6;;")
	im := f.preview("customers", "s.csv", file, map[string]string{"mode": "sync"})
	wantCounts(t, "preview", im.Counts, store.Counts{Rows: 5, Create: 1, Update: 1, Unchanged: 1, Restore: 1, Delete: 1, Errors: 1})
	if len(im.Warnings) != 0 {
		t.Errorf("warnings for 1 of 4: %+v", im.Warnings)
	}
	if f.customer(gone).Deleted {
		t.Fatal("preview trashed a customer")
	}
	list, err := importer.PreviewChanges(f.ctx, f.db, im, store.ChangeFilter{Action: "delete", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := changeList(t, list), "- delete K-2 true {}\n"; got != want {
		t.Errorf("previewed deletes\n got %s\nwant %s", got, want)
	}
	im = f.apply(im.ID, true)
	wantCounts(t, "apply", im.Counts, store.Counts{Rows: 5, Create: 1, Update: 1, Unchanged: 1, Restore: 1, Delete: 1, Errors: 1})
	if c := f.customer(gone); !c.Deleted {
		t.Error("unlisted customer K-2 is not in the trash")
	}
	if c := f.customer(kept); c.Deleted || str(c.FirstName) != "Moritz" {
		t.Errorf("K-1: %+v", c)
	}
	if c := f.customer(trashed); c.Deleted || str(c.FirstName) != "Zurück" {
		t.Errorf("K-3 not restored: %+v", c)
	}
	if f.byExt(f.acct, "K-5").Deleted || f.byExt(f.acct, "K-4").Deleted {
		t.Error("a listed customer was trashed")
	}
	if f.customer(untouched).Deleted {
		t.Error("sync trashed another account's customer")
	}
	done, err := store.ImportChanges(f.ctx, f.db, im.ID, store.ChangeFilter{Action: "delete", Limit: 10})
	if err != nil || len(done) != 1 || done[0].Row != nil || *done[0].PortalID != gone {
		t.Errorf("applied deletes: %v %s", err, changeList(t, done))
	}
	// The same file again trashes nothing more.
	im = f.run("customers", "s.csv", file, map[string]string{"mode": "sync"}, true)
	if im.Counts.Delete != 0 {
		t.Errorf("second sync trashed %d", im.Counts.Delete)
	}
}

// A sync that would trash more than half of the account's live customers warns, and its
// apply without allow_mass_delete changes nothing.
func TestCustomersSyncMassDelete(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for i := 1; i <= 5; i++ {
		f.addCustomer(f.acct, map[string]any{"external_id": fmt.Sprintf("K-%d", i)})
	}
	file := csvUTF8("external_id;first_name", "K-1;A", "K-2;B")
	im := f.preview("customers", "s.csv", file, map[string]string{"mode": "sync"})
	wantCounts(t, "preview", im.Counts, store.Counts{Rows: 2, Update: 2, Delete: 3})
	if !im.Warnings.Has(store.WarningMassDelete) || !strings.Contains(im.Warnings[0].Message, "3 von 5 Kunden") {
		t.Fatalf("warnings %+v", im.Warnings)
	}
	before := f.snapshot()
	if err := store.ConfirmImport(f.ctx, f.db, im.ID, false); err != nil {
		t.Fatal(err)
	}
	var fe *importer.FileError
	if err := f.eng.Apply(f.ctx, im.ID); !errors.As(err, &fe) || fe.Code != "mass_delete" {
		t.Fatalf("apply without allow_mass_delete: %v", err)
	}
	if f.snapshot() != before {
		t.Error("the refused sync changed customers")
	}

	im = f.preview("customers", "s.csv", file, map[string]string{"mode": "sync"})
	if err := store.AllowMassDelete(f.ctx, f.db, im.ID, true); err != nil {
		t.Fatal(err)
	}
	im = f.apply(im.ID, false)
	if im.Counts.Delete != 3 || len(f.customers(f.acct)) != 5 {
		t.Errorf("allowed: counts %+v", im.Counts)
	}
	// Half exactly is no mass delete: 2 live, 1 listed.
	g := newFixture(t)
	g.addCustomer(g.acct, map[string]any{"external_id": "K-1"})
	g.addCustomer(g.acct, map[string]any{"external_id": "K-2"})
	if im := g.preview("customers", "s.csv", csvUTF8("external_id", "K-1"), map[string]string{"mode": "sync"}); len(im.Warnings) != 0 || im.Counts.Delete != 1 {
		t.Errorf("half: %+v %+v", im.Warnings, im.Counts)
	}
}

// The lookup order: own live, own trash, then the other accounts' live customers before
// their trash; two hits of one rank in different accounts are ambiguous_transfer.
func TestCustomersTransferLookupOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t) // target: huber
	a, b := f.account("anna"), f.account("bert")
	ownLive := f.addCustomer(f.acct, map[string]any{"external_id": "K-1"})
	f.addCustomer(a, map[string]any{"external_id": "K-1"})
	ownTrash := f.addCustomer(f.acct, map[string]any{"external_id": "K-2", "deleted_at": time.Now()})
	f.addCustomer(a, map[string]any{"external_id": "K-2"})
	otherLive := f.addCustomer(a, map[string]any{"external_id": "K-3"})
	f.addCustomer(b, map[string]any{"external_id": "K-3", "deleted_at": time.Now()})
	f.addCustomer(a, map[string]any{"external_id": "K-4"})
	f.addCustomer(b, map[string]any{"external_id": "K-4"})
	f.addCustomer(a, map[string]any{"external_id": "K-5", "deleted_at": time.Now()})
	f.addCustomer(b, map[string]any{"external_id": "K-5", "deleted_at": time.Now()})
	f.addCustomer(a, map[string]any{"external_id": "K-6", "deleted_at": time.Now().Add(-time.Hour)})
	newest := f.addCustomer(a, map[string]any{"external_id": "K-6", "deleted_at": time.Now()})
	// Another tenant's customer is never found.
	g := newFixture(t)
	g.addCustomer(g.acct, map[string]any{"external_id": "K-7"})

	file := csvUTF8("external_id;city", "K-1;X", "K-2;X", "K-3;X", "K-4;X", "K-5;X", "K-6;X", "K-7;X")
	im := f.preview("customers", "t.csv", file, map[string]string{"mode": "update", "transfer": "move"})
	wantCounts(t, "preview", im.Counts, store.Counts{Rows: 7, Create: 1, Update: 1, Restore: 1, TransferMove: 2, Errors: 2})
	if got := fmt.Sprint(*im.Sources); got != "map[anna:2]" {
		t.Errorf("sources %s", got)
	}
	errs := f.errors(im.ID)
	wantErrors(t, errs, []errKey{{5, "external_id", "K-4", "ambiguous_transfer"}, {6, "external_id", "K-5", "ambiguous_transfer"}})
	for _, e := range errs {
		if !strings.Contains(e.Message, "anna und bert") {
			t.Errorf("row %d names not both accounts: %s", e.Row, e.Message)
		}
	}
	im = f.apply(im.ID, true)
	wantCounts(t, "apply", im.Counts, store.Counts{Rows: 7, Create: 1, Update: 1, Restore: 1, TransferMove: 2, Errors: 2})
	if got := fmt.Sprint(*im.Sources); got != "map[anna:2]" {
		t.Errorf("applied sources %s", got)
	}
	for _, id := range []int64{ownLive, ownTrash, otherLive, newest} {
		if c := f.customer(id); c.AccountID != f.acct.ID || c.Deleted || str(c.City) != "X" {
			t.Errorf("customer %d: %+v", id, c)
		}
	}
	if cs := g.customers(g.acct); len(cs) != 1 || cs[0].City != nil {
		t.Error("another tenant's customer was touched")
	}
}

// copy creates a new customer, without the source's login ID, and leaves the source as it
// was; move takes the same customer; transfer_related takes the appointments along.
func TestCustomersTransferCopyAndMove(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mode    string
		related bool
	}{{"copy", true}, {"copy", false}, {"move", true}, {"move", false}} {
		t.Run(fmt.Sprintf("%s related=%v", tc.mode, tc.related), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			maier := f.account("maier")
			src := f.addCustomer(f.acct, map[string]any{"external_id": "K-1", "first_name": "Max", "city": "Bonn", "login_id": "max-" + tc.mode})
			c, err := store.GetCustomer(f.ctx, f.db, f.acct.TenantID, src)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := store.AddAppointment(f.ctx, f.db, c, time.Now(), "Wartung"); err != nil {
				t.Fatal(err)
			}
			opts := map[string]string{"mode": "update", "transfer": tc.mode, "transfer_related": fmt.Sprint(tc.related)}
			id := f.uploadTo(maier, "customers", "t.csv", csvUTF8("external_id;first_name", "K-1;Moritz"), opts)
			pv, err := f.eng.Preview(f.ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			want := store.Counts{Rows: 1, TransferCopy: 1}
			if tc.mode == "move" {
				want = store.Counts{Rows: 1, TransferMove: 1}
			}
			wantCounts(t, "preview", pv.Counts, want)
			list, err := importer.PreviewChanges(f.ctx, f.db, pv, store.ChangeFilter{Limit: 10})
			if err != nil || len(list) != 1 || list[0].Action != "transfer_"+tc.mode ||
				!strings.Contains(string(list[0].Changes), `"account": {"new": "maier", "old": "huber"}`) || (list[0].PortalID != nil) != (tc.mode == "move") {
				t.Fatalf("previewed changes: %v %s", err, changeList(t, list))
			}
			done := f.apply(id, false)
			wantCounts(t, "apply", done.Counts, want)
			moved := f.byExt(maier, "K-1")
			if str(moved.FirstName) != "Moritz" || str(moved.City) != "Bonn" {
				t.Errorf("target: %+v", moved)
			}
			target, err := store.GetCustomer(f.ctx, f.db, f.acct.TenantID, moved.ID)
			if err != nil {
				t.Fatal(err)
			}
			source := f.customer(src)
			switch tc.mode {
			case "copy":
				if moved.ID == src || source.AccountID != f.acct.ID || str(source.FirstName) != "Max" || str(source.LoginID) != "max-copy" {
					t.Errorf("copy: source %+v", source)
				}
				if moved.LoginID != nil {
					t.Errorf("the copy took the source's login ID %s", str(moved.LoginID))
				}
			case "move":
				if moved.ID != src || str(moved.LoginID) != "max-move" {
					t.Errorf("move: %+v", moved)
				}
			}
			if wantAppts := map[bool]int64{true: 1, false: 0}[tc.related]; target.Appointments != wantAppts {
				t.Errorf("target has %d appointments, want %d", target.Appointments, wantAppts)
			}
			var total int64
			if err := f.db.GetContext(f.ctx, &total, `SELECT count(*) FROM appointments a JOIN customers c ON c.id = a.customer_id WHERE c.tenant_id = $1`, f.acct.TenantID); err != nil {
				t.Fatal(err)
			}
			if wantTotal := map[bool]int64{true: 2, false: 1}[tc.mode == "copy" && tc.related]; total != wantTotal {
				t.Errorf("%d appointments in the tenant, want %d", total, wantTotal)
			}
		})
	}
}

// A row whose login ID its copy would share with the source is duplicate_login.
func TestCustomersTransferCopyLogin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	maier := f.account("maier")
	f.addCustomer(f.acct, map[string]any{"external_id": "K-1", "login_id": "max"})
	id := f.uploadTo(maier, "customers", "t.csv", csvUTF8("external_id;login_id", "K-1;max"), map[string]string{"mode": "update", "transfer": "copy"})
	im, err := f.eng.Preview(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	wantCounts(t, "preview", im.Counts, store.Counts{Rows: 1, Errors: 1})
	errs := f.errors(id)
	wantErrors(t, errs, []errKey{{2, "login_id", "max", "duplicate_login"}})
	if !strings.Contains(errs[0].Message, "K-1 im Benutzerkonto huber") {
		t.Errorf("message %s", errs[0].Message)
	}
}

// Login IDs: a duplicate in the file names the first row, one held by another customer
// (also in another account or the trash) names the holder. A password never shows in a
// log, an error report, the changes or the import.
func TestCustomersLogins(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	log, lines := storetest.LoggerAndLines(t)
	f.eng = &importer.Engine{DB: f.db, Log: log}
	other := f.account("maier")
	f.addCustomer(other, map[string]any{"external_id": "M-1", "login_id": "vergeben"})
	f.addCustomer(f.acct, map[string]any{"external_id": "T-1", "login_id": "im-papierkorb", "deleted_at": time.Now()})
	own := f.addCustomer(f.acct, map[string]any{"external_id": "K-1", "login_id": "meins"})
	file := csvUTF8("external_id;login_id;password",
		"K-1;meins;Passwort-Eins-1",
		"K-2;doppelt;Passwort-Zwei-2",
		"K-3;doppelt;Passwort-Drei-3",
		"K-4;vergeben;Passwort-Vier-4",
		"K-5;im-papierkorb;Passwort-Fuenf-5",
		"K-6;neu;Passwort\x00Sechs-6",
	)
	im := f.preview("customers", "l.csv", file, map[string]string{"mode": "update", "must_change_password": "true"})
	wantCounts(t, "preview", im.Counts, store.Counts{Rows: 6, Update: 1, Create: 1, Errors: 4})
	errs := f.errors(im.ID)
	wantErrors(t, errs, []errKey{
		{4, "login_id", "doppelt", "duplicate_login"},
		{5, "login_id", "vergeben", "duplicate_login"},
		{6, "login_id", "im-papierkorb", "duplicate_login"},
		{7, "password", "(Passwort verborgen)", "nul_byte"},
	})
	for want, row := range map[string]int{"Zeile 3": 4, "M-1 im Benutzerkonto maier": 5, "T-1 im Benutzerkonto huber": 6} {
		for _, e := range errs {
			if e.Row == row && !strings.Contains(e.Message, want) {
				t.Errorf("row %d: %q does not name %q", row, e.Message, want)
			}
		}
	}
	changes, err := importer.PreviewChanges(f.ctx, f.db, im, store.ChangeFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	im = f.apply(im.ID, true)
	applied, err := store.ImportChanges(f.ctx, f.db, im.ID, store.ChangeFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	c := f.customer(own)
	verifyArgon2id(t, str(c.PasswordHash), "Passwort-Eins-1")
	if !c.MustChangePassword {
		t.Error("must_change_password not stored")
	}
	apiCustomer, err := store.GetCustomer(f.ctx, f.db, f.acct.TenantID, own)
	if err != nil || !apiCustomer.MustChangePassword {
		t.Errorf("must_change_password not returned: %v %+v", err, apiCustomer)
	}
	seen := fmt.Sprintf("%s %+v %+v %s %s %+v", lines(), errs, f.errors(im.ID), changeList(t, changes), changeList(t, applied), im)
	for _, pw := range []string{"Passwort-", "Sechs", "argon2"} {
		if strings.Contains(seen, pw) {
			t.Errorf("%q shows in a log, error report, the changes or the import", pw)
		}
	}
}
