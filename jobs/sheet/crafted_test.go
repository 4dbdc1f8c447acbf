package sheet

import (
	"archive/zip"
	"compress/flate"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const sheetHead = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`
const sheetTail = `</sheetData></worksheet>`

// craftBook writes a one-sheet workbook; sheet and sst are written by the
// given functions (sst nil: no shared strings part), compressed as fast
// as possible so that big crafted parts are small on disk.
func craftBook(t testing.TB, sheet func(io.Writer), sst func(io.Writer)) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "crafted.xlsx")
	f, err := os.Create(path)
	must(t, err)
	defer f.Close()
	zw := zip.NewWriter(f)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) { return flate.NewWriter(w, flate.BestSpeed) })
	for name, body := range minimalParts(`<cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14"/></cellXfs>`) {
		w, err := zw.Create(name)
		must(t, err)
		_, err = io.WriteString(w, body)
		must(t, err)
	}
	w, err := zw.Create("xl/worksheets/sheet1.xml")
	must(t, err)
	sheet(w)
	if sst != nil {
		w, err := zw.Create("xl/sharedStrings.xml")
		must(t, err)
		sst(w)
	}
	must(t, zw.Close())
	return path
}

func sheetXML(rows string) func(io.Writer) {
	return func(w io.Writer) { io.WriteString(w, sheetHead+rows+sheetTail) }
}

// repeat writes s n times.
func repeat(w io.Writer, s string, n int) {
	chunk := []byte(strings.Repeat(s, max(1, (1<<20)/len(s))))
	per := len(chunk) / len(s)
	for n > 0 {
		k := min(n, per)
		w.Write(chunk[:k*len(s)])
		n -= k
	}
}

// measure runs fn and returns the bytes it allocated (TotalAlloc) and the
// heap still in use after it (HeapAlloc after a GC), both deterministic
// upper bounds of what reading a file cost in memory.
func measure(fn func()) (allocated, retained uint64) {
	runtime.GC()
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	fn()
	runtime.GC()
	runtime.ReadMemStats(&b)
	if b.HeapAlloc > a.HeapAlloc {
		retained = b.HeapAlloc - a.HeapAlloc
	}
	return b.TotalAlloc - a.TotalAlloc, retained
}

// Issue 9 point 2: 100 MB of <si/> in a small file. Refused past the
// string count, with the index (8 bytes a string) as the main cost.
func TestXLSXManyEmptySharedStrings(t *testing.T) {
	path := craftBook(t, sheetXML(`<row r="1"><c r="A1" t="s"><v>0</v></c></row>`), func(w io.Writer) {
		io.WriteString(w, `<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">`)
		repeat(w, "<si/>", 20_000_000)
		io.WriteString(w, `</sst>`)
	})
	if st, _ := os.Stat(path); st.Size() > 1<<20 {
		t.Fatalf("test setup: %d bytes on disk", st.Size())
	}
	var err error
	alloc, _ := measure(func() { _, err = OpenXLSX(path, Options{}) })
	wantFileError(t, err, CodeTooLarge, "zu viele verschiedene Texte")
	// 8,388,608 strings × 8 bytes = 64 MiB of index, plus buffers.
	if alloc > 80<<20 {
		t.Errorf("refusing it allocated %d MiB", alloc>>20)
	}
	// A declared uniqueCount beyond the bound is refused before reading.
	path = craftBook(t, sheetXML(``), func(w io.Writer) {
		io.WriteString(w, `<sst uniqueCount="9000000"><si><t>a</t></si></sst>`)
	})
	alloc, _ = measure(func() { _, err = OpenXLSX(path, Options{}) })
	wantFileError(t, err, CodeTooLarge)
	if alloc > 8<<20 {
		t.Errorf("refusing it allocated %d MiB", alloc>>20)
	}
}

// Issue 9 point 3: a sheet of NUL bytes after the header is damaged, and
// found so at once (here 256 MiB; the reader stops at the first buffer).
func TestXLSXNULSheet(t *testing.T) {
	path := craftBook(t, func(w io.Writer) {
		io.WriteString(w, sheetHead+`<row r="1"><c r="A1"><v>1</v></c></row>`)
		repeat(w, "\x00", 256<<20)
	}, nil)
	var err error
	alloc, _ := measure(func() { _, err = OpenXLSX(path, Options{}) })
	wantFileError(t, err, CodeCorrupt, "beschädigt")
	if alloc > 16<<20 {
		t.Errorf("refusing it allocated %d MiB", alloc>>20)
	}
	// As a character reference, too, and in the middle of a sheet.
	path = craftBook(t, sheetXML(`<row r="1"><c r="A1"><v>1</v></c></row><row r="2"><c r="A2" t="inlineStr"><is><t>a&#0;b</t></is></c></row>`), nil)
	r, err := OpenXLSX(path, Options{})
	must(t, err)
	defer r.Close()
	_, err = r.Next()
	must(t, err)
	_, err = r.Next()
	wantFileError(t, err, CodeCorrupt, "ab Zeile 2")
}

// A single 50 MB cell, inline or shared, is refused past Excel's 32,767
// characters without being held.
func TestXLSXHugeCell(t *testing.T) {
	huge := func(w io.Writer) { repeat(w, "abcdefghij", 5_000_000) }
	inline := craftBook(t, func(w io.Writer) {
		io.WriteString(w, sheetHead+`<row r="1"><c r="A1"><v>1</v></c></row><row r="2"><c r="B2" t="inlineStr"><is><t>`)
		huge(w)
		io.WriteString(w, `</t></is></c></row>`+sheetTail)
	}, nil)
	shared := craftBook(t, sheetXML(`<row r="1"><c r="A1" t="s"><v>0</v></c></row>`), func(w io.Writer) {
		io.WriteString(w, `<sst><si><t>`)
		huge(w)
		io.WriteString(w, `</t></si></sst>`)
	})
	var err error
	alloc, _ := measure(func() {
		var r Reader
		if r, err = OpenXLSX(inline, Options{}); err == nil {
			defer r.Close()
			for err == nil {
				_, err = r.Next()
			}
		}
	})
	wantFileError(t, err, CodeTooLarge, "Die Zelle B2 enthält mehr als 32.767 Zeichen")
	if alloc > 16<<20 {
		t.Errorf("inline: allocated %d MiB", alloc>>20)
	}
	alloc, _ = measure(func() { _, err = OpenXLSX(shared, Options{}) })
	wantFileError(t, err, CodeTooLarge, "32.767 Zeichen")
	if alloc > 16<<20 {
		t.Errorf("shared: allocated %d MiB", alloc>>20)
	}
	// Exactly 32,767 characters (umlauts: 2 bytes each) are fine.
	ok := craftBook(t, sheetXML(`<row r="1"><c r="A1" t="inlineStr"><is><t>`+strings.Repeat("ä", maxCellChars)+`</t></is></c></row>`), nil)
	if rows := readXLSX(t, ok, Options{}); len([]rune(rows[0].Cells[0].Value)) != maxCellChars {
		t.Errorf("a full cell was not read whole")
	}
}

// Many distinct strings: the index costs 8 bytes a string, text beyond the
// memory budget goes to a temp file, so the heap the reader holds does not
// grow with the text. (5 M strings behave alike, at 40 MiB of index.)
func TestXLSXManyDistinctStrings(t *testing.T) {
	const n = 500_000
	path := craftBook(t, func(w io.Writer) {
		io.WriteString(w, sheetHead)
		for i := range n {
			fmt.Fprintf(w, `<row r="%d"><c r="A%d" t="s"><v>%d</v></c></row>`, i+1, i+1, i)
		}
		io.WriteString(w, sheetTail)
	}, func(w io.Writer) {
		io.WriteString(w, `<sst>`)
		for i := range n {
			fmt.Fprintf(w, `<si><t>Mieterin Nummer %08d mit etwas Text</t></si>`, i)
		}
		io.WriteString(w, `</sst>`)
	})
	lim := defaultXLSXLimits()
	lim.sstMemBytes = 1 << 20 // the text is 17 MB
	var r Reader
	var err error
	_, retained := measure(func() { r, err = openXLSX(path, Options{}, lim) })
	must(t, err)
	// Index 500,000 × 8 = 4 MB, 1 MiB of text, buffers; not the 17 MB text.
	if retained > 12<<20 {
		t.Errorf("open holds %d MiB", retained>>20)
	}
	got := 0
	for {
		row, err := r.Next()
		if err == io.EOF {
			break
		}
		must(t, err)
		if want := fmt.Sprintf("Mieterin Nummer %08d mit etwas Text", row.Num-1); row.Cells[0].Value != want {
			t.Fatalf("row %d: %q, want %q", row.Num, row.Cells[0].Value, want)
		}
		got++
	}
	must(t, r.Close())
	if got != n {
		t.Errorf("read %d rows", got)
	}
	// The count bound refuses more strings than allowed.
	lim.sstCount = n - 1
	_, err = openXLSX(path, Options{}, lim)
	wantFileError(t, err, CodeTooLarge, "zu viele verschiedene Texte")
}

func TestXLSXStructure(t *testing.T) {
	for name, tc := range map[string]struct {
		rows  string
		code  string
		parts []string
		good  int // rows read before the error
	}{
		"rows out of order":  {`<row r="2"><c r="A2"><v>1</v></c></row><row r="1"><c r="A1"><v>2</v></c></row>`, CodeCorrupt, []string{"ab Zeile 1"}, 1},
		"row twice":          {`<row r="2"><c r="A2"><v>1</v></c></row><row r="2"><c r="B2"><v>2</v></c></row>`, CodeCorrupt, []string{"ab Zeile 2"}, 1},
		"cells out of order": {`<row r="1"><c r="B1"><v>1</v></c><c r="A1"><v>2</v></c></row>`, CodeCorrupt, []string{"ab Zeile 1"}, 0},
		"cell of other row":  {`<row r="1"><c r="A2"><v>1</v></c></row>`, CodeCorrupt, []string{"ab Zeile 1"}, 0},
		"row 0 (A0)":         {`<row r="1"><c r="A0"><v>1</v></c></row>`, CodeCorrupt, nil, 0},
		"too many rows":      {`<row r="1"><c r="A1"><v>1</v></c></row><row r="1048577"><c r="A1048577"><v>1</v></c></row>`, CodeTooLarge, []string{"1.048.576"}, 1},
		"too many columns":   {`<row r="1"><c r="XFD1"><v>1</v></c><c r="XFE1"><v>1</v></c></row>`, CodeTooLarge, []string{"16.384"}, 0},
		"truncated":          {`<row r="1"><c r="A1"><v>1</v></c></row><row r="2"><c r="A2"><v>1`, CodeCorrupt, []string{"ab Zeile 2"}, 1},
		"unknown entity":     {`<row r="1"><c r="A1" t="inlineStr"><is><t>&nbsp;</t></is></c></row>`, CodeCorrupt, nil, 0},
		"doctype":            {`<!DOCTYPE x [<!ENTITY a "b">]><row r="1"><c r="A1"><v>1</v></c></row>`, CodeCorrupt, nil, 0},
		"shared index":       {`<row r="1"><c r="A1" t="s"><v>5</v></c></row>`, CodeCorrupt, []string{"ab Zeile 1"}, 0},
	} {
		t.Run(name, func(t *testing.T) {
			rows := tc.rows
			path := craftBook(t, func(w io.Writer) {
				s := sheetHead + rows
				if name != "truncated" {
					s += sheetTail
				}
				io.WriteString(w, s)
			}, nil)
			r, err := OpenXLSX(path, Options{})
			for i := 0; err == nil; i++ {
				_, err = r.Next()
				if err == nil && i >= tc.good {
					t.Fatalf("row %d read, want an error", i+1)
				}
			}
			if r != nil {
				r.Close()
			}
			wantFileError(t, err, tc.code, tc.parts...)
		})
	}
}

// Cells of all kinds, entities, escapes, xml:space, missing r, namespace
// prefixes, CDATA, comments: what the XML says, cell for cell.
func TestXLSXCellKinds(t *testing.T) {
	path := craftBook(t, sheetXML(
		`<row r="1"><c r="A1" t="inlineStr"><is><t xml:space="preserve"> Grüße &lt;&gt;&amp;&quot;&apos; &#228;&#xE4; </t></is></c>`+
			`<c r="B1" t="str"><f>A1&amp;""</f><v>Formel_x000A_Text</v></c><c r="C1" t="b"><v>0</v></c><c r="D1" t="e"><v>#DIV/0!</v></c>`+
			`<c r="E1" s="1"><v>45292</v></c><c r="F1" t="d"><v>2024-01-01T12:30:00</v></c><c r="G1" s=""><v>-1.5E-3</v></c></row>`+
			`<row><c><v>1</v></c><c/><c t="inlineStr"><is><r><t>fett</t></r><r><rPr><b/></rPr><t> und normal</t></r><rPh><t>ふりがな</t></rPh></is></c></row>`+
			`<row r="5"><c r="B5" t="inlineStr"><is><t><![CDATA[<kein Tag>]]><!-- weg --> &amp; mehr</t></is></c></row>`+
			`<x:row r="6" xmlns:x="urn:x"><x:c r="A6" t="inlineStr"><x:is><x:t>präfix</x:t></x:is></x:c></x:row>`+
			`<row r="7"><c r="A7" t="inlineStr"><is><t>_x005F_x000D_ und _xD83D__xDE00_</t></is></c><c r="B7" t="inlineStr"><is><t>   </t></is></c></row>`), nil)
	rows := readXLSX(t, path, Options{})
	want := []Row{
		{Num: 1, Cells: []Cell{{Kind: Text, Value: " Grüße <>&\"' ää "}, {Kind: Text, Value: "Formel\nText"}, {Kind: Bool, Value: "0"},
			{Kind: Error, Value: "#DIV/0!"}, {Kind: Date, Value: "45292", Format: "mm-dd-yy"}, {Kind: Date, Value: "2024-01-01T12:30:00"}, {Kind: Number, Value: "-1.5E-3"}}},
		{Num: 2, Cells: []Cell{{Kind: Number, Value: "1"}, {}, {Kind: Text, Value: "fett und normal"}}},
		{Num: 5, Cells: []Cell{{}, {Kind: Text, Value: "<kein Tag> & mehr"}}},
		{Num: 6, Cells: []Cell{{Kind: Text, Value: "präfix"}}},
		{Num: 7, Cells: []Cell{{Kind: Text, Value: "_x000D_ und 😀"}}},
	}
	if len(rows) != len(want) {
		t.Fatalf("got %d rows %+v", len(rows), rows)
	}
	for i := range want {
		if fmt.Sprint(rows[i]) != fmt.Sprint(want[i]) {
			t.Errorf("row %d:\n got  %+v\n want %+v", want[i].Num, rows[i], want[i])
		}
	}
	if tm, err := rows[0].Cells[4].Time(); err != nil || tm.Format("2006-01-02") != "2024-01-01" {
		t.Errorf("E1 time %v %v", tm, err)
	}
	if tm, err := rows[0].Cells[5].Time(); err != nil || tm.Format("2006-01-02 15:04") != "2024-01-01 12:30" {
		t.Errorf("F1 time %v %v", tm, err)
	}
}

// Close stops the parser goroutine while it is blocked handing on rows.
func TestXLSXCloseEarly(t *testing.T) {
	path := craftBook(t, func(w io.Writer) {
		io.WriteString(w, sheetHead)
		for i := 1; i <= 50_000; i++ {
			fmt.Fprintf(w, `<row r="%d"><c r="A%d"><v>%d</v></c></row>`, i, i, i)
		}
		io.WriteString(w, sheetTail)
	}, nil)
	before := runtime.NumGoroutine()
	for range 20 {
		r, err := OpenXLSX(path, Options{})
		must(t, err)
		_, err = r.Next()
		must(t, err)
		must(t, r.Close())
		if _, err := r.Next(); err == nil {
			t.Fatal("Next after Close")
		}
	}
	runtime.GC()
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("goroutines %d → %d", before, after)
	}
}
