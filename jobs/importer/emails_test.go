package importer_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"portalwerk/jobs/importer"
	"portalwerk/jobs/sheet"
	"portalwerk/store"
)

// key is a Nutzerfremdnummer as stored: 20 digits.
func key(n int64) string { return fmt.Sprintf("%020d", n) }

var emailsHeader = []any{"Nutzerfremdnummer", "E-Mail"}

func TestEmailsFillEmptyOverwriteSkip(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	noMail := f.addCustomer(f.acct, map[string]any{"external_id": key(1)})
	hasMail := f.addCustomer(f.acct, map[string]any{"external_id": key(2), "email": "old@x.de"})
	keepMail := f.addCustomer(f.acct, map[string]any{"external_id": key(3), "email": "keep@x.de"})
	stayEmpty := f.addCustomer(f.acct, map[string]any{"external_id": key(4)})
	file := xlsxFile(t, [][]any{
		emailsHeader,
		{key(1), " Anna.Berg@Example.DE "},
		{key(2), "new@x.de"},
		{key(3), ""},
		{key(4)},
	})

	im := f.preview("emails", "nutzer.xlsx", file, nil)
	if im.Options["email_mode"] != "fill_empty" {
		t.Errorf("default email_mode = %q", im.Options["email_mode"])
	}
	forecast := store.Counts{Rows: 4, Update: 1, Unchanged: 1, Skip: 2}
	wantCounts(t, "fill_empty preview", im.Counts, forecast)
	if got := f.customer(noMail).Email; got != nil {
		t.Fatalf("preview wrote an e-mail: %s", *got)
	}
	im = f.apply(im.ID, false)
	wantCounts(t, "fill_empty apply", im.Counts, forecast)
	for id, want := range map[int64]string{noMail: "Anna.Berg@example.de", hasMail: "old@x.de", keepMail: "keep@x.de", stayEmpty: "<nil>"} {
		if got := str(f.customer(id).Email); got != want {
			t.Errorf("fill_empty: customer %d e-mail %s, want %s", id, got, want)
		}
	}

	im = f.preview("emails", "nutzer.xlsx", file, map[string]string{"email_mode": "overwrite"})
	forecast = store.Counts{Rows: 4, Update: 1, Unchanged: 1, Skip: 2}
	wantCounts(t, "overwrite preview", im.Counts, forecast)
	im = f.apply(im.ID, false)
	wantCounts(t, "overwrite apply", im.Counts, forecast)
	for id, want := range map[int64]string{noMail: "Anna.Berg@example.de", hasMail: "new@x.de", keepMail: "keep@x.de", stayEmpty: "<nil>"} {
		if got := str(f.customer(id).Email); got != want {
			t.Errorf("overwrite: customer %d e-mail %s, want %s", id, got, want)
		}
	}

	// The same file once more changes nothing in either mode.
	for _, mode := range []string{"overwrite", "fill_empty"} {
		before := f.snapshot()
		im = f.run("emails", "nutzer.xlsx", file, map[string]string{"email_mode": mode}, false)
		wantCounts(t, "again "+mode, im.Counts, store.Counts{Rows: 4, Unchanged: 2, Skip: 2})
		if after := f.snapshot(); after != before {
			t.Errorf("re-import %s changed data:\n%s\n---\n%s", mode, before, after)
		}
	}
}

func TestEmailsReimportChangesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const n = 40
	if _, err := f.db.ExecContext(f.ctx, `INSERT INTO customers (tenant_id, account_id, external_id)
		SELECT $1, $2, lpad(i::text, 20, '0') FROM generate_series(1, $3) i`, f.acct.TenantID, f.acct.ID, n); err != nil {
		t.Fatal(err)
	}
	lines := []string{"Nutzerfremdnummer;E-Mail"}
	for i := 1; i <= n; i++ {
		lines = append(lines, fmt.Sprintf("%d;bewohner%d@Hausverwaltung.DE", i, i))
	}
	file := csvUTF8(lines...)

	im := f.run("emails", "mails.csv", file, nil, false)
	wantCounts(t, "first", im.Counts, store.Counts{Rows: n, Update: n})
	var stored int
	if err := f.db.GetContext(f.ctx, &stored, `SELECT count(*) FROM customers WHERE account_id = $1
		AND email = 'bewohner' || ltrim(external_id, '0') || '@hausverwaltung.de'`, f.acct.ID); err != nil {
		t.Fatal(err)
	}
	if stored != n {
		t.Errorf("%d of %d e-mails stored with lower-cased domain", stored, n)
	}
	before := f.snapshot()
	for _, mode := range []string{"fill_empty", "overwrite"} {
		im = f.run("emails", "mails.csv", file, map[string]string{"email_mode": mode}, false)
		wantCounts(t, "second "+mode, im.Counts, store.Counts{Rows: n, Unchanged: n})
	}
	if after := f.snapshot(); after != before {
		t.Error("re-import changed data")
	}
}

func TestEmailsRowErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c1 := f.addCustomer(f.acct, map[string]any{"external_id": key(1)})
	c2 := f.addCustomer(f.acct, map[string]any{"external_id": key(2)})
	c3 := f.addCustomer(f.acct, map[string]any{"external_id": key(3)})
	trashed := f.addCustomer(f.acct, map[string]any{"external_id": key(4)})
	if _, err := f.db.ExecContext(f.ctx, `UPDATE customers SET deleted_at = now() WHERE id = $1`, trashed); err != nil {
		t.Fatal(err)
	}
	other := f.account("maier")
	f.addCustomer(other, map[string]any{"external_id": key(5)})
	file := xlsxWith(t, [][]any{
		emailsHeader,
		{key(1), "a@b.de"},                   // 2 update
		{key(1), "c@d.de"},                   // 3 duplicate of 2
		{key(999), "x@y.de"},                 // 4 unknown
		{key(2), "not-an-email"},             // 5 invalid e-mail
		{nil, "x@y.de"},                      // 6 E-notation number (set below)
		{123.5, "x@y.de"},                    // 7 decimal number
		{"12AB", "x@y.de"},                   // 8 letters
		{"123456789012345678901", "x@y.de"},  // 9 21 digits
		{"1", "e@f.de"},                      // 10 duplicate of 2 once padded
		{key(3), "a@b.de; c@d.de"},           // 11 two addresses
		{key(2), "two@x.de"},                 // 12 duplicate of 5
		{key(4), "t@x.de"},                   // 13 only in the trash
		{key(5), "m@x.de"},                   // 14 another account's customer
		{"1,5", "x@y.de"},                    // 15 decimal comma typed as text
		{"", "x@y.de", "Bemerkung"},          // 16 no key
		{key(6), "name@domain"},              // 17 no dot in domain
		{key(7), "Name <name@domain.de>"},    // 18 display name
		{key(8), "name@@domain.de"},          // 19
		{"1.2345678901234567E+19", "x@y.de"}, // 20 E-notation typed as text
	}, func(x *excelize.File, sheet string) {
		if err := x.SetCellDefault(sheet, "A6", "1.23456789012346E+19"); err != nil {
			t.Fatal(err)
		}
	})

	im := f.preview("emails", "fehler.xlsx", file, nil)
	wantCounts(t, "preview", im.Counts, store.Counts{Rows: 19, Update: 1, Errors: 18})
	errs := f.errors(im.ID)
	const nfn, mail = "Nutzerfremdnummer", "E-Mail"
	wantErrors(t, errs, []errKey{
		{3, nfn, key(1), "duplicate_key"},
		{4, nfn, key(999), "unknown_key"},
		{5, mail, "not-an-email", "invalid_email"},
		{6, nfn, "1.23456789012346E+19", "key_not_text"},
		{7, nfn, "123.5", "key_not_text"},
		{8, nfn, "12AB", "invalid_key"},
		{9, nfn, "123456789012345678901", "invalid_key"},
		{10, nfn, key(1), "duplicate_key"},
		{11, mail, "a@b.de; c@d.de", "invalid_email"},
		{12, nfn, key(2), "duplicate_key"},
		{13, nfn, key(4), "unknown_key"},
		{14, nfn, key(5), "unknown_key"},
		{15, nfn, "1,5", "key_not_text"},
		{16, nfn, "", "invalid_key"},
		{17, mail, "name@domain", "invalid_email"},
		{18, mail, "Name <name@domain.de>", "invalid_email"},
		{19, mail, "name@@domain.de", "invalid_email"},
		{20, nfn, "1.2345678901234567E+19", "key_not_text"},
	})
	for _, e := range errs {
		switch e.Row {
		case 3, 10:
			if !strings.Contains(e.Message, "Zeile 2") {
				t.Errorf("row %d: duplicate message does not name row 2: %s", e.Row, e.Message)
			}
		case 12:
			if !strings.Contains(e.Message, "Zeile 5") {
				t.Errorf("row 12: duplicate message does not name row 5: %s", e.Message)
			}
		case 6, 7:
			if !strings.Contains(e.Message, "als Text") {
				t.Errorf("row %d: key_not_text message does not tell to format as text: %s", e.Row, e.Message)
			}
		}
	}

	before := f.snapshot()
	// Without skip_invalid_rows an import with row errors must not apply.
	if err := store.ConfirmImport(f.ctx, f.db, im.ID, false); err != nil {
		t.Fatal(err)
	}
	var fe *importer.FileError
	if err := f.eng.Apply(f.ctx, im.ID); !errors.As(err, &fe) || fe.Code != "invalid_rows" {
		t.Errorf("apply of an import with row errors but without skip_invalid: %v", err)
	}
	if f.snapshot() != before {
		t.Fatal("refused apply changed data")
	}
	if f.stagingExists(im.ID) {
		t.Error("staging table of the refused import left behind")
	}

	im = f.run("emails", "fehler.xlsx", file, nil, true)
	wantCounts(t, "apply", im.Counts, store.Counts{Rows: 19, Update: 1, Errors: 18})
	if got := str(f.customer(c1).Email); got != "a@b.de" {
		t.Errorf("key 1 e-mail %s", got)
	}
	if f.customer(c2).Email != nil || f.customer(c3).Email != nil || f.customer(trashed).Email != nil {
		t.Error("an invalid row was applied")
	}
	if len(f.errors(im.ID)) != len(errs) {
		t.Errorf("apply changed the row errors: %d, were %d", len(f.errors(im.ID)), len(errs))
	}
}

func TestEmailsDuplicateMarksEveryLaterOccurrence(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addCustomer(f.acct, map[string]any{"external_id": key(7)})
	im := f.preview("emails", "dup.csv", csvUTF8("Nutzerfremdnummer;E-Mail", "7;a@x.de", "0007;b@x.de", "7;", "000 7;d@x.de"), nil)
	wantCounts(t, "preview", im.Counts, store.Counts{Rows: 4, Update: 1, Errors: 3})
	errs := f.errors(im.ID)
	wantErrors(t, errs, []errKey{{3, "Nutzerfremdnummer", key(7), "duplicate_key"}, {4, "Nutzerfremdnummer", key(7), "duplicate_key"}, {5, "Nutzerfremdnummer", key(7), "duplicate_key"}})
	for _, e := range errs {
		if !strings.Contains(e.Message, "Zeile 2") {
			t.Errorf("row %d: %s", e.Row, e.Message)
		}
	}
}

func TestEmailsKeyNormalisation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ids := map[int64]int64{}
	for _, n := range []int64{1200100123, 1200100124, 1200100125, 1200100126, 42} {
		ids[n] = f.addCustomer(f.acct, map[string]any{"external_id": key(n)})
	}
	file := xlsxWith(t, [][]any{
		emailsHeader,
		{1200100123, "a@x.de"},                 // number, General format
		{1200100124, "b@x.de"},                 // number formatted with 20 zeros
		{"0000 0000 0012 0010 0125", "c@x.de"}, // text with spaces
		{"1200100126", "d@x.de"},               // short text
		{" 00000000000000000042 ", "e@x.de"},   // full text, padded with blanks
	}, func(x *excelize.File, sheet string) {
		format := "00000000000000000000"
		style, err := x.NewStyle(&excelize.Style{CustomNumFmt: &format})
		if err != nil {
			t.Fatal(err)
		}
		if err := x.SetCellStyle(sheet, "A3", "A3", style); err != nil {
			t.Fatal(err)
		}
	})
	im := f.run("emails", "nummern.xlsx", file, nil, false)
	wantCounts(t, "apply", im.Counts, store.Counts{Rows: 5, Update: 5})
	for n, want := range map[int64]string{1200100123: "a@x.de", 1200100124: "b@x.de", 1200100125: "c@x.de", 1200100126: "d@x.de", 42: "e@x.de"} {
		if got := str(f.customer(ids[n]).Email); got != want {
			t.Errorf("key %d: e-mail %s, want %s", n, got, want)
		}
	}
}

func TestEmailsHeaderAliasesAndCSV(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for i := int64(1); i <= 6; i++ {
		f.addCustomer(f.acct, map[string]any{"external_id": key(i)})
	}
	// xlsx: aliases in any case, blanks around them, an unknown column in between.
	x := xlsxFile(t, [][]any{
		{"  nutzer-fremdnummer ", "Bemerkung", "  e-mail-adresse "},
		{key(1), "egal", "eins@x.de"},
	})
	im := f.run("emails", "alias.xlsx", x, nil, false)
	wantCounts(t, "xlsx", im.Counts, store.Counts{Rows: 1, Update: 1})

	// German Excel csv: Windows-1252, ';', a quoted cell spanning lines, an umlaut.
	c := csv1252(t,
		"User Foreign Number;Name;EMAIL",
		`2;"Müller`+"\r\n"+`Haus 2; Hinterhaus";zwei@x.de`,
		"3;Jäger;drei@x.de",
		"4;Öztürk;kaputt",
	)
	im = f.run("emails", "export.csv", c, nil, true)
	wantCounts(t, "csv 1252", im.Counts, store.Counts{Rows: 3, Update: 2, Errors: 1})
	wantErrors(t, f.errors(im.ID), []errKey{{4, "EMAIL", "kaputt", "invalid_email"}})

	// UTF-8 with BOM, ',' and the plain field names.
	im = f.run("emails", "utf8.csv", csvUTF8("external_id,E-mail", "5,fünf@x.de", "6,\"sechs@x.de\""), nil, false)
	wantCounts(t, "csv utf-8", im.Counts, store.Counts{Rows: 2, Update: 2})

	for i, want := range []string{"eins@x.de", "zwei@x.de", "drei@x.de", "<nil>", "fünf@x.de", "sechs@x.de"} {
		if got := str(f.byExt(f.acct, key(int64(i+1))).Email); got != want {
			t.Errorf("key %d: e-mail %s, want %s", i+1, got, want)
		}
	}
}

func TestEmailsFileErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addCustomer(f.acct, map[string]any{"external_id": key(1)})
	before := f.snapshot()

	fe := f.fileError("emails", "ohne.xlsx", xlsxFile(t, [][]any{{"Nutzerfremdnummer", "Name"}, {key(1), "x"}}), nil)
	if fe.Code != "missing_column" || !strings.Contains(fe.Message, "E-Mail") {
		t.Errorf("missing e-mail column: %s %q", fe.Code, fe.Message)
	}
	fe = f.fileError("emails", "ohne.csv", csvUTF8("Name;E-Mail", "x;a@x.de"), nil)
	if fe.Code != "missing_column" || !strings.Contains(fe.Message, "Nutzerfremdnummer") {
		t.Errorf("missing key column: %s %q", fe.Code, fe.Message)
	}
	fe = f.fileError("emails", "kopf.xlsx", xlsxFile(t, [][]any{emailsHeader}), nil)
	if fe.Code != "no_rows" {
		t.Errorf("header-only xlsx: %s %q", fe.Code, fe.Message)
	}
	fe = f.fileError("emails", "kopf.csv", csvUTF8("Nutzerfremdnummer;E-Mail", ";", ""), nil)
	if fe.Code != "no_rows" {
		t.Errorf("header-only csv: %s %q", fe.Code, fe.Message)
	}
	pdf := []byte("%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
	fe = f.fileError("emails", "nutzer.xlsx", pdf, nil)
	if fe.Code != "not_xlsx" || !strings.Contains(fe.Message, ".xlsx") {
		t.Errorf("renamed pdf: %s %q", fe.Code, fe.Message)
	}
	// The user sees the sentence; the log gets the reader's cause as well.
	var se *sheet.FileError
	if !errors.As(fe, &se) || se.Code != "not_xlsx" || se.Err == nil || fe.Error() != fe.Message {
		t.Errorf("renamed pdf: the cause was dropped: %#v", fe.Err)
	}
	fe = f.fileError("emails", "leer.csv", nil, nil)
	if fe.Code != "empty_file" {
		t.Errorf("empty csv: %s %q", fe.Code, fe.Message)
	}
	fe = f.fileError("emails", "blatt.xlsx", xlsxFile(t, [][]any{emailsHeader, {key(1), "a@x.de"}}), map[string]string{"sheet": "Nutzer"})
	if fe.Code != "sheet_not_found" {
		t.Errorf("unknown sheet: %s %q", fe.Code, fe.Message)
	}
	fe = f.fileError("emails", "doppelt.csv", csvUTF8("Nutzerfremdnummer;E-Mail;external_id", "1;a@x.de;1"), nil)
	if fe.Code != "duplicate_column" {
		t.Errorf("key column twice: %s %q", fe.Code, fe.Message)
	}
	if f.snapshot() != before {
		t.Error("a failed preview changed data")
	}
}

func TestEmailsBlankRows(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addCustomer(f.acct, map[string]any{"external_id": key(1)})
	f.addCustomer(f.acct, map[string]any{"external_id": key(2)})
	file := xlsxWith(t, [][]any{
		nil,
		emailsHeader, // row 2: the header need not be the first row
		{key(1), "a@x.de"},
		nil,
		{"", " "},
		{key(9), "b@x.de"}, // row 6
		nil,
		{key(2), "c@x.de"}, // row 8
	}, func(x *excelize.File, sheet string) {
		// LibreOffice leaves formatted empty rows behind.
		style, err := x.NewStyle(&excelize.Style{Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"FFFF00"}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := x.SetCellStyle(sheet, "A9", "C500", style); err != nil {
			t.Fatal(err)
		}
	})
	im := f.run("emails", "luecken.xlsx", file, nil, true)
	wantCounts(t, "xlsx", im.Counts, store.Counts{Rows: 3, Update: 2, Errors: 1})
	wantErrors(t, f.errors(im.ID), []errKey{{6, "Nutzerfremdnummer", key(9), "unknown_key"}})

	c := csvUTF8("Nutzerfremdnummer;E-Mail", "", key(1)+";a@x.de", ";", "  ;  ", key(8)+";b@x.de", "")
	im = f.run("emails", "luecken.csv", c, nil, true)
	wantCounts(t, "csv", im.Counts, store.Counts{Rows: 2, Unchanged: 1, Errors: 1})
	wantErrors(t, f.errors(im.ID), []errKey{{6, "Nutzerfremdnummer", key(8), "unknown_key"}})
}

func TestEmailsWithoutHeader(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.addCustomer(f.acct, map[string]any{"external_id": key(1)})
	file := csvUTF8(key(1)+";Berg;a@x.de", key(2)+";Ohne;b@x.de", "3;Kaputt;c@")
	opts := map[string]string{"header": "false", "columns": "external_id,-,email"}
	im := f.run("emails", "ohne-kopf.csv", file, opts, true)
	wantCounts(t, "apply", im.Counts, store.Counts{Rows: 3, Update: 1, Errors: 2})
	wantErrors(t, f.errors(im.ID), []errKey{
		{2, "Nutzerfremdnummer", key(2), "unknown_key"},
		{3, "E-Mail", "c@", "invalid_email"},
	})
	if got := str(f.customer(a).Email); got != "a@x.de" {
		t.Errorf("e-mail %s", got)
	}
}

func TestEmailsApplyOnlyOnceAndOnlyWhenConfirmed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.addCustomer(f.acct, map[string]any{"external_id": key(1)})
	im := f.preview("emails", "x.xlsx", xlsxFile(t, [][]any{emailsHeader, {key(1), "a@x.de"}}), nil)
	if !f.stagingExists(im.ID) {
		t.Fatal("no staging table after preview")
	}
	// Not confirmed: Apply does nothing.
	if err := f.eng.Apply(f.ctx, im.ID); err != nil {
		t.Fatal(err)
	}
	if got := f.get(im.ID); got.Status != store.ImportPreviewed || f.customer(a).Email != nil || !f.stagingExists(im.ID) {
		t.Fatalf("apply of a previewed import acted: status %s, e-mail %s", got.Status, str(f.customer(a).Email))
	}
	// A second preview run (a retried task) leaves the previewed import alone.
	again, err := f.eng.Preview(f.ctx, im.ID)
	if err != nil || again.Status != store.ImportPreviewed || *again.Counts != *im.Counts {
		t.Fatalf("repeated preview: %v %s %v", err, again.Status, again.Counts)
	}

	done := f.apply(im.ID, false)
	if got := str(f.customer(a).Email); got != "a@x.de" {
		t.Fatalf("e-mail %s", got)
	}
	// Someone changes the address; a retried apply task must not write it again.
	if _, err := f.db.ExecContext(f.ctx, `UPDATE customers SET email = NULL WHERE id = $1`, a); err != nil {
		t.Fatal(err)
	}
	if err := f.eng.Apply(f.ctx, im.ID); err != nil {
		t.Fatal(err)
	}
	if f.customer(a).Email != nil {
		t.Error("second Apply applied again")
	}
	if got := f.get(im.ID); *got.Counts != *done.Counts || got.Status != store.ImportDone {
		t.Errorf("second Apply changed the import: %s %+v", got.Status, *got.Counts)
	}
}

func TestEmailsApplyAllOrNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for i := int64(1); i <= 3; i++ {
		f.addCustomer(f.acct, map[string]any{"external_id": key(i)})
	}
	im := f.preview("emails", "x.csv", csvUTF8("Nutzerfremdnummer;E-Mail", "1;a@x.de", "2;boom@x.de", "3;c@x.de"), nil)
	before := f.snapshot()
	remove := f.failOn(f.acct, "email", "boom@x.de")
	if err := store.ConfirmImport(f.ctx, f.db, im.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := f.eng.Apply(f.ctx, im.ID); err == nil {
		t.Fatal("apply succeeded despite the failing write")
	}
	if f.snapshot() != before {
		t.Fatal("failed apply left changes behind")
	}
	if got := f.get(im.ID); got.Status != store.ImportApplying || !f.stagingExists(im.ID) {
		t.Fatalf("after a failed apply: status %s, staging %v", got.Status, f.stagingExists(im.ID))
	}
	remove()
	// The retried task applies everything.
	if err := f.eng.Apply(f.ctx, im.ID); err != nil {
		t.Fatal(err)
	}
	got := f.get(im.ID)
	wantCounts(t, "retry", got.Counts, store.Counts{Rows: 3, Update: 3})
	if f.stagingExists(im.ID) {
		t.Error("staging table left after apply")
	}
	if str(f.byExt(f.acct, key(2)).Email) != "boom@x.de" {
		t.Error("retried apply did not write")
	}
}

func TestEmailsOnlyTargetAccount(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	maier := f.account("maier")
	mine := f.addCustomer(f.acct, map[string]any{"external_id": key(1)})
	theirs := f.addCustomer(maier, map[string]any{"external_id": key(1)})
	id := f.uploadTo(maier, "emails", "x.csv", csvUTF8("Nutzerfremdnummer;E-Mail", "1;m@x.de"), nil)
	im, err := f.eng.Preview(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	wantCounts(t, "preview", im.Counts, store.Counts{Rows: 1, Update: 1})
	f.apply(id, false)
	if f.customer(mine).Email != nil || str(f.customer(theirs).Email) != "m@x.de" {
		t.Errorf("wrong account written: huber %s, maier %s", str(f.customer(mine).Email), str(f.customer(theirs).Email))
	}
}

func TestEmailsEmptyStringCountsAsNone(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.addCustomer(f.acct, map[string]any{"external_id": key(1), "email": ""})
	im := f.run("emails", "x.csv", csvUTF8("Nutzerfremdnummer;E-Mail", "1;a@x.de"), nil, false)
	wantCounts(t, "apply", im.Counts, store.Counts{Rows: 1, Update: 1})
	if got := str(f.customer(a).Email); got != "a@x.de" {
		t.Errorf("e-mail %q", got)
	}
}

// A customer deleted between preview and apply is an unknown key at apply.
func TestEmailsCustomerGoneBeforeApply(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addCustomer(f.acct, map[string]any{"external_id": key(1)})
	gone := f.addCustomer(f.acct, map[string]any{"external_id": key(2)})
	im := f.preview("emails", "x.csv", csvUTF8("E-Mail;Nutzer-Fremdnummer", "a@x.de;1", "b@x.de;2"), nil)
	wantCounts(t, "preview", im.Counts, store.Counts{Rows: 2, Update: 2})
	if _, err := f.db.ExecContext(f.ctx, `UPDATE customers SET deleted_at = now() WHERE id = $1`, gone); err != nil {
		t.Fatal(err)
	}
	im = f.apply(im.ID, true)
	wantCounts(t, "apply", im.Counts, store.Counts{Rows: 2, Update: 1, Errors: 1})
	wantErrors(t, f.errors(im.ID), []errKey{{3, "Nutzer-Fremdnummer", key(2), "unknown_key"}})
	if f.customer(gone).Email != nil {
		t.Error("trashed customer written")
	}
}
