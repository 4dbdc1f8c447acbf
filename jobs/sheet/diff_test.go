package sheet

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// excelizeRows reads the first sheet with excelize's Rows (raw values),
// as the former reader did: row number → values, blank rows dropped.
func excelizeRows(path, sheet string) (map[int][]string, error) {
	f, err := excelize.OpenFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if sheet == "" {
		sheet = f.GetSheetList()[0]
	}
	rows, err := f.Rows(sheet)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int][]string{}
	for n := 1; rows.Next(); n++ {
		vals, err := rows.Columns(excelize.Options{RawCellValue: true})
		if err != nil {
			return nil, err
		}
		for len(vals) > 0 && isBlank(vals[len(vals)-1]) {
			vals = vals[:len(vals)-1]
		}
		for i, v := range vals {
			if isBlank(v) {
				vals[i] = ""
			}
		}
		if len(vals) > 0 {
			out[n] = vals
		}
	}
	return out, rows.Error()
}

// TestXLSXDifferential writes workbooks with excelize, in both of its
// ways (cell by cell with shared strings, and the stream writer with
// inline strings), and compares every cell with excelize's own reading,
// and kinds and formats with what was written.
func TestXLSXDifferential(t *testing.T) {
	type cell struct {
		v      any
		kind   Kind
		format string // the number format written
	}
	date := time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)
	cols := []cell{
		{"Müller-Lüdenscheidt", Text, ""},
		{`<>&"' Ümlaut ß`, Text, ""},
		{"10.200", Text, ""}, // text that looks like a number
		{"01067", Text, ""},
		{1200100123, Number, ""},
		{12.5, Number, "0.00"},
		{-0.001, Number, ""},
		{true, Bool, ""},
		{nil, Empty, ""},
		{"  Straße  ", Text, ""},
		{date, Date, "dd.mm.yyyy"},
		{"Zeile1\nZeile2", Text, ""},
		{"", Empty, ""},
		{"€ 5 – „Anführung“", Text, ""},
	}
	const rows = 60
	for _, mode := range []string{"cells", "stream"} {
		for _, date1904 := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/1904=%v", mode, date1904), func(t *testing.T) {
				path := writeBook(t, func(f *excelize.File) {
					must(t, f.SetWorkbookProps(&excelize.WorkbookPropsOptions{Date1904: &date1904}))
					styles := make([]int, len(cols))
					for i, c := range cols {
						if c.format != "" {
							id, err := f.NewStyle(&excelize.Style{CustomNumFmt: ptr(c.format)})
							must(t, err)
							styles[i] = id
						}
					}
					var sw *excelize.StreamWriter
					if mode == "stream" {
						var err error
						sw, err = f.NewStreamWriter("Sheet1")
						must(t, err)
					}
					for r := 1; r <= rows; r++ {
						if r%7 == 3 {
							continue // gaps
						}
						vals := make([]any, len(cols))
						for i, c := range cols {
							v := c.v
							if s, ok := v.(string); ok && s != "" {
								v = fmt.Sprintf("%s %d", s, r)
							}
							if d, ok := v.(time.Time); ok {
								v = d.AddDate(0, 0, r)
							}
							if n, ok := v.(int); ok {
								v = n + r
							}
							vals[i] = v
							if mode == "stream" && styles[i] != 0 {
								vals[i] = excelize.Cell{StyleID: styles[i], Value: v}
							}
						}
						cellName, _ := excelize.CoordinatesToCellName(1, r)
						if mode == "stream" {
							must(t, sw.SetRow(cellName, vals))
							continue
						}
						for i, v := range vals {
							name, _ := excelize.CoordinatesToCellName(i+1, r)
							must(t, f.SetCellValue("Sheet1", name, v))
							if styles[i] != 0 {
								must(t, f.SetCellStyle("Sheet1", name, name, styles[i]))
							}
						}
						if r == 5 {
							must(t, f.SetCellRichText("Sheet1", "P5", []excelize.RichTextRun{
								{Text: "fett ", Font: &excelize.Font{Bold: true}}, {Text: "& kursiv", Font: &excelize.Font{Italic: true}}}))
						}
					}
					if sw != nil {
						must(t, sw.Flush())
					}
				})
				got := readXLSX(t, path, Options{})
				ref, err := excelizeRows(path, "")
				must(t, err)
				if len(got) != len(ref) {
					t.Fatalf("%d rows, excelize %d", len(got), len(ref))
				}
				for _, row := range got {
					want := ref[row.Num]
					if len(row.Cells) != len(want) {
						t.Fatalf("row %d: %d cells %+v, excelize %q", row.Num, len(row.Cells), row.Cells, want)
					}
					for i, c := range row.Cells {
						wantV := want[i]
						if i < len(cols) && cols[i].kind == Date {
							// excelize's raw value of a date is the serial in the
							// 1900 system even in a 1904 workbook when it
							// writes; the calendar date is what must agree.
							tm, err := c.Time()
							wantDay := date.AddDate(0, 0, row.Num)
							if err != nil || !tm.Equal(wantDay) || c.Kind != Date || c.Date1904 != date1904 {
								t.Errorf("row %d date: %+v → %v %v, want %v", row.Num, c, tm, err, wantDay)
							}
							continue
						}
						if c.Value != wantV {
							t.Errorf("row %d col %d: %q, excelize %q", row.Num, i+1, c.Value, wantV)
						}
						if i < len(cols) && c.Kind != cols[i].kind {
							t.Errorf("row %d col %d: kind %d, want %d (%+v)", row.Num, i+1, c.Kind, cols[i].kind, c)
						}
						if i < len(cols) && c.Format != cols[i].format && c.Kind != Empty {
							t.Errorf("row %d col %d: format %q, want %q", row.Num, i+1, c.Format, cols[i].format)
						}
					}
				}
				if mode == "cells" {
					if r := got[3]; r.Num != 5 || len(r.Cells) != 16 || r.Cells[15].Value != "fett & kursiv" {
						t.Errorf("rich text P5: %+v", r)
					}
				}
			})
		}
	}
}

// TestXLSXLibreOffice converts a CSV with LibreOffice (Debian's
// libreoffice-calc), when soffice is installed, and reads the result.
func TestXLSXLibreOffice(t *testing.T) {
	soffice, err := exec.LookPath("soffice")
	if err != nil {
		t.Skip("soffice not on PATH")
	}
	dir := t.TempDir()
	csv := filepath.Join(dir, "nutzer.csv")
	must(t, os.WriteFile(csv, []byte("Nutzerfremdnummer,E-Mail,Name\n00000000001200100123,a@example.org,Müller\n42,b@example.org,Jürgen Groß\n"), 0o600))
	cmd := exec.Command(soffice, "--headless", "-env:UserInstallation=file://"+filepath.Join(dir, "profile"),
		// The CSV filter's options: comma, double quote, UTF-8 (76), from line 1; without
		// them LibreOffice takes the file for the system's 8-bit charset.
		"--infilter=CSV:44,34,76,1", "--convert-to", "xlsx", "--outdir", dir, csv)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("soffice: %v\n%s", err, out)
	}
	path := filepath.Join(dir, "nutzer.xlsx")
	got := readXLSX(t, path, Options{})
	ref, err := excelizeRows(path, "")
	must(t, err)
	if !mapsEqual(values(got), ref) {
		t.Errorf("got %v, excelize %v", values(got), ref)
	}
	if c := got[2].Cells[2]; c.Value != "Jürgen Groß" || c.Kind != Text {
		t.Errorf("C3 %+v", c)
	}
	// Opened by double click, the 20-digit customer number lost its leading zeros: the
	// reader must say it is a number, so the key rules can tell the user to format the
	// column as text.
	if c := got[1].Cells[0]; c.Kind != Number || c.Value != "1200100123" {
		t.Errorf("A2 %+v: LibreOffice stores 00000000001200100123 as the number 1200100123", c)
	}
	if c := got[2].Cells[0]; c.Kind != Number || c.Value != "42" {
		t.Errorf("A3 %+v: LibreOffice stores 42 as a number", c)
	}
}
