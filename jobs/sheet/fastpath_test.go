package sheet

import (
	"fmt"
	"io"
	"strings"
	"testing"
)

// The shared strings' fast path (plainSI) takes only what the general path
// would read alike; every other shape must still be decoded by the general
// path, also where the items straddle the scanner's buffer.
func TestXLSXSharedStringsFastAndGeneralPath(t *testing.T) {
	items := []struct{ xml, want string }{
		{`<si><t>Müller</t></si>`, "Müller"},
		{`<si><t xml:space="preserve">  zwei Leer  </t></si>`, "  zwei Leer  "},
		{`<si><t>Zeile_x000D_Ende</t></si>`, "Zeile\rEnde"},
		{`<si><t>a_xb</t></si>`, "a_xb"},
		{`<si><t>Schmidt &amp; Söhne</t></si>`, "Schmidt & Söhne"},
		{"<si><t>CR\r\nLF</t></si>", "CR\nLF"},
		{`<si><r><t>fett</t></r><r><t> und dünn</t></r></si>`, "fett und dünn"},
		{`<si><t></t></si>`, ""},
		{`<si/>`, ""},
		{`<si><t>Text</t><rPh><t>ふりがな</t></rPh></si>`, "Text"},
		{` <si><t>nach Leerraum</t></si>`, "nach Leerraum"},
		{`<x:si><x:t>mit Präfix</x:t></x:si>`, "mit Präfix"},
	}
	// Enough items that some cross the 512 KiB buffer, each kind many times.
	const copies = 4000
	path := craftBook(t, func(w io.Writer) {
		io.WriteString(w, sheetHead)
		for i := range copies * len(items) {
			fmt.Fprintf(w, `<row r="%d"><c r="A%d" t="s"><v>%d</v></c><c r="B%d"><v>%d</v></c></row>`, i+1, i+1, i, i+1, i)
		}
		io.WriteString(w, sheetTail)
	}, func(w io.Writer) {
		io.WriteString(w, `<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">`)
		for range copies {
			for _, it := range items {
				io.WriteString(w, it.xml)
			}
		}
		io.WriteString(w, `</sst>`)
	})
	rows := readXLSX(t, path, Options{})
	byNum := map[int]Row{}
	for _, r := range rows {
		byNum[r.Num] = r
	}
	for i := range copies * len(items) {
		want := items[i%len(items)].want
		r, ok := byNum[i+1]
		if !ok {
			t.Fatalf("row %d missing", i+1)
		}
		a := r.Cells[0]
		if strings.TrimSpace(want) == "" {
			if a.Kind != Empty {
				t.Fatalf("row %d: blank shared string read as %+v", i+1, a)
			}
		} else if a.Value != want || a.Kind != Text {
			t.Fatalf("row %d: %+v, want %q", i+1, a, want)
		}
		if b := r.Cells[1]; b.Value != fmt.Sprint(i) || b.Kind != Number {
			t.Fatalf("row %d B: %+v", i+1, b)
		}
	}
}

// The <row> fast path (rowStart) reads start tags as the general path does:
// attributes in single quotes, a '>' inside a quoted value, self-closing
// rows, rows without r, other attributes and prefixes.
func TestXLSXRowTagShapes(t *testing.T) {
	path := craftBook(t, sheetXML(
		`<row r="1" spans="1:2" x14ac:dyDescent="0.25"><c r="A1"><v>1</v></c></row>`+
			`<row r='2'><c r="A2"><v>2</v></c></row>`+
			`<row r="3" x:note="a>b"><c r="A3"><v>3</v></c></row>`+
			`<row r="4"/>`+
			"<row\tr=\"5\" ><c r=\"B5\"><v>5</v></c></row >"+
			`<row><c><v>6</v></c></row>`+
			`<x:row r="7"><x:c r="A7"><x:v>7</x:v></x:c></x:row>`+
			`<rows r="8"/>`), nil)
	got := values(readXLSX(t, path, Options{}))
	want := map[int][]string{1: {"1"}, 2: {"2"}, 3: {"3"}, 5: {"", "5"}, 6: {"6"}, 7: {"7"}}
	if !mapsEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
