package sheet

import (
	"bytes"
	"encoding/binary"
	"os"
	"reflect"
	"strings"
	"testing"
	"unicode/utf16"
)

func describe(t *testing.T, in []byte, opts Options) Detected {
	t.Helper()
	r, err := OpenCSV(bytes.NewReader(in), opts)
	if err != nil {
		t.Fatalf("OpenCSV: %v", err)
	}
	readAll(t, r)
	return r.Detected()
}

// A title or account line above the table does not decide the delimiter.
func TestCSVDelimiterJudgedOverManyLines(t *testing.T) {
	var b strings.Builder
	b.WriteString("Kontoauszug vom 01.11.2026, erstellt am 02.11.2026, Seite 1\r\n")
	b.WriteString("\r\n")
	b.WriteString("Buchungstag;Empfänger;Verwendungszweck;Betrag\r\n")
	for i := range 12 {
		b.WriteString("03.11.2026;Stadtwerke;Abschlag " + strings.Repeat("x", i) + ";-12,50\r\n")
	}
	in := []byte(b.String())
	rows := readCSV(t, in, Options{})
	if len(rows) != 14 || rows[0].Num != 1 || len(rows[0].Cells) != 1 || rows[1].Num != 3 || len(rows[1].Cells) != 4 || rows[2].Cells[3].Value != "-12,50" {
		t.Fatalf("rows %d, first %+v, header %+v", len(rows), rows[0], rows[1])
	}
	if d := describe(t, in, Options{}); d.Delimiter != ";" || d.Format != "csv" || d.Encoding != "utf-8" {
		t.Errorf("detected %+v", d)
	}

	// Destatis: a title, an explanation with commas, then a ;-table.
	destatis := "GENESIS-Tabelle: 12411-0006\nBevölkerung: Deutschland, Stichtag, Geschlecht\n" +
		"Stichtag;männlich;weiblich\n31.12.2023;41.2;42.5\n31.12.2024;41.3;42.6\n"
	if got := values(readCSV(t, []byte(destatis), Options{})); !reflect.DeepEqual(got[3], []string{"Stichtag", "männlich", "weiblich"}) {
		t.Errorf("destatis: got %v", got)
	}
	// A tab file whose amounts carry decimal commas.
	tabs := "Name\tBetrag\tOrt\nA\t1,5\tBonn\nB\t2,25\tKöln\n"
	if d := describe(t, []byte(tabs), Options{}); d.Delimiter != "tab" {
		t.Errorf("tab file: %+v", d)
	}
}

func TestCSVSepLine(t *testing.T) {
	in := []byte("sep=|\r\nName|Notiz\r\nMüller|a;b,c\r\n")
	rows := readCSV(t, in, Options{})
	if got := values(rows); !reflect.DeepEqual(got, map[int][]string{2: {"Name", "Notiz"}, 3: {"Müller", "a;b,c"}}) {
		t.Errorf("sep=|: got %v", got)
	}
	if d := describe(t, in, Options{}); d.Delimiter != "|" {
		t.Errorf("detected %+v", d)
	}
	// Quoted as Excel may save it, in UTF-8 with BOM; an explicit delimiter wins.
	in = []byte("\xEF\xBB\xBF\"sep=;\"\nA;B\n1;2\n")
	if got := values(readCSV(t, in, Options{})); !reflect.DeepEqual(got, map[int][]string{2: {"A", "B"}, 3: {"1", "2"}}) {
		t.Errorf("quoted sep: got %v", got)
	}
	if got := values(readCSV(t, in, Options{Delimiter: ","})); !reflect.DeepEqual(got, map[int][]string{2: {"A;B"}, 3: {"1;2"}}) {
		t.Errorf("sep with explicit delimiter: got %v", got)
	}
	// Errors name the row as the user sees it, the sep line counted.
	err := readCSVErr([]byte("sep=;\nA;B\n1;2\"x\n"), Options{})
	wantFileError(t, err, CodeBadCSV, "Zeile 3")
	// "sep=" alone, or a header that merely starts like it, is no sep line.
	if got := values(readCSV(t, []byte("separator;x\n1;2\n"), Options{})); !reflect.DeepEqual(got[1], []string{"separator", "x"}) {
		t.Errorf("separator header: got %v", got)
	}
}

func TestCSVMacLineEnds(t *testing.T) {
	in := []byte("Name;Ort\rMüller;\"Bonn\rZentrum\"\r\rSchmidt;Köln\r")
	got := values(readCSV(t, in, Options{}))
	want := map[int][]string{1: {"Name", "Ort"}, 2: {"Müller", "Bonn\nZentrum"}, 4: {"Schmidt", "Köln"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v", got)
	}
}

func TestCSVMacLineEndsCorpus(t *testing.T) {
	in, err := os.ReadFile("../../../shared/corpus/csvkit-mac_newlines.csv")
	if err != nil {
		t.Skipf("corpus file missing: %v", err)
	}
	got := values(readCSV(t, in, Options{}))
	want := map[int][]string{1: {"a", "b", "c"}, 2: {"1", "2", "3"}, 3: {"Once upon\na time", "5", "6"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v", got)
	}
}

// utf16File encodes s as UTF-16 with a BOM in the given byte order.
func utf16File(s string, order binary.AppendByteOrder, bom bool) []byte {
	var b []byte
	units := utf16.Encode([]rune(s))
	if bom {
		units = append([]uint16{0xFEFF}, units...)
	}
	for _, u := range units {
		b = order.AppendUint16(b, u)
	}
	return b
}

// Excel's "Unicode text": UTF-16LE with BOM, tab-separated, CRLF.
func TestCSVUTF16(t *testing.T) {
	text := "Nutzerfremdnummer\tE-Mail\tName\r\n00000000001200100300\tjörg@x.de\tWeiß €\r\n"
	want := map[int][]string{1: {"Nutzerfremdnummer", "E-Mail", "Name"}, 2: {"00000000001200100300", "jörg@x.de", "Weiß €"}}
	for name, tc := range map[string]struct {
		in   []byte
		opts Options
	}{
		"LE auto":        {utf16File(text, binary.LittleEndian, true), Options{}},
		"BE auto":        {utf16File(text, binary.BigEndian, true), Options{}},
		"LE utf-16":      {utf16File(text, binary.LittleEndian, true), Options{Encoding: "utf-16"}},
		"LE without BOM": {utf16File(text, binary.LittleEndian, false), Options{Encoding: "utf-16"}},
	} {
		if got := values(readCSV(t, tc.in, tc.opts)); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %v", name, got)
		}
		if d := describe(t, tc.in, tc.opts); d.Encoding != "utf-16" || d.Delimiter != "tab" {
			t.Errorf("%s: detected %+v", name, d)
		}
	}
}

func TestCSVDetectedEncoding(t *testing.T) {
	if d := describe(t, cp1252(t, "Name;Ort\nMüller;Köln\n"), Options{}); d.Encoding != "windows-1252" || d.Delimiter != ";" {
		t.Errorf("1252: %+v", d)
	}
	if d := describe(t, []byte("Name,Ort\nMüller,Köln\n"), Options{}); d.Encoding != "utf-8" || d.Delimiter != "," {
		t.Errorf("utf-8: %+v", d)
	}
	if d := describe(t, []byte("a;b\n"), Options{Encoding: "windows-1252", Delimiter: "tab"}); d.Encoding != "windows-1252" || d.Delimiter != "tab" {
		t.Errorf("explicit: %+v", d)
	}
}

// A quote that does not parse with a candidate rules it out.
func TestCSVDelimiterQuotes(t *testing.T) {
	in := "\"Müller; Hans\",Bonn\n\"Schmidt; Eva\",Köln\n\"Berg\",Ulm\n"
	if got := values(readCSV(t, []byte(in), Options{})); !reflect.DeepEqual(got[1], []string{"Müller; Hans", "Bonn"}) {
		t.Errorf("got %v", got)
	}
}

// A record beyond the bound is a file error naming where it starts, read in bounded memory.
func TestCSVRecordTooLong(t *testing.T) {
	in := "Kopf;Wert\nA;1\n\"" + strings.Repeat("x", maxRecordBytes+2*peekSize) + "\n"
	err := readCSVErr([]byte(in), Options{})
	fe := wantFileError(t, err, CodeBadCSV, "Zeile 3", "4 MiB")
	if fe.Err == nil {
		t.Error("no cause kept")
	}
	// Just below the bound is read.
	long := strings.Repeat("y", maxRecordBytes-10)
	rows := readCSV(t, []byte("Kopf;Wert\n"+long+";1\nB;2\n"), Options{})
	if len(rows) != 3 || rows[1].Cells[0].Value != long || rows[2].Num != 3 {
		t.Errorf("below the bound: %d rows", len(rows))
	}
}
