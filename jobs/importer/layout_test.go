package importer_test

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"unicode/utf16"

	"portalwerk/store"
)

func detectedJSON(t *testing.T, d *store.Detected) string {
	t.Helper()
	if d == nil {
		t.Fatal("no detected")
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Exports put titles and account lines above the table: the header is the first row of
// the first 20 that holds the required columns; row numbers count the rows above it.
func TestHeaderBelowTitleRows(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addCustomer(f.acct, map[string]any{"external_id": key(1)})
	f.addCustomer(f.acct, map[string]any{"external_id": key(2)})
	file := csv1252(t,
		"sep=;",
		"Hausverwaltung Müller, Nutzerliste",
		"",
		"Stand: 01.11.2026;Nutzerfremdnummer fehlt hier",
		"Nutzerfremdnummer;Name;E-Mail-Adresse;Bemerkung",
		"1;Jäger;jaeger@x.de;",
		"9;Unbekannt;u@x.de;neu",
		"2;Weiß;kaputt;",
	)
	im := f.preview("emails", "liste.csv", file, nil)
	wantCounts(t, "preview", im.Counts, store.Counts{Rows: 3, Update: 1, Errors: 2})
	wantErrors(t, f.errors(im.ID), []errKey{{7, "Nutzerfremdnummer", key(9), "unknown_key"}, {8, "E-Mail-Adresse", "kaputt", "invalid_email"}})
	want := `{"format":"csv","sheet":null,"encoding":"windows-1252","delimiter":";","header_row":5,` +
		`"columns":{"E-Mail":"E-Mail-Adresse","Nutzerfremdnummer":"Nutzerfremdnummer"},"ignored_columns":["Name","Bemerkung"]}`
	if got := detectedJSON(t, im.Detected); got != want {
		t.Errorf("detected\n got %s\nwant %s", got, want)
	}

	// The same in a workbook: the header in row 4, below a title and a blank row.
	x := xlsxFile(t, [][]any{{"Nutzerliste 2026"}, nil, {"Konto", "huber"}, {"E-Mail", "User foreign number"}, {"a@x.de", key(1)}})
	im = f.preview("emails", "liste.xlsx", x, map[string]string{"email_mode": "overwrite"})
	wantCounts(t, "xlsx", im.Counts, store.Counts{Rows: 1, Update: 1})
	want = `{"format":"xlsx","sheet":"Sheet1","encoding":null,"delimiter":null,"header_row":4,` +
		`"columns":{"E-Mail":"E-Mail","Nutzerfremdnummer":"User foreign number"},"ignored_columns":[]}`
	if got := detectedJSON(t, im.Detected); got != want {
		t.Errorf("detected\n got %s\nwant %s", got, want)
	}
	im = f.preview("emails", "liste.xlsx", x, map[string]string{"sheet": "sheet1"})
	if im.Detected.Sheet == nil || *im.Detected.Sheet != "Sheet1" {
		t.Errorf("sheet %v", im.Detected.Sheet)
	}

	// Without a header row the columns are named by position.
	im = f.preview("emails", "ohne.csv", csvUTF8("x,1,a@x.de"), map[string]string{"header": "false", "columns": "-,external_id,email"})
	want = `{"format":"csv","sheet":null,"encoding":"utf-8","delimiter":",","header_row":null,` +
		`"columns":{"E-Mail":"Spalte C","Nutzerfremdnummer":"Spalte B"},"ignored_columns":[]}`
	if got := detectedJSON(t, im.Detected); got != want {
		t.Errorf("detected\n got %s\nwant %s", got, want)
	}
}

func TestHeaderNotFound(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	before := f.snapshot()
	lines := []string{}
	for range 20 {
		lines = append(lines, "Titelzeile;x")
	}
	fe := f.fileError("emails", "tief.csv", csvUTF8(append(lines, "Nutzerfremdnummer;E-Mail", "1;a@x.de")...), nil)
	if fe.Code != "missing_column" || !strings.Contains(fe.Message, "20 Zeilen") {
		t.Errorf("header in row 21: %s %q", fe.Code, fe.Message)
	}
	// The row with most known columns is named, with what it lacks.
	id := f.upload("emails", "halb.csv", csvUTF8("Liste", "Nutzerfremdnummer;Name", "1;x"), nil)
	_, err := f.eng.Preview(f.ctx, id)
	if err == nil || !strings.Contains(err.Error(), "„E-Mail“") || !strings.Contains(err.Error(), "Zeile 2") {
		t.Errorf("missing column: %v", err)
	}
	// What was found is kept with the failed import: it shows why.
	if d := f.get(id).Detected; d == nil || *d.HeaderRow != 2 || d.Columns["Nutzerfremdnummer"] != "Nutzerfremdnummer" || *d.Delimiter != ";" {
		t.Errorf("detected of the failed import: %+v", d)
	}
	// customers: the key columns the mode matches by are required.
	fe = f.fileError("customers", "k.csv", csvUTF8("Kundenliste", "Vorname;Nachname", "A;B"), map[string]string{"mode": "update"})
	if fe.Code != "missing_column" || !strings.Contains(fe.Message, "external_id") {
		t.Errorf("customers without key: %s %q", fe.Code, fe.Message)
	}
	if f.snapshot() != before {
		t.Error("a refused file changed data")
	}
}

// Excel's "Unicode text" (UTF-16 with BOM, tabs) and old Mac line ends import as any csv.
func TestImportUTF16AndMacCSV(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addCustomer(f.acct, map[string]any{"external_id": key(1)})
	f.addCustomer(f.acct, map[string]any{"external_id": key(2)})
	units := utf16.Encode([]rune("\uFEFFNutzerfremdnummer\tE-Mail\r\n1\tjörg@x.de\r\n"))
	var b []byte
	for _, u := range units {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	im := f.run("emails", "unicode.csv", b, nil, false)
	wantCounts(t, "utf-16", im.Counts, store.Counts{Rows: 1, Update: 1})
	if d := im.Detected; *d.Encoding != "utf-16" || *d.Delimiter != "tab" {
		t.Errorf("detected %s", detectedJSON(t, d))
	}
	if got := str(f.byExt(f.acct, key(1)).Email); got != "jörg@x.de" {
		t.Errorf("e-mail %s", got)
	}
	im = f.run("emails", "mac.csv", []byte("Nutzerfremdnummer,E-Mail\r2,zwei@x.de\r3,drei@x.de\r"), nil, true)
	wantCounts(t, "mac", im.Counts, store.Counts{Rows: 2, Update: 1, Errors: 1})
	wantErrors(t, f.errors(im.ID), []errKey{{3, "Nutzerfremdnummer", key(3), "unknown_key"}})
}

// The corpus file with old Mac line ends is read through the importer's header search.
func TestImportMacCSVCorpus(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../../shared/corpus/csvkit-mac_newlines.csv")
	if err != nil {
		t.Skipf("corpus file missing: %v", err)
	}
	f := newFixture(t)
	fe := f.fileError("emails", "mac.csv", data, nil)
	if fe.Code != "missing_column" || !strings.Contains(fe.Message, "20 Zeilen") {
		t.Errorf("%s %q", fe.Code, fe.Message)
	}
	im := f.preview("customers", "mac.csv", data, map[string]string{"header": "false", "columns": "external_id,zip,city"})
	wantCounts(t, "corpus", im.Counts, store.Counts{Rows: 3, Create: 3})
}

// A NUL byte or a cell beyond Excel's 32,767 characters is a row error naming row and
// column; the other rows import (and COPY never sees the NUL).
func TestCellsNoSpreadsheetHolds(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for i := int64(1); i <= 4; i++ {
		f.addCustomer(f.acct, map[string]any{"external_id": key(i)})
	}
	long := strings.Repeat("ä", 32768)
	file := csvUTF8("Nutzerfremdnummer;E-Mail;Bemerkung",
		"1;a@x.de\x00;",
		"2;b@x.de;Notiz\x00",
		"3;c@x.de;"+long,
		"4;d@x.de;"+strings.Repeat("ö", 32767),
	)
	im := f.run("emails", "nul.csv", file, nil, true)
	wantCounts(t, "apply", im.Counts, store.Counts{Rows: 4, Update: 1, Errors: 3})
	errs := f.errors(im.ID)
	wantErrors(t, errs, []errKey{
		{2, "E-Mail", "a@x.de", "nul_byte"},
		{3, "Bemerkung", "Notiz", "nul_byte"},
		{4, "Bemerkung", strings.Repeat("ä", 100) + "…", "cell_too_long"},
	})
	if len(errs) == 3 && !strings.Contains(errs[2].Message, "32.767") {
		t.Errorf("message %q", errs[2].Message)
	}
	if f.byExt(f.acct, key(1)).Email != nil || str(f.byExt(f.acct, key(4)).Email) != "d@x.de" {
		t.Error("wrong rows applied")
	}
}
