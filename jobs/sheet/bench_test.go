package sheet

import (
	"archive/zip"
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// writeSharedStringsBook writes n rows × 6 columns the way Excel saves
// them: every cell a shared string, the strings in order of first use, a
// Text style on column A. It mirrors bench/data.go.
func writeSharedStringsBook(tb testing.TB, n int) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "shared.xlsx")
	f, err := os.Create(path)
	must(tb, err)
	defer f.Close()
	zw := zip.NewWriter(f)
	for name, body := range minimalParts(`<cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="49" applyNumberFormat="1"/></cellXfs>`) {
		w, err := zw.Create(name)
		must(tb, err)
		_, err = io.WriteString(w, body)
		must(tb, err)
	}
	zf, err := zw.Create("xl/worksheets/sheet1.xml")
	must(tb, err)
	w := bufio.NewWriterSize(zf, 1<<20)
	index := map[string]int{}
	var sst []string
	sid := func(s string) int {
		if i, ok := index[s]; ok {
			return i
		}
		index[s] = len(sst)
		sst = append(sst, s)
		return len(sst) - 1
	}
	w.WriteString(xml.Header + `<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`)
	for r := 1; r <= n+1; r++ {
		vals := []string{"Nutzerfremdnummer", "E-Mail", "Name", "Straße", "PLZ", "Ort"}
		if r > 1 {
			i := r - 1
			vals = []string{fmt.Sprintf("%020d", 70000000000+i*13), "neu." + strconv.Itoa(i) + "@beispiel.de",
				"Name " + strconv.Itoa(i%600), "Hauptstraße " + strconv.Itoa(i%3600), fmt.Sprintf("%05d", 1067+(i*37)%98000), "Köln"}
		}
		fmt.Fprintf(w, `<row r="%d" spans="1:6">`, r)
		for c, v := range vals {
			s := ""
			if c == 0 && r > 1 {
				s = ` s="1"`
			}
			fmt.Fprintf(w, `<c r="%c%d"%s t="s"><v>%d</v></c>`, 'A'+c, r, s, sid(v))
		}
		w.WriteString(`</row>`)
	}
	w.WriteString(`</sheetData></worksheet>`)
	must(tb, w.Flush())
	zf, err = zw.Create("xl/sharedStrings.xml")
	must(tb, err)
	w = bufio.NewWriterSize(zf, 1<<20)
	fmt.Fprintf(w, xml.Header+`<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="%d" uniqueCount="%d">`, 6*(n+1), len(sst))
	for _, s := range sst {
		w.WriteString(`<si><t>`)
		xml.EscapeText(w, []byte(s))
		w.WriteString(`</t></si>`)
	}
	w.WriteString(`</sst>`)
	must(tb, w.Flush())
	must(tb, zw.Close())
	return path
}

// minimalParts are the parts of a one-sheet workbook besides the sheet
// and the shared strings; cellXfs goes into styles.xml.
func minimalParts(cellXfs string) map[string]string {
	const ns = `xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"`
	const rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
	return map[string]string{
		"[Content_Types].xml": xml.Header + `<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>`,
		"_rels/.rels":         xml.Header + `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="` + rel + `/officeDocument" Target="xl/workbook.xml"/></Relationships>`,
		"xl/workbook.xml":     xml.Header + `<workbook ` + ns + ` xmlns:r="` + rel + `"><sheets><sheet name="Tabelle1" sheetId="1" r:id="rId1"/></sheets></workbook>`,
		"xl/_rels/workbook.xml.rels": xml.Header + `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="` + rel + `/worksheet" Target="worksheets/sheet1.xml"/>` +
			`<Relationship Id="rId2" Type="` + rel + `/styles" Target="styles.xml"/>` +
			`<Relationship Id="rId3" Type="` + rel + `/sharedStrings" Target="sharedStrings.xml"/></Relationships>`,
		"xl/styles.xml": xml.Header + `<styleSheet ` + ns + `>` + cellXfs + `</styleSheet>`,
	}
}

// BenchmarkXLSXSharedStrings reads 200,000 rows × 6 shared-string
// columns (Excel's way of saving); BenchmarkXLSXUnzipFloor only
// decompresses the same parts, the floor any reader has.
func BenchmarkXLSXSharedStrings(b *testing.B) {
	path := writeSharedStringsBook(b, 200_000)
	b.ResetTimer()
	for b.Loop() {
		r, err := OpenXLSX(path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if n := readRows(b, r); n != 200_001 {
			b.Fatalf("rows %d", n)
		}
	}
}

func BenchmarkXLSXUnzipFloor(b *testing.B) {
	path := writeSharedStringsBook(b, 200_000)
	b.ResetTimer()
	for b.Loop() {
		zr, err := zip.OpenReader(path)
		must(b, err)
		for _, name := range []string{"xl/worksheets/sheet1.xml", "xl/sharedStrings.xml"} {
			rc, err := zr.Open(name)
			must(b, err)
			_, err = io.Copy(io.Discard, rc)
			must(b, err)
			rc.Close()
		}
		zr.Close()
	}
}

// readRows reads r to the end, closes it and returns how many rows it gave.
func readRows(b *testing.B, r Reader) int {
	b.Helper()
	n := 0
	for {
		if _, err := r.Next(); err == io.EOF {
			break
		} else if err != nil {
			b.Fatal(err)
		}
		n++
	}
	if err := r.Close(); err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkXLSXDistinctStrings reads 100,000 rows of 5 distinct shared
// strings each, with 4 MiB of the text in memory and the rest read back
// from the temp file: the shape of a workbook of millions of distinct
// strings (bench -readers -distinct 5000000 at full size).
func BenchmarkXLSXDistinctStrings(b *testing.B) {
	const rows, cols = 100_000, 5
	text := func(i int) string { return fmt.Sprintf("Vertrag %07d Feld %c und Anmerkung", i/cols, 'A'+i%cols) }
	path := craftBook(b, func(w io.Writer) {
		io.WriteString(w, sheetHead)
		for r := range rows {
			fmt.Fprintf(w, `<row r="%d">`, r+1)
			for c := range cols {
				fmt.Fprintf(w, `<c r="%c%d" t="s"><v>%d</v></c>`, 'A'+c, r+1, r*cols+c)
			}
			io.WriteString(w, `</row>`)
		}
		io.WriteString(w, sheetTail)
	}, func(w io.Writer) {
		io.WriteString(w, `<sst>`)
		for i := range rows * cols {
			io.WriteString(w, `<si><t>`+text(i)+`</t></si>`)
		}
		io.WriteString(w, `</sst>`)
	})
	lim := defaultXLSXLimits()
	lim.sstMemBytes = 4 << 20
	b.ResetTimer()
	for b.Loop() {
		r, err := openXLSX(path, Options{}, lim)
		if err != nil {
			b.Fatal(err)
		}
		if got := readRows(b, r); got != rows {
			b.Fatalf("rows %d", got)
		}
	}
}
