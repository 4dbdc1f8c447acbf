package sheet

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"golang.org/x/text/encoding/charmap"
)

func cp1252(t testing.TB, s string) []byte {
	t.Helper()
	b, err := charmap.Windows1252.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readCSV(t *testing.T, in []byte, opts Options) []Row {
	t.Helper()
	r, err := OpenCSV(bytes.NewReader(in), opts)
	if err != nil {
		t.Fatalf("OpenCSV: %v", err)
	}
	return readAll(t, r)
}

// readCSVErr reads until the first error other than io.EOF.
func readCSVErr(in []byte, opts Options) error {
	r, err := OpenCSV(bytes.NewReader(in), opts)
	if err != nil {
		return err
	}
	defer r.Close()
	for {
		if _, err := r.Next(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

func TestCSVUTF8WithBOM(t *testing.T) {
	rows := readCSV(t, []byte("\xEF\xBB\xBFName;Straße\r\nMüller;Hauptstraße 1\r\n"), Options{})
	want := []Row{
		{Num: 1, Cells: []Cell{{Kind: Text, Value: "Name"}, {Kind: Text, Value: "Straße"}}},
		{Num: 2, Cells: []Cell{{Kind: Text, Value: "Müller"}, {Kind: Text, Value: "Hauptstraße 1"}}},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("got %+v", rows)
	}
}

func TestCSVWindows1252(t *testing.T) {
	in := cp1252(t, "Name;Straße;Betrag\nMüller;Große Straße 5;12,50\nÖzdemir;Weg 1 ;\n")
	want := map[int][]string{1: {"Name", "Straße", "Betrag"}, 2: {"Müller", "Große Straße 5", "12,50"}, 3: {"Özdemir", "Weg 1 "}}
	for _, enc := range []string{"", "auto", "windows-1252"} {
		if got := values(readCSV(t, in, Options{Encoding: enc})); !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %v", enc, got)
		}
	}
	err := readCSVErr(in, Options{Encoding: "utf-8"})
	wantFileError(t, err, CodeBadEncoding, "Zeile 1")
}

func TestCSVLateSwitchToWindows1252(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("Name,Ort\n")
	n := 1
	for b.Len() < 100<<10 {
		n++
		fmt.Fprintf(&b, "Mieter %d,Berlin\n", n)
	}
	b.WriteString("\n") // a blank line: counts as a row
	b.Write(cp1252(t, "Müller,Straße\n"))
	rows := readCSV(t, b.Bytes(), Options{})
	last := rows[len(rows)-1]
	if last.Num != n+2 || last.Cells[0].Value != "Müller" || last.Cells[1].Value != "Straße" {
		t.Errorf("last row %+v, want Num %d", last, n+2)
	}
	if len(rows) != n+1 {
		t.Errorf("got %d rows, want %d", len(rows), n+1)
	}
}

func TestCSVMixedEncodingIsAnError(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("Name;Notiz\nMüller;\"zwei\nZeilen\"\n\nx;y\n")
	b.Write(cp1252(t, "Schröder;z\n"))
	// Rows: 1 header, 2 Müller (two lines), 3 blank, 4 x;y, 5 Schröder.
	err := readCSVErr(b.Bytes(), Options{})
	wantFileError(t, err, CodeBadEncoding, "Zeile 5", "CSV UTF-8")

	// A BOM declares UTF-8 even if nothing else is non-ASCII.
	err = readCSVErr(append([]byte("\xEF\xBB\xBFa\n"), cp1252(t, "ä\n")...), Options{})
	wantFileError(t, err, CodeBadEncoding, "Zeile 2")

	// UTF-16 with BOM is no longer an error (SPEC §3): it is read, see TestCSVUTF16.
	if got := values(readCSV(t, []byte("\xFF\xFEN\x00a\x00"), Options{})); !reflect.DeepEqual(got, map[int][]string{1: {"Na"}}) {
		t.Errorf("utf-16: got %v", got)
	}
}

func TestCSVExplicitEncodings(t *testing.T) {
	utf := []byte("Straße\n")
	if got := values(readCSV(t, utf, Options{Encoding: "UTF-8"})); !reflect.DeepEqual(got, map[int][]string{1: {"Straße"}}) {
		t.Errorf("utf-8: got %v", got)
	}
	// Taken at its word, windows-1252 turns UTF-8 into mojibake.
	if got := values(readCSV(t, utf, Options{Encoding: "windows-1252"})); !reflect.DeepEqual(got, map[int][]string{1: {"StraÃŸe"}}) {
		t.Errorf("windows-1252: got %v", got)
	}
	if _, err := OpenCSV(strings.NewReader("a"), Options{Encoding: "latin9"}); err == nil {
		t.Error("unknown encoding accepted")
	}
	if _, err := OpenCSV(strings.NewReader("a"), Options{Delimiter: ":"}); err == nil {
		t.Error("unknown delimiter accepted")
	}
}

func TestCSVDelimiters(t *testing.T) {
	for _, tc := range []struct {
		in, delim string
		want      map[int][]string
	}{
		{"a;b;c\n1;2;3\n", "", map[int][]string{1: {"a", "b", "c"}, 2: {"1", "2", "3"}}},
		{"a,b\n1,2\n", "auto", map[int][]string{1: {"a", "b"}, 2: {"1", "2"}}},
		{"a\tb\n1,5\t2\n", "", map[int][]string{1: {"a", "b"}, 2: {"1,5", "2"}}},
		{"a|b\n1|2\n", "", map[int][]string{1: {"a", "b"}, 2: {"1", "2"}}},
		{"a\tb\n1\t2\n", "tab", map[int][]string{1: {"a", "b"}, 2: {"1", "2"}}},
		{"a|b;c\n", "|", map[int][]string{1: {"a", "b;c"}}},
		// Delimiters inside quotes do not count, nor do later lines.
		{"\"x;y;z\",b\n1;2;3;4\n", "", map[int][]string{1: {"x;y;z", "b"}, 2: {"1;2;3;4"}}},
		{"\"a\nb;c;d\",e\n", "", map[int][]string{1: {"a\nb;c;d", "e"}}},
		{"nur eine Spalte\nwert\n", "", map[int][]string{1: {"nur eine Spalte"}, 2: {"wert"}}},
		{"a;b,c\n", "", map[int][]string{1: {"a", "b,c"}}}, // tie: ';'
	} {
		if got := values(readCSV(t, []byte(tc.in), Options{Delimiter: tc.delim})); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q (%q): got %v", tc.in, tc.delim, got)
		}
	}
}

func TestCSVRowNumbers(t *testing.T) {
	in := "Name;Notiz\r\n" + // 1
		"\r\n" + // 2 blank
		"Müller;\"erste Zeile\r\nzweite Zeile\r\ndritte\"\r\n" + // 3, three lines in the file
		"Schmidt;x\r\n" + // 4
		";;\r\n" + // 5 only delimiters
		"   ;\t\r\n" + // 6 only whitespace
		"\r\n" + // 7 blank
		"\"\";\"zwei\nZeilen\"\r\n" + // 8
		"Letzte;\"\"\"zitiert\"\"\"" // 9, no final newline
	rows := readCSV(t, []byte(in), Options{})
	if n := nums(rows); !reflect.DeepEqual(n, []int{1, 3, 4, 8, 9}) {
		t.Errorf("row numbers %v", n)
	}
	if v := rows[1].Cells[1].Value; v != "erste Zeile\nzweite Zeile\ndritte" {
		t.Errorf("multi-line cell %q", v)
	}
	if c := rows[3].Cells; c[0] != (Cell{}) || c[1].Kind != Text {
		t.Errorf("row 8 cells %+v", c)
	}
	if v := rows[4].Cells[1].Value; v != `"zitiert"` {
		t.Errorf("quoted quotes %q", v)
	}
}

func TestCSVMalformed(t *testing.T) {
	for in, row := range map[string]string{
		"a;b\nc;d\"e\n":                 "Zeile 2", // bare quote
		"a;b\n\n\"x\ny\";z\n\"q\"r;s\n": "Zeile 4", // text after closing quote, after a blank and a two-line row
		"a\n\"offen\nb\nc\n":            "Zeile 2", // quote never closed
	} {
		err := readCSVErr([]byte(in), Options{})
		wantFileError(t, err, CodeBadCSV, row)
	}
}

func TestCSVEmpty(t *testing.T) {
	for _, in := range []string{"", "\n\n\r\n", "\xEF\xBB\xBF", " ; \n;;\n"} {
		_, err := OpenCSV(strings.NewReader(in), Options{})
		wantFileError(t, err, CodeEmptyFile, "keine Daten")
	}
}

// TestCSVSmallReads feeds the input one byte at a time and uses cells far
// longer than the buffers, so multi-byte runes straddle every boundary.
func TestCSVSmallReads(t *testing.T) {
	long := strings.Repeat("äöü€", 50_000) // 400 KB of multi-byte UTF-8
	in := "Kopf;Wert\n" + long + ";\"" + long + "\n" + long + "\"\nEnde;1\n"
	for name, r := range map[string]io.Reader{
		"one byte": iotest.OneByteReader(strings.NewReader(in)),
		"whole":    strings.NewReader(in),
	} {
		rd, err := OpenCSV(r, Options{})
		if err != nil {
			t.Fatal(err)
		}
		rows := readAll(t, rd)
		if len(rows) != 3 || rows[1].Cells[0].Value != long || rows[1].Cells[1].Value != long+"\n"+long || rows[2].Num != 3 {
			t.Errorf("%s: got %d rows", name, len(rows))
		}
	}
	// The same with the late switch to Windows-1252.
	ascii := strings.Repeat("x", 200_000)
	in1252 := append([]byte("Kopf\n"+ascii+"\n"), cp1252(t, "Müller\n")...)
	rd, err := OpenCSV(iotest.OneByteReader(bytes.NewReader(in1252)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rows := readAll(t, rd); len(rows) != 3 || rows[2].Cells[0].Value != "Müller" {
		t.Errorf("1252: got %d rows", len(rows))
	}
}

// endless is a CSV stream that never ends, counting what is read from it.
type endless struct {
	read, row int
	pending   []byte
}

func (e *endless) Read(p []byte) (int, error) {
	if len(e.pending) == 0 {
		e.row++
		e.pending = fmt.Appendf(e.pending, "Mieter %d;Hauptstraße %d\n", e.row, e.row)
	}
	n := copy(p, e.pending)
	e.pending = e.pending[n:]
	e.read += n
	return n, nil
}

func TestCSVStreams(t *testing.T) {
	src := &endless{}
	r, err := OpenCSV(src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		row, err := r.Next()
		if err != nil || row.Num != i+1 {
			t.Fatalf("row %d: %+v, %v", i+1, row, err)
		}
	}
	if src.read > 1<<20 {
		t.Errorf("read %d bytes for 1000 rows", src.read)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkCSV(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString("Name;Kundennummer;Betrag;Straße\n")
	for i := range 100_000 {
		fmt.Fprintf(&buf, "Mieter %d;%d;12,50;\"Hauptstraße %d\"\n", i, 1200100000+i, i%300)
	}
	in := buf.Bytes()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		r, err := OpenCSV(bytes.NewReader(in), Options{})
		if err != nil {
			b.Fatal(err)
		}
		if n := readRows(b, r); n != 100_001 {
			b.Fatalf("rows %d", n)
		}
	}
}
