package importer_test

import (
	"strconv"
	"testing"

	"github.com/xuri/excelize/v2"

	"portalwerk/store"
)

// A customers import under a Nutzerfremdnummer header stores 20-digit keys, so that a
// later e-mail import finds those customers; an external_id header keeps keys as typed.
func TestCustomersNutzerfremdnummerMatchedByEmails(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for i, header := range []string{"Nutzerfremdnummer", "Nutzer-Fremdnummer", "User foreign number"} {
		n := int64(1200100300 + 10*i)
		file := xlsxFile(t, [][]any{{header, "Nachname"}, {n, "Zahl"}, {itoa(n + 1), "Text"}})
		im := f.run("customers", "kunden.xlsx", file, map[string]string{"mode": "create"}, false)
		wantCounts(t, header, im.Counts, store.Counts{Rows: 2, Create: 2})
		csv := csvUTF8(header+";Nachname", itoa(n+2)+";CSV")
		im = f.run("customers", "kunden.csv", csv, map[string]string{"mode": "create"}, false)
		wantCounts(t, header+" csv", im.Counts, store.Counts{Rows: 1, Create: 1})
		for _, k := range []int64{n, n + 1, n + 2} {
			f.byExt(f.acct, key(k))
		}
	}
	// As typed under external_id: this customer keeps "1200100399".
	im := f.run("customers", "roh.csv", csvUTF8("external_id;Nachname", "1200100399;Roh"), map[string]string{"mode": "create"}, false)
	wantCounts(t, "external_id", im.Counts, store.Counts{Rows: 1, Create: 1})
	f.byExt(f.acct, "1200100399")

	mails := csvUTF8("Nutzerfremdnummer;E-Mail", "00000000001200100300;a@x.de", "1200100311;b@x.de", "1200100322;c@x.de", "1200100399;d@x.de")
	im = f.run("emails", "mails.csv", mails, nil, true)
	wantCounts(t, "emails", im.Counts, store.Counts{Rows: 4, Update: 3, Errors: 1})
	wantErrors(t, f.errors(im.ID), []errKey{{5, "Nutzerfremdnummer", key(1200100399), "unknown_key"}})
	for k, want := range map[int64]string{1200100300: "a@x.de", 1200100311: "b@x.de", 1200100322: "c@x.de"} {
		if got := str(f.byExt(f.acct, key(k)).Email); got != want {
			t.Errorf("key %d: e-mail %s, want %s", k, got, want)
		}
	}
}

// A number cell of more than 15 digits has been rounded by Excel: key_not_text, in every
// profile; 15 digits are still exact.
func TestKeyNumberCellsOfMoreThan15Digits(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addCustomer(f.acct, map[string]any{"external_id": key(123456789012345)})
	f.addCustomer(f.acct, map[string]any{"external_id": key(1234567890123456)})
	file := xlsxFile(t, [][]any{
		emailsHeader,
		{int64(123456789012345), "a@x.de"},     // 15 digits
		{int64(1234567890123456), "b@x.de"},    // 16 digits
		{int64(1234567890123456789), "c@x.de"}, // 19 digits
		{key(1234567890123456), "d@x.de"},      // the same key as text: fine
	})
	im := f.run("emails", "lang.xlsx", file, map[string]string{"email_mode": "overwrite"}, true)
	wantCounts(t, "emails", im.Counts, store.Counts{Rows: 4, Update: 2, Errors: 2})
	wantErrors(t, f.errors(im.ID), []errKey{
		{3, "Nutzerfremdnummer", "1234567890123456", "key_not_text"},
		{4, "Nutzerfremdnummer", "1234567890123456789", "key_not_text"},
	})

	cust := xlsxFile(t, [][]any{{"external_id", "Nachname"}, {int64(1234567890123456), "Lang"}, {int64(123456789012345), "Kurz"}})
	im = f.run("customers", "lang.xlsx", cust, map[string]string{"mode": "create"}, true)
	wantCounts(t, "customers", im.Counts, store.Counts{Rows: 2, Create: 1, Errors: 1})
	wantErrors(t, f.errors(im.ID), []errKey{{2, "external_id", "1234567890123456", "key_not_text"}})
	f.byExt(f.acct, "123456789012345")
}

// Whole numbers written with a zero fraction (POI, SheetJS, pandas) are that number for
// keys, zip, portal_id and passwords.
func TestWholeNumbersWithZeroFraction(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	resident := f.addCustomer(f.acct, map[string]any{"external_id": key(31001)})
	file := xlsxWith(t, [][]any{emailsHeader, {nil, "a@x.de"}}, func(x *excelize.File, sheet string) {
		if err := x.SetCellDefault(sheet, "A2", "31001.0"); err != nil { // a number cell as POI writes it
			t.Fatal(err)
		}
	})
	im := f.run("emails", "poi.xlsx", file, nil, false)
	wantCounts(t, "emails xlsx", im.Counts, store.Counts{Rows: 1, Update: 1})
	if got := str(f.customer(resident).Email); got != "a@x.de" {
		t.Errorf("e-mail %s", got)
	}

	// pandas writes a column with gaps as floats, in csv as text.
	byPortal := f.addCustomer(f.acct, map[string]any{"external_id": "K-1"})
	cust := csvUTF8("external_id,portal_id,zip,login_id,password",
		"4711.0,,01067.0,l1,123456.0",
		"K-1,"+itoa(byPortal)+".0,31001.0,,",
	)
	im = f.run("customers", "pandas.csv", cust, map[string]string{"mode": "update"}, false)
	wantCounts(t, "customers csv", im.Counts, store.Counts{Rows: 2, Create: 1, Update: 1})
	c := f.byExt(f.acct, "4711")
	if str(c.Zip) != "01067" {
		t.Errorf("zip %s", str(c.Zip))
	}
	verifyArgon2id(t, str(c.PasswordHash), "123456")
	if got := str(f.customer(byPortal).Zip); got != "31001" {
		t.Errorf("zip %s", got)
	}

	im = f.run("customers", "portal.csv", csvUTF8("portal_id;Nachname", itoa(byPortal)+".0;Neu"), map[string]string{"mode": "update", "keys": "portal_id"}, false)
	wantCounts(t, "portal_id", im.Counts, store.Counts{Rows: 1, Update: 1})
	if got := str(f.customer(byPortal).LastName); got != "Neu" {
		t.Errorf("last name %s", got)
	}
	// A non-zero fraction stays an error.
	im = f.run("emails", "bruch.csv", csvUTF8("Nutzerfremdnummer;E-Mail", "31001.5;b@x.de", "31001,0;b@x.de"), nil, true)
	wantErrors(t, f.errors(im.ID), []errKey{{2, "Nutzerfremdnummer", "31001.5", "key_not_text"}, {3, "Nutzerfremdnummer", "31001,0", "key_not_text"}})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
