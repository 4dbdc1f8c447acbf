package importer_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"portalwerk/jobs/importer"
	"portalwerk/store"
)

// verifyArgon2id checks a PHC-format argon2id hash against the password.
func verifyArgon2id(t *testing.T, hash, pw string) {
	t.Helper()
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		t.Fatalf("not an argon2id PHC string: %q", hash)
	}
	var v int
	var m, tm uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		t.Fatalf("version %q", parts[2])
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &tm, &p); err != nil {
		t.Fatalf("params %q: %v", parts[3], err)
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	sum, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 16 {
		t.Fatalf("salt/hash of %q", hash)
	}
	if !bytes.Equal(argon2.IDKey([]byte(pw), salt, tm, m, p, uint32(len(sum))), sum) {
		t.Errorf("hash does not verify the password")
	}
}

var customerHeader = []any{"external_id", "salutation", "first_name", "last_name", "company", "street", "zip", "city", "email", "phone", "login_id", "password"}

func TestCustomersCreateEveryColumn(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	file := xlsxFile(t, [][]any{
		customerHeader,
		{"K-1", "Herr", "Max", "Müller", "Müller GmbH", "Hauptstr. 1", "01067", "Dresden", " Max@Example.DE ", "+49 351 123", "max.mueller", "Geheim 123!"},
		{"", "Frau", "Erika", "Muster", "", "", "", "", "", "", "", ""},
		{nil, nil, "Ohne", "Schlüssel"},
		{"K-2", "", "Kaputt", "", "", "", "", "", "kaputt@", "", "k2", "pw"},
	})
	opts := map[string]string{"mode": "create", "tag": "messe-2024", "must_change_password": "true"}
	im := f.preview("customers", "kunden.xlsx", file, opts)
	wantCounts(t, "preview", im.Counts, store.Counts{Rows: 4, Create: 3, Errors: 1})
	wantErrors(t, f.errors(im.ID), []errKey{{5, "email", "kaputt@", "invalid_email"}})
	if n := len(f.customers(f.acct)); n != 0 {
		t.Fatalf("preview created %d customers", n)
	}
	im = f.apply(im.ID, true)
	wantCounts(t, "apply", im.Counts, store.Counts{Rows: 4, Create: 3, Errors: 1})

	cs := f.customers(f.acct)
	if len(cs) != 3 {
		t.Fatalf("%d customers, want 3", len(cs))
	}
	max := cs[0]
	got := []string{str(max.ExternalID), str(max.Salutation), str(max.FirstName), str(max.LastName), str(max.Company),
		str(max.Street), str(max.Zip), str(max.City), str(max.Email), str(max.Phone), str(max.LoginID), max.Tags}
	want := []string{"K-1", "Herr", "Max", "Müller", "Müller GmbH", "Hauptstr. 1", "01067", "Dresden", "Max@example.de", "+49 351 123", "max.mueller", "messe-2024"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("customer with every column\n got %q\nwant %q", got, want)
	}
	if max.PasswordHash == nil || !strings.HasPrefix(*max.PasswordHash, "$argon2id$") || strings.Contains(*max.PasswordHash, "Geheim") {
		t.Fatalf("password stored as %q", str(max.PasswordHash))
	}
	verifyArgon2id(t, *max.PasswordHash, "Geheim 123!")
	if !max.MustChangePassword {
		t.Error("must_change_password not set for a row with login and password")
	}
	for _, c := range cs[1:] {
		if c.ExternalID != nil || c.LoginID != nil || c.PasswordHash != nil || c.MustChangePassword || c.Tags != "messe-2024" || c.Email != nil || c.Company != nil {
			t.Errorf("customer without key: %+v", c)
		}
	}
	if str(cs[1].FirstName) != "Erika" || str(cs[2].LastName) != "Schlüssel" {
		t.Errorf("rows without key: %s, %s", str(cs[1].FirstName), str(cs[2].LastName))
	}
	var leaked int
	if err := f.db.GetContext(f.ctx, &leaked, `SELECT (SELECT count(*) FROM customers c WHERE c.tenant_id = $1 AND c::text LIKE '%Geheim%')
		+ (SELECT count(*) FROM import_errors e JOIN imports i ON i.id = e.import_id
			WHERE i.tenant_id = $1 AND (e::text LIKE '%Geheim%' OR e.value = 'pw'))
		+ (SELECT count(*) FROM imports i WHERE i.tenant_id = $1 AND i::text LIKE '%Geheim%')`, f.acct.TenantID); err != nil {
		t.Fatal(err)
	}
	if leaked != 0 {
		t.Errorf("clear password found in %d stored rows", leaked)
	}

	// The same file again: every key is taken; rows without a key are new again.
	im = f.preview("customers", "kunden.xlsx", file, opts)
	wantCounts(t, "second preview", im.Counts, store.Counts{Rows: 4, Create: 2, Errors: 2})
	wantErrors(t, f.errors(im.ID), []errKey{{2, "external_id", "K-1", "key_exists"}, {5, "email", "kaputt@", "invalid_email"}})
}

func TestCustomersCreateKeyExists(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	maier := f.account("maier")
	live := f.addCustomer(f.acct, map[string]any{"external_id": "K-7", "first_name": "Alt"})
	trashed := f.addCustomer(f.acct, map[string]any{"external_id": "K-8"})
	if _, err := f.db.ExecContext(f.ctx, `UPDATE customers SET deleted_at = now() WHERE id = $1`, trashed); err != nil {
		t.Fatal(err)
	}
	f.addCustomer(maier, map[string]any{"external_id": "K-9"})
	file := csvUTF8("Externe ID;Vorname", "K-7;Neu", "K-8;Neu", "K-9;Neu", ";Neu", ";Neu", "K-10;Neu", "K-10;Doppelt")
	im := f.run("customers", "k.csv", file, map[string]string{"mode": "create"}, true)
	wantCounts(t, "apply", im.Counts, store.Counts{Rows: 7, Create: 5, Errors: 2})
	errs := f.errors(im.ID)
	wantErrors(t, errs, []errKey{{2, "Externe ID", "K-7", "key_exists"}, {8, "Externe ID", "K-10", "duplicate_key"}})
	if len(errs) == 2 && !strings.Contains(errs[1].Message, "Zeile 7") {
		t.Errorf("duplicate message: %s", errs[1].Message)
	}
	if got := str(f.customer(live).FirstName); got != "Alt" {
		t.Errorf("live customer changed: %s", got)
	}
	if n := len(f.customers(f.acct)); n != 2+5 {
		t.Errorf("%d customers in the account, want 7", n)
	}
}

func TestCustomersUpdateByExternalID(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	k1 := f.addCustomer(f.acct, map[string]any{"external_id": "K-1", "first_name": "Max", "last_name": "Alt", "city": "Bonn", "phone": "111", "email": "max@x.de"})
	k2 := f.addCustomer(f.acct, map[string]any{"external_id": "K-2", "first_name": "Eva", "last_name": "Berg", "city": "Köln", "email": "eva@x.de"})
	file := xlsxFile(t, [][]any{
		{"external_id", "first_name", "last_name", "city", "email"}, // no phone column
		{"K-1", "Max", "Neu", "", ""},
		{"K-2", "Eva", "Berg", "Köln", "EVA@x.de"}, // differs from the stored value only in case
		{"K-3", "Neu", "Kunde", "Bonn", "neu@x.de"},
	})
	opts := map[string]string{"mode": "update"}
	im := f.preview("customers", "update.xlsx", file, opts)
	wantCounts(t, "preview", im.Counts, store.Counts{Rows: 3, Create: 1, Update: 2})
	f.apply(im.ID, false)
	c1 := f.customer(k1)
	if got := []string{str(c1.FirstName), str(c1.LastName), str(c1.City), str(c1.Phone), str(c1.Email)}; fmt.Sprint(got) != "[Max Neu Bonn 111 max@x.de]" {
		t.Errorf("K-1 after update: %q", got)
	}
	if got := str(f.customer(k2).Email); got != "EVA@x.de" {
		t.Errorf("K-2 e-mail %s", got)
	}
	if got := str(f.byExt(f.acct, "K-3").City); got != "Bonn" {
		t.Errorf("K-3 city %s", got)
	}

	// The same file again changes nothing.
	before := f.snapshot()
	im = f.run("customers", "update.xlsx", file, opts, false)
	wantCounts(t, "second", im.Counts, store.Counts{Rows: 3, Unchanged: 3})
	if f.snapshot() != before {
		t.Error("second update changed data")
	}

	// A tag counts as a change once, then not any more.
	opts["tag"] = "2024"
	im = f.run("customers", "update.xlsx", file, opts, false)
	wantCounts(t, "tag", im.Counts, store.Counts{Rows: 3, Update: 3})
	im = f.run("customers", "update.xlsx", file, opts, false)
	wantCounts(t, "tag again", im.Counts, store.Counts{Rows: 3, Unchanged: 3})
	if got := f.customer(k1).Tags; got != "2024" {
		t.Errorf("tags %q", got)
	}
}

func TestCustomersUpdateKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p1 := f.addCustomer(f.acct, map[string]any{"external_id": "K-1", "email": "eins@x.de", "first_name": "Eins"})
	p2 := f.addCustomer(f.acct, map[string]any{"external_id": "K-2", "email": "zwei@x.de", "first_name": "Zwei"})

	t.Run("portal_id", func(t *testing.T) {
		file := csvUTF8("Portal ID;Vorname", fmt.Sprintf("%d;Eins-P", p1), fmt.Sprintf(" %d ;Zwei", p2), "abc;X")
		im := f.run("customers", "p.csv", file, map[string]string{"mode": "update", "keys": "portal_id"}, true)
		wantCounts(t, "portal_id", im.Counts, store.Counts{Rows: 3, Update: 1, Unchanged: 1, Errors: 1})
		wantErrors(t, f.errors(im.ID), []errKey{{4, "Portal ID", "abc", "invalid_key"}})
		if got := str(f.customer(p1).FirstName); got != "Eins-P" {
			t.Errorf("first name %s", got)
		}
	})
	t.Run("email", func(t *testing.T) {
		file := csvUTF8("E-Mail;Vorname", "eins@X.DE;Eins-E", "drei@x.de;Drei")
		im := f.run("customers", "e.csv", file, map[string]string{"mode": "update", "keys": "email"}, false)
		wantCounts(t, "email", im.Counts, store.Counts{Rows: 2, Create: 1, Update: 1})
		if got := str(f.customer(p1).FirstName); got != "Eins-E" {
			t.Errorf("first name %s", got)
		}
	})
	t.Run("external_id,portal_id", func(t *testing.T) {
		file := csvUTF8("external_id;portal_id;first_name",
			fmt.Sprintf("K-1;%d;Beide", p1),  // both match
			fmt.Sprintf("K-2;%d;Falsch", p1), // portal id of another customer
			fmt.Sprintf("K-4;%d;Fremd", p2),  // external id unknown
			"K-5;;Neu",                       // no portal id: new
		)
		im := f.run("customers", "ep.csv", file, map[string]string{"mode": "update", "keys": "external_id, portal_id"}, true)
		wantCounts(t, "both", im.Counts, store.Counts{Rows: 4, Create: 2, Update: 1, Errors: 1})
		wantErrors(t, f.errors(im.ID), []errKey{{3, "external_id", "K-2", "key_exists"}})
		if got := str(f.customer(p1).FirstName); got != "Beide" {
			t.Errorf("K-1 first name %s", got)
		}
		if got := f.customer(p2); str(got.FirstName) != "Zwei" || str(got.ExternalID) != "K-2" {
			t.Errorf("K-2 changed: %s %s", str(got.FirstName), str(got.ExternalID))
		}
		if got := str(f.byExt(f.acct, "K-4").FirstName); got != "Fremd" {
			t.Errorf("K-4 %s", got)
		}
	})
	t.Run("missing key column", func(t *testing.T) {
		fe := f.fileError("customers", "m.csv", csvUTF8("external_id;first_name", "K-1;X"), map[string]string{"mode": "update", "keys": "portal_id"})
		if fe.Code != "missing_column" || !strings.Contains(fe.Message, "portal_id") {
			t.Errorf("%s %q", fe.Code, fe.Message)
		}
	})
}

func TestCustomersDuplicateLogin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	maier := f.account("maier")
	f.addCustomer(maier, map[string]any{"external_id": "M-1", "login_id": "vergeben"})
	own := f.addCustomer(f.acct, map[string]any{"external_id": "K-1", "login_id": "k1.login"})
	file := csvUTF8("Externe ID;Login ID;Passwort",
		"K-2;doppelt;a",
		"K-3;doppelt;b",
		"K-4;vergeben;c",
		"K-1;k1.login;",    // the customer's own login
		"K-5;k1.login;",    // another customer's login, also taken in the file
		"K-6;neu.login;pw", // fine
	)
	im := f.run("customers", "logins.csv", file, map[string]string{"mode": "update"}, true)
	wantCounts(t, "apply", im.Counts, store.Counts{Rows: 6, Create: 2, Unchanged: 1, Errors: 3})
	errs := f.errors(im.ID)
	wantErrors(t, errs, []errKey{
		{3, "Login ID", "doppelt", "duplicate_login"},
		{4, "Login ID", "vergeben", "duplicate_login"},
		{6, "Login ID", "k1.login", "duplicate_login"},
	})
	if len(errs) == 3 {
		if !strings.Contains(errs[0].Message, "Zeile 2") {
			t.Errorf("in-file duplicate does not name row 2: %s", errs[0].Message)
		}
		if !strings.Contains(errs[1].Message, "M-1") || !strings.Contains(errs[1].Message, "maier") {
			t.Errorf("taken login does not name its holder: %s", errs[1].Message)
		}
		if !strings.Contains(errs[2].Message, "Zeile 5") {
			t.Errorf("row 6 does not name row 5: %s", errs[2].Message)
		}
	}
	if got := str(f.customer(own).LoginID); got != "k1.login" {
		t.Errorf("own login %s", got)
	}
	if got := str(f.byExt(f.acct, "K-2").LoginID); got != "doppelt" {
		t.Errorf("K-2 login %s", got)
	}
	verifyArgon2id(t, str(f.byExt(f.acct, "K-6").PasswordHash), "pw")
}

func TestCustomersGermanHeaders(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	file := csv1252(t,
		"Externe ID;Anrede;Vorname;Nachname;Firma;Straße;PLZ;Ort;E-Mail;Telefon;Login ID;Passwort;Notiz",
		"K-1;Frau;Jörg;Weiß;Weiß & Söhne KG;Königstraße 5;01097;Dresden;joerg@weiss.de;0351 1;jweiss;Äpfel!;egal",
		"K-2;Herr;Ölaf;Groß;;Am Anger 2;04109;Leipzig;;;;;",
	)
	im := f.run("customers", "kunden.csv", file, map[string]string{"mode": "create"}, false)
	wantCounts(t, "apply", im.Counts, store.Counts{Rows: 2, Create: 2})
	c := f.byExt(f.acct, "K-1")
	got := []string{str(c.Salutation), str(c.FirstName), str(c.LastName), str(c.Company), str(c.Street), str(c.Zip), str(c.City), str(c.Email), str(c.Phone), str(c.LoginID)}
	want := []string{"Frau", "Jörg", "Weiß", "Weiß & Söhne KG", "Königstraße 5", "01097", "Dresden", "joerg@weiss.de", "0351 1", "jweiss"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("\n got %q\nwant %q", got, want)
	}
	verifyArgon2id(t, str(c.PasswordHash), "Äpfel!")
	if c2 := f.byExt(f.acct, "K-2"); str(c2.FirstName) != "Ölaf" || c2.Company != nil || c2.Email != nil {
		t.Errorf("K-2: %+v", c2)
	}
}

func TestCustomersApplyAllOrNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	k1 := f.addCustomer(f.acct, map[string]any{"external_id": "K-1", "first_name": "Alt"})
	file := csvUTF8("external_id;first_name", "K-1;Neu", "K-2;Zwei", "K-3;Boom", "K-4;Vier")
	im := f.preview("customers", "c.csv", file, map[string]string{"mode": "update"})
	wantCounts(t, "preview", im.Counts, store.Counts{Rows: 4, Create: 3, Update: 1})
	before := f.snapshot()
	remove := f.failOn(f.acct, "first_name", "Boom")
	if err := store.ConfirmImport(f.ctx, f.db, im.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := f.eng.Apply(f.ctx, im.ID); err == nil {
		t.Fatal("apply succeeded despite the failing insert")
	}
	if f.snapshot() != before {
		t.Fatal("failed apply left changes behind")
	}
	remove()
	if err := f.eng.Apply(f.ctx, im.ID); err != nil {
		t.Fatal(err)
	}
	wantCounts(t, "retry", f.get(im.ID).Counts, store.Counts{Rows: 4, Create: 3, Update: 1})
	if got := str(f.customer(k1).FirstName); got != "Neu" || len(f.customers(f.acct)) != 4 {
		t.Errorf("after retry: K-1 %s, %d customers", got, len(f.customers(f.acct)))
	}
}

// A conflict that arises between preview and apply is not silently skipped when the
// user confirmed without skip_invalid_rows.
func TestCustomersConflictAfterPreview(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	im := f.preview("customers", "c.csv", csvUTF8("external_id;first_name", "K-1;Eins", "K-2;Zwei"), map[string]string{"mode": "create"})
	wantCounts(t, "preview", im.Counts, store.Counts{Rows: 2, Create: 2})
	f.addCustomer(f.acct, map[string]any{"external_id": "K-2"})
	before := f.snapshot()
	if err := store.ConfirmImport(f.ctx, f.db, im.ID, false); err != nil {
		t.Fatal(err)
	}
	var fe *importer.FileError
	if err := f.eng.Apply(f.ctx, im.ID); !errors.As(err, &fe) || fe.Code != "changed_since_preview" {
		t.Fatalf("apply with a conflict that arose after the preview, not skipping invalid rows: %v", err)
	}
	if f.snapshot() != before {
		t.Error("refused apply changed data")
	}
}

func TestCustomersUpdateRestoresFromTrash(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	now := time.Now()
	trashed := f.addCustomer(f.acct, map[string]any{"external_id": "K-8", "first_name": "Alt", "city": "Bonn", "login_id": "k8", "deleted_at": now})
	newer := f.addCustomer(f.acct, map[string]any{"external_id": "K-9", "first_name": "Neuer", "deleted_at": now.Add(-time.Hour)})
	older := f.addCustomer(f.acct, map[string]any{"external_id": "K-9", "first_name": "Älter", "deleted_at": now.Add(-2 * time.Hour)})
	file := csvUTF8("external_id;first_name;login_id", "K-8;Neu;k8", "K-9;;")
	im := f.preview("customers", "r.csv", file, map[string]string{"mode": "update"})
	wantCounts(t, "preview", im.Counts, store.Counts{Rows: 2, Restore: 2})
	f.apply(im.ID, false)
	c := f.customer(trashed)
	if c.Deleted || str(c.FirstName) != "Neu" || str(c.City) != "Bonn" || str(c.LoginID) != "k8" {
		t.Errorf("restored K-8: %+v", c)
	}
	if got, old := f.customer(newer), f.customer(older); got.Deleted == old.Deleted {
		t.Errorf("want the customer deleted last restored: newer deleted %v, older deleted %v", got.Deleted, old.Deleted)
	}
	im = f.run("customers", "r.csv", file, map[string]string{"mode": "update"}, false)
	wantCounts(t, "again", im.Counts, store.Counts{Rows: 2, Unchanged: 2})
}

func TestCustomersNutzerfremdnummerColumn(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	existing := f.addCustomer(f.acct, map[string]any{"external_id": key(1200100123)})
	file := xlsxFile(t, [][]any{{"Nutzerfremdnummer", "Nachname"}, {1200100123, "Berg"}, {"77", "Neu"}, {"1.5", "X"}})
	im := f.run("customers", "n.xlsx", file, map[string]string{"mode": "update"}, true)
	wantCounts(t, "apply", im.Counts, store.Counts{Rows: 3, Create: 1, Update: 1, Errors: 1})
	wantErrors(t, f.errors(im.ID), []errKey{{4, "Nutzerfremdnummer", "1.5", "key_not_text"}})
	if got := str(f.customer(existing).LastName); got != "Berg" {
		t.Errorf("last name %s", got)
	}
	f.byExt(f.acct, key(77))
}

// Rows that conflict at apply are reported with the file's own column names.
func TestCustomersConflictAfterPreviewSkipped(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	im := f.preview("customers", "c.csv", csvUTF8("Externe ID;Vorname", "K-1;Eins", "K-2;Zwei"), map[string]string{"mode": "create"})
	wantCounts(t, "preview", im.Counts, store.Counts{Rows: 2, Create: 2})
	f.addCustomer(f.acct, map[string]any{"external_id": "K-2", "first_name": "Vorher"})
	im = f.apply(im.ID, true)
	wantCounts(t, "apply", im.Counts, store.Counts{Rows: 2, Create: 1, Errors: 1})
	wantErrors(t, f.errors(im.ID), []errKey{{3, "Externe ID", "K-2", "key_exists"}})
	if got := str(f.byExt(f.acct, "K-2").FirstName); got != "Vorher" {
		t.Errorf("K-2 %s", got)
	}
}

func TestCustomersManyPasswords(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	lines := []string{"external_id;login_id;password"}
	const n = 8
	for i := 0; i < n; i++ {
		lines = append(lines, fmt.Sprintf("K-%d;login-%d;pw-%d", i, i, i))
	}
	lines = append(lines, "K-ohne;;pw-ohne") // a password without a login
	im := f.run("customers", "pw.csv", csvUTF8(lines...), map[string]string{"mode": "create", "must_change_password": "true"}, false)
	wantCounts(t, "apply", im.Counts, store.Counts{Rows: n + 1, Create: n + 1})
	cs := f.customers(f.acct)
	if last := cs[len(cs)-1]; last.MustChangePassword || last.PasswordHash == nil {
		t.Errorf("row without login: must_change %v, hash %v", last.MustChangePassword, last.PasswordHash != nil)
	}
	cs = cs[:len(cs)-1]
	seen := map[string]bool{}
	for _, c := range cs {
		verifyArgon2id(t, str(c.PasswordHash), "pw-"+strings.TrimPrefix(str(c.ExternalID), "K-"))
		if !c.MustChangePassword || seen[str(c.PasswordHash)] {
			t.Errorf("%s: must_change %v, hash reused %v", str(c.ExternalID), c.MustChangePassword, seen[str(c.PasswordHash)])
		}
		seen[str(c.PasswordHash)] = true
	}
}

// A restored customer keeps its external ID when the cell is empty; if a live customer
// has taken it meanwhile, the row is key_exists instead of a failing apply.
func TestCustomersRestoreWhoseKeyIsTaken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	trashed := f.addCustomer(f.acct, map[string]any{"external_id": "K-1", "first_name": "Alt", "deleted_at": time.Now()})
	free := f.addCustomer(f.acct, map[string]any{"external_id": "K-2", "deleted_at": time.Now()})
	f.addCustomer(f.acct, map[string]any{"external_id": "K-1", "first_name": "Nachfolger"})
	file := csvUTF8("portal_id;first_name", fmt.Sprintf("%d;Zurück", trashed), fmt.Sprintf("%d;Auch", free))
	im := f.run("customers", "r.csv", file, map[string]string{"mode": "update", "keys": "portal_id"}, true)
	wantCounts(t, "apply", im.Counts, store.Counts{Rows: 2, Restore: 1, Errors: 1})
	wantErrors(t, f.errors(im.ID), []errKey{{2, "external_id", "K-1", "key_exists"}})
	if c := f.customer(trashed); !c.Deleted || str(c.FirstName) != "Alt" {
		t.Errorf("conflicting row restored: %+v", c)
	}
	if c := f.customer(free); c.Deleted || str(c.FirstName) != "Auch" || str(c.ExternalID) != "K-2" {
		t.Errorf("K-2 not restored: %+v", c)
	}
}

func TestCustomersCreateByEmailKeyExists(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addCustomer(f.acct, map[string]any{"email": "da@x.de"})
	im := f.run("customers", "e.csv", csvUTF8("E-Mail;Vorname", "da@X.de;A", "neu@x.de;B"), map[string]string{"mode": "create", "keys": "email"}, true)
	wantCounts(t, "apply", im.Counts, store.Counts{Rows: 2, Create: 1, Errors: 1})
	wantErrors(t, f.errors(im.ID), []errKey{{2, "E-Mail", "da@x.de", "key_exists"}})
}

// The apply matches the rows again: a row whose customer was deleted after the preview
// has lost its match and creates a new customer.
func TestCustomersApplyRematches(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gone := f.addCustomer(f.acct, map[string]any{"external_id": "K-1", "first_name": "Max"})
	f.addCustomer(f.acct, map[string]any{"external_id": "K-2", "first_name": "Eva"})
	im := f.preview("customers", "u.csv", csvUTF8("external_id;first_name", "K-1;Moritz", "K-2;Erika", "K-3;Neu"), map[string]string{"mode": "update"})
	wantCounts(t, "preview", im.Counts, store.Counts{Rows: 3, Create: 1, Update: 2})
	if _, err := f.db.ExecContext(f.ctx, `DELETE FROM customers WHERE id = $1`, gone); err != nil {
		t.Fatal(err)
	}
	im = f.apply(im.ID, false)
	wantCounts(t, "apply", im.Counts, store.Counts{Rows: 3, Create: 2, Update: 1})
	if c := f.byExt(f.acct, "K-1"); c.ID == gone || str(c.FirstName) != "Moritz" {
		t.Errorf("K-1 after its customer was deleted: %+v", c)
	}
	if c := f.byExt(f.acct, "K-2"); str(c.FirstName) != "Erika" {
		t.Errorf("K-2: %+v", c)
	}
}
