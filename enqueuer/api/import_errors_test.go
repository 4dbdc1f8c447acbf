package api_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"portalwerk/store"
)

// nastyValues are cell values a spreadsheet would run as formulas, also once a line is
// split by hand on ";" or ",".
var nastyValues = []string{
	`=HYPERLINK("http://x")`, "x;=cmd|' /C calc'!A0", "a,+1+1", " \u00a0@SUM(A1)", "\n-2+3",
	"\tTab", "\rCR", "ok;\r=x", "ok, \u00a0=x", `"q";=1`, "a\n=zeile",
}

// withErrors stores the row errors (row, code, value) of a fresh previewed import.
func (b *testBundle) withErrors(errs []store.RowError) importObj {
	b.t.Helper()
	im := b.queuedImport()
	for _, e := range errs {
		if _, err := b.db.Exec(`INSERT INTO import_errors (import_id, row_num, col, value, code, message) VALUES ($1, $2, $3, $4, $5, $6)`,
			im.ID, e.Row, e.Column, e.Value, e.Code, e.Message); err != nil {
			b.t.Fatal(err)
		}
	}
	if err := store.SetImportCounts(context.Background(), b.db, im.ID, store.ImportPreviewed, 10, store.Counts{Rows: 10, Errors: int64(len(errs))}, nil); err != nil {
		b.t.Fatal(err)
	}
	return im
}

func sampleErrors() []store.RowError {
	errs := []store.RowError{
		{Row: 2, Column: "E-Mail", Value: "bert@", Code: "invalid_email", Message: "Die E-Mail-Adresse ist ungültig."},
		{Row: 2, Column: "Nutzerfremdnummer", Value: "12a", Code: "invalid_key", Message: "Die Nutzerfremdnummer muss aus 1 bis 20 Ziffern bestehen."},
		{Row: 3, Column: "Nutzerfremdnummer", Value: "7", Code: "unknown_key", Message: "Unbekannt."},
		{Row: 5, Column: "E-Mail", Value: "x@", Code: "invalid_email", Message: "Die E-Mail-Adresse ist ungültig."},
	}
	for i, v := range nastyValues {
		errs = append(errs, store.RowError{Row: 10 + i, Column: "E-Mail", Value: v, Code: "invalid_email", Message: "Zelle: " + v})
	}
	return errs
}

func (b *testBundle) errorsJSON(path string) []store.RowError {
	b.t.Helper()
	res := b.do("GET", path, "Bearer "+b.key, nil, "")
	var rows []store.RowError
	if res.code != http.StatusOK || json.Unmarshal([]byte(res.body), &rows) != nil {
		b.t.Fatalf("%s: %d %s", path, res.code, res.body)
	}
	return rows
}

func rowNums(rows []store.RowError) []int {
	var out []int
	for _, r := range rows {
		out = append(out, r.Row)
	}
	return out
}

func TestErrorsJSONPagesAndCodes(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	errs := sampleErrors()
	im := b.withErrors(errs)
	base := "/v1/imports/" + im.ID + "/errors"

	all := b.errorsJSON(base)
	if len(all) != len(errs) || all[0].Row != 2 || all[0].Column != "E-Mail" || all[1].Column != "Nutzerfremdnummer" || all[len(all)-1].Row != 10+len(nastyValues)-1 {
		t.Errorf("all errors: %v", all)
	}
	// A page holds every error of up to limit rows: row 2 has two.
	if got := rowNums(b.errorsJSON(base + "?limit=2")); len(got) != 3 || got[0] != 2 || got[1] != 2 || got[2] != 3 {
		t.Errorf("limit=2: rows %v, want [2 2 3]", got)
	}
	if got := rowNums(b.errorsJSON(base + "?limit=2&after=3")); len(got) != 2 || got[0] != 5 || got[1] != 10 {
		t.Errorf("limit=2&after=3: rows %v, want [5 10]", got)
	}
	if got := b.errorsJSON(base + "?limit=5&after=1000"); len(got) != 0 {
		t.Errorf("after the last row: %v", got)
	}
	if got := b.errorsJSON(base + "?code=unknown_key"); len(got) != 1 || got[0].Row != 3 {
		t.Errorf("code=unknown_key: %v", got)
	}
	if got := rowNums(b.errorsJSON(base + "?code=invalid_email&limit=2")); len(got) != 2 || got[0] != 2 || got[1] != 5 {
		t.Errorf("code=invalid_email&limit=2: rows %v, want [2 5]", got)
	}
	for _, q := range []string{"?limit=0", "?limit=x", "?after=-1", "?format=pdf", "?format=csv&delimiter=|", "?delimiter=,"} {
		if res := b.do("GET", base+q, "Bearer "+b.key, nil, ""); res.code != http.StatusBadRequest || res.errorMessage() == "" {
			t.Errorf("%s: %d %s, want 400", q, res.code, res.body)
		}
	}

	res := b.do("GET", "/v1/imports/"+im.ID, "Bearer "+b.key, nil, "")
	var obj struct {
		ErrorsByCode map[string]int64 `json:"errors_by_code"`
	}
	if json.Unmarshal([]byte(res.body), &obj) != nil || obj.ErrorsByCode["invalid_email"] != int64(2+len(nastyValues)) ||
		obj.ErrorsByCode["invalid_key"] != 1 || obj.ErrorsByCode["unknown_key"] != 1 || len(obj.ErrorsByCode) != 3 {
		t.Errorf("errors_by_code: %s", res.body)
	}
	clean := b.queuedImport()
	if res := b.do("GET", "/v1/imports/"+clean.ID, "Bearer "+b.key, nil, ""); !strings.Contains(res.body, `"errors_by_code":{}`) {
		t.Errorf("an import without errors: %s", res.body)
	}
}

// assertFormulaSafe checks that no cell, and no fragment of a line split naively on sep
// (also with a leading quote taken off), begins with a formula character.
func assertFormulaSafe(t *testing.T, what, text string) {
	t.Helper()
	for _, line := range strings.FieldsFunc(text, func(r rune) bool { return r == '\n' || r == '\r' }) {
		for _, sep := range []string{";", ","} {
			for _, frag := range strings.Split(line, sep) {
				for _, f := range []string{frag, strings.TrimPrefix(frag, `"`)} {
					if startsFormula(f) {
						t.Errorf("%s: split on %q, the fragment %q of line %q starts a formula", what, sep, f, line)
					}
				}
			}
		}
	}
}

func startsFormula(s string) bool {
	s = strings.TrimLeft(s, " \u00a0\n")
	return s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0]))
}

func TestErrorsCSVForGermanExcel(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	errs := sampleErrors()
	im := b.withErrors(errs)

	// format decides, whatever Accept says.
	req := httptest.NewRequest("GET", "/v1/imports/"+im.ID+"/errors?format=csv", nil)
	req.Header.Set("Authorization", "Bearer "+b.key)
	req.Header.Set("Accept", "application/json")
	rec := httptest.NewRecorder()
	b.handler.ServeHTTP(rec, req)
	body := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %v", rec.Code, rec.Header())
	}
	if !strings.HasPrefix(body, "\uFEFFZeile;Spalte;Wert;Fehler;Meldung\r\n") {
		t.Fatalf("csv does not begin with BOM and German header: %q", body[:min(len(body), 60)])
	}
	cr := csv.NewReader(strings.NewReader(strings.TrimPrefix(body, "\uFEFF")))
	cr.Comma = ';'
	records, err := cr.ReadAll()
	if err != nil || len(records) != len(errs)+1 {
		t.Fatalf("parse with ';': %d records, %v", len(records), err)
	}
	if r := records[1]; r[0] != "2" || r[1] != "E-Mail" || r[2] != "bert@" || r[3] != "invalid_email" || r[4] != "Die E-Mail-Adresse ist ungültig." {
		t.Errorf("first error: %q", r)
	}
	for _, r := range records[1:] {
		for _, cell := range r {
			if startsFormula(cell) {
				t.Errorf("cell %q starts a formula", cell)
			}
		}
	}
	if got := records[len(nastyValues)/2+5][2]; !strings.Contains(got, "'") {
		t.Errorf("a neutralised value carries no ': %q", got)
	}
	if want := "x;'=cmd|' /C calc'!A0"; records[6][2] != want {
		t.Errorf("x;=cmd came out as %q, want %q", records[6][2], want)
	}
	assertFormulaSafe(t, "csv with ;", body)

	res := b.do("GET", "/v1/imports/"+im.ID+"/errors?format=csv&delimiter=,", "Bearer "+b.key, nil, "")
	if !strings.HasPrefix(res.body, "\uFEFFrow,column,value,code,message\r\n") {
		t.Fatalf("delimiter=, header: %q", res.body[:min(len(res.body), 60)])
	}
	cr = csv.NewReader(strings.NewReader(strings.TrimPrefix(res.body, "\uFEFF")))
	if records, err := cr.ReadAll(); err != nil || len(records) != len(errs)+1 || records[1][2] != "bert@" {
		t.Errorf("parse with ',': %v %v", records, err)
	}
	assertFormulaSafe(t, "csv with ,", res.body)
}

func TestErrorsXLSX(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	errs := sampleErrors()
	im := b.withErrors(errs)
	req := httptest.NewRequest("GET", "/v1/imports/"+im.ID+"/errors?format=xlsx&code=invalid_email", nil)
	req.Header.Set("Authorization", "Bearer "+b.key)
	req.Header.Set("Accept", "text/csv")
	rec := httptest.NewRecorder()
	b.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("Content-Type"), "spreadsheetml") {
		t.Fatalf("xlsx: %d %v", rec.Code, rec.Header())
	}
	f, err := excelize.OpenReader(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows(f.GetSheetName(0))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+2+len(nastyValues) || strings.Join(rows[0], ";") != "Zeile;Spalte;Wert;Fehler;Meldung" {
		t.Fatalf("xlsx rows: %q", rows)
	}
	if r := rows[1]; r[0] != "2" || r[1] != "E-Mail" || r[2] != "bert@" || r[3] != "invalid_email" {
		t.Errorf("first error: %q", r)
	}
	if rows[3][2] != `'=HYPERLINK("http://x")` {
		t.Errorf("formula cell: %q", rows[3][2])
	}
	for _, r := range rows[1:] {
		for _, cell := range r {
			if startsFormula(cell) {
				t.Errorf("xlsx cell %q starts a formula", cell)
			}
		}
	}
	if formula, _ := f.GetCellFormula(f.GetSheetName(0), "C3"); formula != "" {
		t.Errorf("C3 holds a formula: %q", formula)
	}
}

// heapWatcher is a response body that samples the heap while the answer streams.
type heapWatcher struct {
	header http.Header
	code   int
	bytes  int64
	writes int
	peak   uint64
}

func (h *heapWatcher) Header() http.Header  { return h.header }
func (h *heapWatcher) WriteHeader(code int) { h.code = code }
func (h *heapWatcher) Write(p []byte) (int, error) {
	h.bytes += int64(len(p))
	if h.writes++; h.writes%64 == 0 {
		h.sample()
	}
	return len(p), nil
}
func (h *heapWatcher) sample() {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	h.peak = max(h.peak, m.HeapInuse)
}

// TestErrorDownloadMemoryIsFlat streams 300,000 errors in every form and checks that
// the heap in use stays within a bound far below the report's size (building the list
// in memory took +250 MB). Not parallel: other tests would move the heap.
func TestErrorDownloadMemoryIsFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("300,000 errors")
	}
	b := setup(t, nil)
	im := b.queuedImport()
	const n = 300000
	if _, err := b.db.Exec(`INSERT INTO import_errors (import_id, row_num, col, value, code, message)
		SELECT $1, g, 'E-Mail', 'kein-at-zeichen-' || g || '.example.de', 'invalid_email',
			'Die E-Mail-Adresse ist ungültig. Erwartet wird genau eine Adresse der Form name@beispiel.de.'
		FROM generate_series(2, $2 + 1) g`, im.ID, n); err != nil {
		t.Fatal(err)
	}
	// excelize's StreamWriter keeps up to 16 MiB of sheet XML in memory before it moves
	// to a temp file, and zips at the end: its bound is higher, and as flat.
	bounds := map[string]int64{"json": 16 << 20, "csv": 16 << 20, "xlsx": 80 << 20}
	for _, format := range []string{"json", "csv", "xlsx"} {
		bound := bounds[format]
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		req := httptest.NewRequest("GET", "/v1/imports/"+im.ID+"/errors?format="+format, nil)
		req.Header.Set("Authorization", "Bearer "+b.key)
		w := &heapWatcher{header: http.Header{}, code: http.StatusOK}
		b.handler.ServeHTTP(w, req)
		w.sample()
		grew := int64(w.peak) - int64(before.HeapInuse)
		t.Logf("%s: %d errors, %d MB sent, heap in use grew by at most %.1f MB", format, n, w.bytes>>20, float64(grew)/(1<<20))
		if w.code != http.StatusOK || w.bytes < n*40/10 {
			t.Errorf("%s: %d, %d bytes", format, w.code, w.bytes)
		}
		if grew > bound {
			t.Errorf("%s: the heap grew by %d MB while streaming, bound %d MB", format, grew>>20, bound>>20)
		}
	}
}
