package sheet

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// corpusDir holds real third-party workbooks (see its README), read in
// place, never copied into the repository.
const corpusDir = "../../../shared/corpus"

func corpusFile(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(corpusDir, name)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("corpus file %s not available: %v", name, err)
	}
	return path
}

func TestCorpus(t *testing.T) {
	t.Run("empty_s_attribute", func(t *testing.T) {
		// s="" on every cell: excelize v2.11.0 drops them; a 5×2 table.
		rows := readXLSX(t, corpusFile(t, "calamine-empty_s_attribute.xlsx"), Options{})
		want := map[int][]string{1: {"Name", "Value"}, 2: {"John", "1"}, 3: {"Sophia", "2"}, 4: {"Peter", "3"}, 5: {"Sam", "4"}}
		if got := values(rows); !mapsEqual(got, want) {
			t.Errorf("got %v", got)
		}
		if rows[1].Cells[1].Kind != Number {
			t.Errorf("B2 %+v: want Number", rows[1].Cells[1])
		}
	})
	t.Run("date_1904", func(t *testing.T) {
		rows := readXLSX(t, corpusFile(t, "calamine-date_1904.xlsx"), Options{})
		c := rows[0].Cells[0]
		if c.Kind != Date || c.Value != "42735" || !c.Date1904 {
			t.Fatalf("A1 %+v: want a 1904-system date 42735", c)
		}
		if tm, err := c.Time(); err != nil || !tm.Equal(time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("A1 is %v (%v), want 2021-01-01", tm, err)
		}
		if c := rows[2].Cells[0]; c.Kind != Date || c.Format != `[hh]:mm:ss` {
			t.Errorf("A3 %+v: want an elapsed-time Date", c)
		}
	})
	t.Run("has_x000D_", func(t *testing.T) {
		rows := readXLSX(t, corpusFile(t, "calamine-has_x000D_.xlsx"), Options{})
		if got := rows[0].Cells[0].Value; got != "ABC\r\nDEF" {
			t.Errorf("A1 %q, want ABC\\r\\nDEF", got)
		}
	})
	t.Run("TwoSheetsOneHidden", func(t *testing.T) {
		path := corpusFile(t, "poi-TwoSheetsOneHidden.xlsx")
		if got := values(readXLSX(t, path, Options{})); !mapsEqual(got, map[int][]string{1: {"Sheet2A1"}}) {
			t.Errorf("first visible sheet: got %v", got)
		}
		// By name, the hidden sheet is read.
		if got := values(readXLSX(t, path, Options{Sheet: "sheet1"})); len(got) == 0 || got[1][0] == "Sheet2A1" {
			t.Errorf("hidden Sheet1 by name: got %v", got)
		}
	})
	t.Run("duplicate-filename", func(t *testing.T) {
		_, err := OpenXLSX(corpusFile(t, "poi-duplicate-filename.xlsx"), Options{})
		wantFileError(t, err, CodeCorrupt, "beschädigt")
	})
	t.Run("FormatKM", func(t *testing.T) {
		rows := readXLSX(t, corpusFile(t, "poi-FormatKM.xlsx"), Options{})
		e3 := rows[2].Cells[4]
		if rows[2].Num != 3 || e3.Kind != Text || e3.Value != "10.200" {
			t.Errorf("E3 %+v: want Text 10.200", e3)
		}
		if b3 := rows[2].Cells[1]; b3.Kind != Number || b3.Format == "" {
			t.Errorf("B3 %+v: want a formatted Number", b3)
		}
	})
	t.Run("Booleans", func(t *testing.T) {
		rows := readXLSX(t, corpusFile(t, "poi-Booleans.xlsx"), Options{})
		if a1, a4 := rows[0].Cells[0], rows[2].Cells[0]; a1 != (Cell{Kind: Bool, Value: "1"}) || a4 != (Cell{Kind: Bool, Value: "0"}) || rows[2].Num != 4 {
			t.Errorf("A1 %+v, A4 %+v: want Bool 1 and 0", a1, a4)
		}
	})
	t.Run("poc-shared-strings", func(t *testing.T) {
		// A crafted file: one huge shared string (and a cell A0). Refused,
		// with bounded memory.
		path := corpusFile(t, "poi-poc-shared-strings.xlsx")
		before := totalAlloc()
		_, err := OpenXLSX(path, Options{})
		wantFileError(t, err, CodeTooLarge, "32.767 Zeichen")
		if d := totalAlloc() - before; d > 16<<20 {
			t.Errorf("refusing it allocated %d bytes", d)
		}
	})
	t.Run("WORKBOOK_in_capitals", func(t *testing.T) {
		_, err := OpenXLSX(corpusFile(t, "poi-WORKBOOK_in_capitals.xls"), Options{})
		wantFileError(t, err, CodeNotXLSX, "(.xls)")
	})
	t.Run("NoRowNums", func(t *testing.T) {
		rows := readXLSX(t, corpusFile(t, "poi-59746_NoRowNums.xlsx"), Options{})
		if n := nums(rows); len(n) < 10 || n[0] != 1 || n[9] != 10 {
			t.Errorf("row numbers %v: want 1, 2, 3, …", n)
		}
		h := rows[0].Cells
		if h[0].Value != "Checked" || rows[1].Cells[0].Kind != Bool || rows[1].Cells[3] != (Cell{Kind: Number, Value: "644.24222"}) {
			t.Errorf("rows 1–2: %+v / %+v", h, rows[1].Cells)
		}
	})
	t.Run("ne_1033_data", func(t *testing.T) {
		rows := readXLSX(t, corpusFile(t, "csvkit-ne_1033_data.xlsx"), Options{})
		if len(rows) != 1037 {
			t.Errorf("%d rows", len(rows))
		}
		if c := rows[1].Cells[2]; c.Kind != Number || c.Value != "31001.0" {
			t.Errorf("C2 %+v: want Number 31001.0 as stored", c)
		}
	})
	t.Run("NumberFormatCondition", func(t *testing.T) {
		rows := readXLSX(t, corpusFile(t, "sheetjs-NumberFormatCondition.xlsm"), Options{})
		var a10 Cell
		for _, r := range rows {
			if r.Num == 10 {
				a10 = r.Cells[0]
			}
		}
		if a10.Kind != Text || a10.Value != "foo" {
			t.Errorf("A10 %+v: want Text foo", a10)
		}
		if c := rows[0].Cells[0]; c.Kind != Number || c.Format == "" {
			t.Errorf("A1 %+v: a conditional format is no date", c)
		}
	})
}

func mapsEqual(a, b map[int][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || len(v) != len(w) {
			return false
		}
		for i := range v {
			if v[i] != w[i] {
				return false
			}
		}
	}
	return true
}

func totalAlloc() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}
