package sheet

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

// writeBook builds a workbook with fill and saves it into a temp dir.
func writeBook(t testing.TB, fill func(f *excelize.File)) string {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	fill(f)
	path := filepath.Join(t.TempDir(), "book.xlsx")
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// zipPart returns one decompressed part of the package at path.
func zipPart(t *testing.T, path, name string) string {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	rc, err := zr.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func readXLSX(t *testing.T, path string, opts Options) []Row {
	t.Helper()
	r, err := OpenXLSX(path, opts)
	if err != nil {
		t.Fatalf("OpenXLSX: %v", err)
	}
	return readAll(t, r)
}

func TestXLSXSharedStrings(t *testing.T) {
	path := writeBook(t, func(f *excelize.File) {
		must(t, f.SetSheetRow("Sheet1", "A1", &[]any{"Name", "Kundennummer", "Betrag", "Aktiv", "Fehler", "PLZ"}))
		must(t, f.SetSheetRow("Sheet1", "A2", &[]any{"Müller", 1200100123, 12.5, true, "#N/A", "01067"}))
		must(t, f.SetCellValue("Sheet1", "C3", "  Straße  "))
	})
	if !strings.Contains(zipPart(t, path, "xl/sharedStrings.xml"), "Müller") {
		t.Fatal("test setup: expected Müller in the shared strings")
	}
	want := []Row{
		{Num: 1, Cells: []Cell{{Kind: Text, Value: "Name"}, {Kind: Text, Value: "Kundennummer"}, {Kind: Text, Value: "Betrag"}, {Kind: Text, Value: "Aktiv"}, {Kind: Text, Value: "Fehler"}, {Kind: Text, Value: "PLZ"}}},
		{Num: 2, Cells: []Cell{{Kind: Text, Value: "Müller"}, {Kind: Number, Value: "1200100123"}, {Kind: Number, Value: "12.5"},
			{Kind: Bool, Value: "1"},    // a boolean (t="b"), raw value "1"
			{Kind: Text, Value: "#N/A"}, // typed as a string, so text (Excel's error cells are t="e")
			{Kind: Text, Value: "01067"}}},
		{Num: 3, Cells: []Cell{{}, {}, {Kind: Text, Value: "  Straße  "}}},
	}
	if got := readXLSX(t, path, Options{}); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}

	// With no memory for shared strings the reader spools them to a temp
	// file and reads them from there; the result must not change.
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where the reader puts its temp file
	lim := defaultXLSXLimits()
	lim.sstMemBytes = 1
	r, err := openXLSX(path, Options{}, lim)
	if err != nil {
		t.Fatal(err)
	}
	if spooled, _ := os.ReadDir(tmp); len(spooled) < 1 {
		t.Errorf("expected the shared strings spooled, temp dir has %d files", len(spooled))
	}
	if got := readAll(t, r); !reflect.DeepEqual(got, want) {
		t.Errorf("spooled: got  %+v\nwant %+v", got, want)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("Close left %d temp files", len(left))
	}
}

func TestXLSXStreamWriterInlineStrings(t *testing.T) {
	path := writeBook(t, func(f *excelize.File) {
		sw, err := f.NewStreamWriter("Sheet1")
		must(t, err)
		must(t, sw.SetRow("A1", []any{"Zähler", "Stand"}))
		must(t, sw.SetRow("A2", []any{"Wasser", 123.25}))
		must(t, sw.SetRow("A4", []any{nil, "nur B"}))
		must(t, sw.Flush())
	})
	if !strings.Contains(zipPart(t, path, "xl/worksheets/sheet1.xml"), `t="inlineStr"`) {
		t.Fatal("test setup: expected inline strings")
	}
	got := values(readXLSX(t, path, Options{}))
	want := map[int][]string{1: {"Zähler", "Stand"}, 2: {"Wasser", "123.25"}, 4: {"", "nur B"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestXLSXNumbersRaw(t *testing.T) {
	path := writeBook(t, func(f *excelize.File) {
		style, err := f.NewStyle(&excelize.Style{CustomNumFmt: ptr("00000000000000000000")})
		must(t, err)
		must(t, f.SetCellValue("Sheet1", "A1", 1200100123))
		must(t, f.SetCellStyle("Sheet1", "A1", "A1", style))
		must(t, f.SetCellValue("Sheet1", "B1", 1200100123))
		// How Excel stores a 20-digit number typed into a cell.
		must(t, f.SetCellDefault("Sheet1", "C1", "1.2345678901234567E+19"))
		must(t, f.SetCellValue("Sheet1", "D1", 12.5))
		must(t, f.SetCellValue("Sheet1", "E1", -0.001))
		must(t, f.SetCellValue("Sheet1", "F1", float64(12345678901234567890)))
	})
	rows := readXLSX(t, path, Options{})
	if len(rows) != 1 {
		t.Fatalf("got %d rows", len(rows))
	}
	want := []string{"1200100123", "1200100123", "1.2345678901234567E+19", "12.5", "-0.001", "12345678901234567000"}
	for i, c := range rows[0].Cells {
		format := ""
		if i == 0 {
			format = "00000000000000000000" // the reader now knows the style's format
		}
		if c.Kind != Number || c.Value != want[i] || c.Format != format {
			t.Errorf("cell %d: got %+v, want Number %q format %q", i, c, want[i], format)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestXLSXSheetByName(t *testing.T) {
	path := writeBook(t, func(f *excelize.File) {
		must(t, f.SetCellValue("Sheet1", "A1", "erstes"))
		_, err := f.NewSheet("Zähler 2024")
		must(t, err)
		must(t, f.SetCellValue("Zähler 2024", "A1", "zweites"))
	})
	for _, name := range []string{"Zähler 2024", "ZÄHLER 2024"} {
		got := values(readXLSX(t, path, Options{Sheet: name}))
		if !reflect.DeepEqual(got, map[int][]string{1: {"zweites"}}) {
			t.Errorf("%s: got %v", name, got)
		}
	}
	if got := values(readXLSX(t, path, Options{})); !reflect.DeepEqual(got, map[int][]string{1: {"erstes"}}) {
		t.Errorf("first sheet: got %v", got)
	}
	_, err := OpenXLSX(path, Options{Sheet: "Mieter"})
	wantFileError(t, err, CodeSheetNotFound, "„Mieter“", "„Sheet1“, „Zähler 2024“")
}

func TestXLSXRowNumbersWithGaps(t *testing.T) {
	path := writeBook(t, func(f *excelize.File) {
		must(t, f.SetCellValue("Sheet1", "A1", "Kopf"))
		must(t, f.SetCellValue("Sheet1", "B2", 2))
		must(t, f.SetCellValue("Sheet1", "A3", "   ")) // whitespace only: passed over
		must(t, f.SetCellValue("Sheet1", "C5", "fünf"))
		must(t, f.SetCellValue("Sheet1", "A1000", "tausend"))
	})
	got := readXLSX(t, path, Options{})
	if n := nums(got); !reflect.DeepEqual(n, []int{1, 2, 5, 1000}) {
		t.Errorf("row numbers %v", n)
	}
	if c := got[2].Cells; len(c) != 3 || c[2].Value != "fünf" {
		t.Errorf("row 5 cells %+v", c)
	}

	// Data starting below row 1.
	path = writeBook(t, func(f *excelize.File) {
		must(t, f.SetCellValue("Sheet1", "A3", "drei"))
		must(t, f.SetCellValue("Sheet1", "A4", "vier"))
	})
	if n := nums(readXLSX(t, path, Options{})); !reflect.DeepEqual(n, []int{3, 4}) {
		t.Errorf("row numbers %v", n)
	}
}

func TestXLSXTrailingFormattedEmptyRows(t *testing.T) {
	path := writeBook(t, func(f *excelize.File) {
		must(t, f.SetSheetRow("Sheet1", "A1", &[]any{"Name", "Wert"}))
		must(t, f.SetSheetRow("Sheet1", "A2", &[]any{"a", 1}))
		style, err := f.NewStyle(&excelize.Style{Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"FFFF00"}}})
		must(t, err)
		must(t, f.SetCellStyle("Sheet1", "A3", "Z2000", style))
	})
	if !strings.Contains(zipPart(t, path, "xl/worksheets/sheet1.xml"), `<row r="2000"`) {
		t.Fatal("test setup: expected styled rows up to 2000")
	}
	if n := nums(readXLSX(t, path, Options{})); !reflect.DeepEqual(n, []int{1, 2}) {
		t.Errorf("row numbers %v", n)
	}
}

func TestXLSXEmpty(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.xlsx")
	must(t, os.WriteFile(empty, nil, 0o600))
	_, err := OpenXLSX(empty, Options{})
	wantFileError(t, err, CodeEmptyFile)

	noRows := writeBook(t, func(f *excelize.File) {
		style, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
		must(t, err)
		must(t, f.SetCellStyle("Sheet1", "A1", "C10", style))
	})
	_, err = OpenXLSX(noRows, Options{})
	wantFileError(t, err, CodeEmptyFile, "„Sheet1“")
}

func TestXLSXNotXLSX(t *testing.T) {
	dir := t.TempDir()
	var zipBuf bytes.Buffer
	zw := zip.NewWriter(&zipBuf)
	w, err := zw.Create("hello.txt")
	must(t, err)
	_, err = w.Write([]byte("hallo"))
	must(t, err)
	must(t, zw.Close())

	for name, content := range map[string][]byte{
		"pdf":   []byte("%PDF-1.4\n%âãÏÓ\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"),
		"text":  []byte("Name;Ort\nMüller;Köln\n"),
		"tiny":  []byte("PK"),
		"zip":   zipBuf.Bytes(),
		"ascii": []byte(strings.Repeat("x", 10000)),
	} {
		path := filepath.Join(dir, name+".xlsx")
		must(t, os.WriteFile(path, content, 0o600))
		_, err := OpenXLSX(path, Options{})
		wantFileError(t, err, CodeNotXLSX, "keine gültige .xlsx-Datei")
	}
}

func TestXLSXTruncated(t *testing.T) {
	path := writeBook(t, func(f *excelize.File) {
		for i := 1; i <= 500; i++ {
			must(t, f.SetSheetRow("Sheet1", fmt.Sprintf("A%d", i), &[]any{"Zeile", i}))
		}
	})
	b, err := os.ReadFile(path)
	must(t, err)
	must(t, os.WriteFile(path, b[:len(b)/2], 0o600))
	_, err = OpenXLSX(path, Options{})
	wantFileError(t, err, CodeCorrupt, "beschädigt")
}

func TestXLSXEncrypted(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "fake.xlsx")
	must(t, os.WriteFile(fake, append([]byte(oleHeader), make([]byte, 600)...), 0o600))
	_, err := OpenXLSX(fake, Options{})
	wantFileError(t, err, CodeEncrypted, "Kennwort")

	// A real encrypted workbook, as excelize writes it.
	f := excelize.NewFile()
	must(t, f.SetCellValue("Sheet1", "A1", "geheim"))
	real := filepath.Join(dir, "real.xlsx")
	must(t, f.SaveAs(real, excelize.Options{Password: "passwort"}))
	must(t, f.Close())
	_, err = OpenXLSX(real, Options{})
	wantFileError(t, err, CodeEncrypted, "Kennwort")

	// An old .xls is an OLE file too, with a stream named Workbook. Fake one
	// by renaming the stream EncryptedPackage (same length in the directory
	// entry's UTF-16 name, padded with NULs).
	b, err := os.ReadFile(real)
	must(t, err)
	from, to := utf16le("EncryptedPackage"), utf16le("Workbook\x00\x00\x00\x00\x00\x00\x00\x00")
	i := bytes.Index(b, from)
	if i < 0 {
		t.Fatal("test setup: no EncryptedPackage stream")
	}
	copy(b[i:], to)
	b[i+64], b[i+65] = byte(len(utf16le("Workbook"))+2), 0 // name length incl. terminator
	xls := filepath.Join(dir, "old.xlsx")
	must(t, os.WriteFile(xls, b, 0o600))
	_, err = OpenXLSX(xls, Options{})
	wantFileError(t, err, CodeNotXLSX, "(.xls)")
}

func utf16le(s string) []byte {
	b := make([]byte, 0, 2*len(s))
	for _, c := range []byte(s) {
		b = append(b, c, 0)
	}
	return b
}

func TestXLSXZipBomb(t *testing.T) {
	// About 5 MB of sheet XML that compresses to a few KB.
	path := writeBook(t, func(f *excelize.File) {
		sw, err := f.NewStreamWriter("Sheet1")
		must(t, err)
		for i := 1; i <= 100_000; i++ {
			must(t, sw.SetRow(fmt.Sprintf("A%d", i), []any{0, 0}))
		}
		must(t, sw.Flush())
	})
	if st, _ := os.Stat(path); st.Size() > 1<<20 {
		t.Fatalf("test setup: compressed size %d", st.Size())
	}
	// Total decompressed size over the limit.
	lim := defaultXLSXLimits()
	lim.unzipBytes = 1 << 20
	_, err := openXLSX(path, Options{}, lim)
	wantFileError(t, err, CodeTooLarge, "zu groß")
	// The sheet streams, however large: a tiny limit on the parts read
	// whole (workbook, relationships, styles) does not concern it…
	lim = defaultXLSXLimits()
	lim.metaBytes = 64 << 10
	r, err := openXLSX(path, Options{}, lim)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(readAll(t, r)); n != 100_000 {
		t.Errorf("got %d rows", n)
	}
	// … but refuses a styles.xml beyond it.
	lim.metaBytes = 1 << 10
	_, err = openXLSX(path, Options{}, lim)
	wantFileError(t, err, CodeTooLarge, "zu groß")
}

// numberSyntax judges only <v> of number cells (the file says the cell is
// a number); text is never guessed to be a number any more.
func TestNumberSyntax(t *testing.T) {
	for _, v := range []string{"0", "-0", "1", "12.5", "-0.001", "1200100123", "1.2345678901234567E+19", "1E-7", "3e5", "0.5", "01067", ".5", "1.", "+1"} {
		if !numberSyntax([]byte(v)) {
			t.Errorf("%q: want number", v)
		}
	}
	for _, v := range []string{"", "-", ".", "1e", "1e+", "Inf", "NaN", "0x1F", "1_000", " 1", "1 ", "1,5", "12a", "--1"} {
		if numberSyntax([]byte(v)) {
			t.Errorf("%q: want no number", v)
		}
	}
}

func BenchmarkXLSX(b *testing.B) {
	path := writeBook(b, func(f *excelize.File) {
		sw, err := f.NewStreamWriter("Sheet1")
		must(b, err)
		for i := 1; i <= 100_000; i++ {
			must(b, sw.SetRow(fmt.Sprintf("A%d", i), []any{"Mieter " + fmt.Sprint(i%977), 1200100000 + i, 12.5, "Hauptstraße 1"}))
		}
		must(b, sw.Flush())
	})
	b.ResetTimer()
	for b.Loop() {
		r, err := OpenXLSX(path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if n := readRows(b, r); n != 100_000 {
			b.Fatalf("rows %d", n)
		}
	}
}

// rewritePart copies the package at path with edit applied to one part.
func rewritePart(t *testing.T, path, name string, edit func(string) string) string {
	t.Helper()
	zr, err := zip.OpenReader(path)
	must(t, err)
	defer zr.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, zf := range zr.File {
		rc, err := zf.Open()
		must(t, err)
		b, err := io.ReadAll(rc)
		must(t, err)
		must(t, rc.Close())
		if zf.Name == name {
			b = []byte(edit(string(b)))
		}
		w, err := zw.Create(zf.Name)
		must(t, err)
		_, err = w.Write(b)
		must(t, err)
	}
	must(t, zw.Close())
	out := filepath.Join(t.TempDir(), "edited.xlsx")
	must(t, os.WriteFile(out, buf.Bytes(), 0o600))
	return out
}

func TestXLSXCorruptContent(t *testing.T) {
	path := writeBook(t, func(f *excelize.File) {
		must(t, f.SetSheetRow("Sheet1", "A1", &[]any{"a", "b"}))
		must(t, f.SetSheetRow("Sheet1", "A2", &[]any{"c", "d"}))
		must(t, f.SetSheetRow("Sheet1", "A3", &[]any{"e", "f"}))
	})
	broken := rewritePart(t, path, "xl/workbook.xml", func(s string) string { return s[:len(s)/2] })
	_, err := OpenXLSX(broken, Options{})
	fe := wantFileError(t, err, CodeCorrupt)
	if fe.Unwrap() == nil || fe.Error() != fe.Message {
		t.Errorf("FileError %#v: want cause and Error() = Message", fe)
	}

	badRef := rewritePart(t, path, "xl/worksheets/sheet1.xml", func(s string) string {
		return strings.Replace(s, `r="B3"`, `r="3B"`, 1)
	})
	r, err := OpenXLSX(badRef, Options{})
	must(t, err)
	defer r.Close()
	for range 2 {
		_, err = r.Next()
		must(t, err)
	}
	_, err = r.Next()
	wantFileError(t, err, CodeCorrupt, "ab Zeile 3")
}

// A workbook whose first sheet is empty says where the data is.
func TestXLSXEmptyFirstSheetNamesTheSheetsWithData(t *testing.T) {
	path := writeBook(t, func(f *excelize.File) {
		_, err := f.NewSheet("Mieter 2026")
		must(t, err)
		_, err = f.NewSheet("Leer")
		must(t, err)
		must(t, f.SetCellValue("Mieter 2026", "A1", "Nutzerfremdnummer"))
		must(t, f.SetCellValue("Mieter 2026", "A2", "00000000001200100300"))
	})
	_, err := OpenXLSX(path, Options{})
	fe := wantFileError(t, err, CodeEmptyFile, "„Sheet1“", "„Mieter 2026“", "sheet")
	if strings.Contains(fe.Message, "Leer") {
		t.Errorf("the message names an empty sheet: %s", fe.Message)
	}
	// Named, the data sheet reads.
	if rows := readXLSX(t, path, Options{Sheet: "Mieter 2026"}); len(rows) != 2 {
		t.Errorf("%d rows on the named sheet", len(rows))
	}
}
