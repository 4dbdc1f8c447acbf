package main

import (
	"archive/zip"
	"bufio"
	"encoding/csv"
	"encoding/xml"
	"fmt"
	"os"
	"strconv"
)

// The benchmark's data set: row i (1-based) of the file and customer i of the account
// share the key; the file gives every customer a new address, so an overwrite import
// updates every row.

var (
	firstNames = []string{"Anna", "Bernd", "Claudia", "Dieter", "Elke", "Frank", "Gisela", "Hans", "Ingrid", "Jürgen",
		"Karin", "Lothar", "Monika", "Norbert", "Petra", "Ralf", "Sabine", "Thomas", "Ursula", "Werner"}
	lastNames = []string{"Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
		"Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz", "Zimmermann",
		"Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt", "Werner", "Schmitz", "Krause", "Meier"}
	streets = []string{"Hauptstraße", "Schulstraße", "Gartenstraße", "Bahnhofstraße", "Dorfstraße", "Bergstraße",
		"Birkenweg", "Lindenstraße", "Kirchstraße", "Waldstraße", "Ringstraße", "Schillerstraße", "Goethestraße",
		"Jahnstraße", "Am Markt", "Mühlenweg", "Rosenstraße", "Wiesenweg", "Friedhofstraße", "Feldstraße"}
	cities = []string{"Berlin", "Hamburg", "München", "Köln", "Frankfurt am Main", "Stuttgart", "Düsseldorf", "Leipzig",
		"Dortmund", "Essen", "Bremen", "Dresden", "Hannover", "Nürnberg", "Duisburg", "Bochum", "Wuppertal",
		"Bielefeld", "Bonn", "Münster", "Görlitz", "Lübeck", "Würzburg", "Saarbrücken"}
	header = []string{"Nutzerfremdnummer", "E-Mail", "Name", "Straße", "PLZ", "Ort"}
)

// key is customer i's Nutzerfremdnummer: 20 digits, zero-padded. Its parity is i's.
func key(i int) string { return fmt.Sprintf("%020d", 70000000000+int64(i)*13) }

// seedEmail is the address customer i has before the import: every second one has one.
// resetEmails restores exactly this with SQL.
func seedEmail(i int) any {
	if i%2 == 0 {
		return "alt." + key(i) + "@example.org"
	}
	return nil
}

func newEmail(i int) string { return "neu." + strconv.Itoa(i) + "@beispiel.de" }

func name(i int) string {
	return firstNames[i%len(firstNames)] + " " + lastNames[(i/len(firstNames))%len(lastNames)]
}
func street(i int) string { return streets[(i/7)%len(streets)] + " " + strconv.Itoa(i%180+1) }
func zip5(i int) string   { return fmt.Sprintf("%05d", 1067+(i*37)%98000) }
func city(i int) string   { return cities[(i/3)%len(cities)] }

// record is row i of the file, in header order.
func record(i int) []string {
	return []string{key(i), newEmail(i), name(i), street(i), zip5(i), city(i)}
}

// writeCSV writes the rows as Excel's "CSV UTF-8": BOM, ';', CRLF.
func writeCSV(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	bw.WriteString("\uFEFF")
	w := csv.NewWriter(bw)
	w.Comma = ';'
	w.UseCRLF = true
	w.Write(header)
	for i := 1; i <= n; i++ {
		w.Write(record(i))
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

const (
	xmlHead = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\r\n"
	nsMain  = `http://schemas.openxmlformats.org/spreadsheetml/2006/main`
	nsRel   = `http://schemas.openxmlformats.org/officeDocument/2006/relationships`
)

var xlsxParts = []struct{ name, body string }{
	{"[Content_Types].xml", xmlHead + `<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
		`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
		`<Default Extension="xml" ContentType="application/xml"/>` +
		`<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>` +
		`<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>` +
		`<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>` +
		`<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>` +
		`</Types>`},
	{"_rels/.rels", xmlHead + `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
		`<Relationship Id="rId1" Type="` + nsRel + `/officeDocument" Target="xl/workbook.xml"/></Relationships>`},
	{"xl/workbook.xml", xmlHead + `<workbook xmlns="` + nsMain + `" xmlns:r="` + nsRel + `">` +
		`<bookViews><workbookView xWindow="0" yWindow="0" windowWidth="28800" windowHeight="12300"/></bookViews>` +
		`<sheets><sheet name="Tabelle1" sheetId="1" r:id="rId1"/></sheets></workbook>`},
	{"xl/_rels/workbook.xml.rels", xmlHead + `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
		`<Relationship Id="rId3" Type="` + nsRel + `/sharedStrings" Target="sharedStrings.xml"/>` +
		`<Relationship Id="rId2" Type="` + nsRel + `/styles" Target="styles.xml"/>` +
		`<Relationship Id="rId1" Type="` + nsRel + `/worksheet" Target="worksheets/sheet1.xml"/></Relationships>`},
	// Two cell formats: General, and Text (numFmtId 49), which column A has, as a user
	// who formats the key column as text gets it.
	{"xl/styles.xml", xmlHead + `<styleSheet xmlns="` + nsMain + `">` +
		`<fonts count="1"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>` +
		`<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>` +
		`<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>` +
		`<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>` +
		`<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>` +
		`<xf numFmtId="49" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>` +
		`<cellStyles count="1"><cellStyle name="Standard" xfId="0" builtinId="0"/></cellStyles></styleSheet>`},
}

// book is a generated workbook's content: the header and data row i (1-based) of n.
type book struct {
	header []string
	record func(i int) []string
	n      int
}

// usersBook is the benchmark's import file of n rows.
func usersBook(n int) book { return book{header: header, record: record, n: n} }

// distinctUsersBook is usersBook with the columns the emails profile does not read
// (Name, Straße, PLZ, Ort) made distinct in every row: 6 distinct shared strings a row,
// 6,000,006 at 1,000,000 rows, the shared-string table the worker holds at its largest.
func distinctUsersBook(n int) book {
	return book{header: header, n: n, record: func(i int) []string {
		r := record(i)
		tag := " #" + strconv.Itoa(i) // "#" is in no base value, so no two cells meet
		for c := 2; c < len(r); c++ {
			r[c] += tag
		}
		return r
	}}
}

// distinctBook holds strings distinct shared strings, 5 to a row, none repeated: the
// shared-string table at its largest for its size (the reader's memory bound).
func distinctBook(strings int) book {
	return book{
		header: []string{"Spalte A", "Spalte B", "Spalte C", "Spalte D", "Spalte E"},
		record: func(i int) []string {
			r := make([]string, 5)
			for c := range r {
				r[c] = fmt.Sprintf("Mieterin %08d Feld %c mit etwas Text", i, 'A'+c)
			}
			return r
		},
		n: max(1, (strings-5)/5),
	}
}

// writeXLSX writes the benchmark's n rows, see writeBook.
func writeXLSX(path string, n int) (int, error) { return writeBook(path, usersBook(n)) }

// writeBook writes the rows as Excel saves them: every cell a shared string (t="s"),
// the strings in order of first use in xl/sharedStrings.xml, a true <dimension>.
// excelize's StreamWriter would write inline strings instead. It returns the number of
// unique strings.
func writeBook(path string, bk book) (int, error) {
	n := bk.n
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	for _, p := range xlsxParts {
		w, err := zw.Create(p.name)
		if err != nil {
			return 0, err
		}
		if _, err := w.Write([]byte(p.body)); err != nil {
			return 0, err
		}
	}

	zf, err := zw.Create("xl/worksheets/sheet1.xml")
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(zf, 1<<20)
	index := make(map[string]int, 2*n*len(bk.header)/6+200000)
	var sst []string
	sid := func(s string) int {
		if i, ok := index[s]; ok {
			return i
		}
		index[s] = len(sst)
		sst = append(sst, s)
		return len(sst) - 1
	}
	w.WriteString(xmlHead + `<worksheet xmlns="` + nsMain + `" xmlns:r="` + nsRel + `">`)
	fmt.Fprintf(w, `<dimension ref="A1:%c%d"/>`, 'A'+len(bk.header)-1, n+1)
	w.WriteString(`<sheetViews><sheetView tabSelected="1" workbookViewId="0"/></sheetViews>` +
		`<sheetFormatPr defaultRowHeight="15"/><cols><col min="1" max="1" width="24" style="1" customWidth="1"/></cols><sheetData>`)
	buf := make([]byte, 0, 1024)
	writeRow := func(r int, vals []string) {
		buf = buf[:0]
		buf = append(buf, `<row r="`...)
		buf = strconv.AppendInt(buf, int64(r), 10)
		buf = append(buf, `" spans="1:`...)
		buf = strconv.AppendInt(buf, int64(len(vals)), 10)
		buf = append(buf, `">`...)
		for c, v := range vals {
			buf = append(buf, `<c r="`...)
			buf = append(buf, byte('A'+c))
			buf = strconv.AppendInt(buf, int64(r), 10)
			if c == 0 && r > 1 {
				buf = append(buf, `" s="1`...)
			}
			buf = append(buf, `" t="s"><v>`...)
			buf = strconv.AppendInt(buf, int64(sid(v)), 10)
			buf = append(buf, `</v></c>`...)
		}
		buf = append(buf, `</row>`...)
		w.Write(buf)
	}
	writeRow(1, bk.header)
	for i := 1; i <= n; i++ {
		writeRow(i+1, bk.record(i))
	}
	w.WriteString(`</sheetData><pageMargins left="0.7" right="0.7" top="0.78740157499999996" bottom="0.78740157499999996" header="0.3" footer="0.3"/></worksheet>`)
	if err := w.Flush(); err != nil {
		return 0, err
	}
	index = nil

	zf, err = zw.Create("xl/sharedStrings.xml")
	if err != nil {
		return 0, err
	}
	w = bufio.NewWriterSize(zf, 1<<20)
	fmt.Fprintf(w, xmlHead+`<sst xmlns="%s" count="%d" uniqueCount="%d">`, nsMain, len(bk.header)*(n+1), len(sst))
	for _, s := range sst {
		w.WriteString(`<si><t>`)
		xml.EscapeText(w, []byte(s))
		w.WriteString(`</t></si>`)
	}
	w.WriteString(`</sst>`)
	if err := w.Flush(); err != nil {
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	return len(sst), f.Close()
}
