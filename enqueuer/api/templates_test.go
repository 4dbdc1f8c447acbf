package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"portalwerk/jobs/importer"
	"portalwerk/store"
	"portalwerk/store/storetest"
)

func TestImportTemplates(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	for _, tc := range []struct {
		profile  string
		header   []string // the first columns
		textCols []string // header → must be text-formatted
		example  map[string]string
	}{
		{"emails", []string{"Nutzerfremdnummer", "E-Mail"}, []string{"Nutzerfremdnummer"}, map[string]string{"Nutzerfremdnummer": "00000000001200100300"}},
		{"customers", []string{"Externe ID", "Portal ID", "Anrede"}, []string{"Externe ID", "PLZ", "Login ID", "Telefon"}, map[string]string{"PLZ": "01067", "Externe ID": "0001200100"}},
		{"contracts", []string{"Kunde", "Vertrag"}, []string{"Kunde", "Vertrag", "Zähler"}, map[string]string{"Kunde": "0001200100"}},
	} {
		res := b.do("GET", "/v1/import-templates/"+tc.profile, "Bearer "+b.member, nil, "")
		if res.code != http.StatusOK || !strings.Contains(res.header.Get("Content-Type"), "spreadsheetml") {
			t.Fatalf("%s: %d %v", tc.profile, res.code, res.header)
		}
		f, err := excelize.OpenReader(strings.NewReader(res.body))
		if err != nil {
			t.Fatalf("%s: %v", tc.profile, err)
		}
		sheets := f.GetSheetList()
		if len(sheets) != 2 || sheets[1] != "Hinweise" {
			t.Errorf("%s: sheets %v", tc.profile, sheets)
		}
		rows, err := f.GetRows(sheets[0])
		if err != nil || len(rows) != 2 {
			t.Fatalf("%s: rows %q %v", tc.profile, rows, err)
		}
		for i, h := range tc.header {
			if rows[0][i] != h {
				t.Errorf("%s: header %q, want %q first", tc.profile, rows[0], tc.header)
			}
		}
		col := func(h string) int {
			for i, v := range rows[0] {
				if v == h {
					return i + 1
				}
			}
			t.Fatalf("%s: no column %q in %q", tc.profile, h, rows[0])
			return 0
		}
		for h, want := range tc.example {
			if got := rows[1][col(h)-1]; got != want {
				t.Errorf("%s: example %s = %q, want %q", tc.profile, h, got, want)
			}
		}
		for _, h := range tc.textCols {
			name, _ := excelize.ColumnNumberToName(col(h))
			for _, cell := range []string{name + "2", name + "500"} {
				id, err := f.GetCellStyle(sheets[0], cell)
				if err != nil {
					t.Fatal(err)
				}
				st, err := f.GetStyle(id)
				if err != nil || st.NumFmt != 49 {
					t.Errorf("%s: %s (%s) has number format %d, want 49 (text)", tc.profile, cell, h, st.NumFmt)
				}
			}
		}
		if id, _ := f.GetCellStyle(sheets[0], "B2"); tc.profile == "customers" {
			if st, _ := f.GetStyle(id); st.NumFmt == 49 {
				t.Errorf("customers: Portal ID is text-formatted")
			}
		}
		hints, err := f.GetRows("Hinweise")
		if err != nil || len(hints) != len(rows[0])+1 || hints[1][0] != rows[0][0] || len(hints[1]) < 3 || hints[1][2] == "" {
			t.Errorf("%s: Hinweise %q %v", tc.profile, hints, err)
		}
		f.Close()

		res = b.do("GET", "/v1/import-templates/"+tc.profile+"?format=csv", "Bearer "+b.key, nil, "")
		if want := "\uFEFF" + strings.Join(rows[0], ";") + "\r\n"; res.code != http.StatusOK || res.body != want {
			t.Errorf("%s csv: %d %q, want %q", tc.profile, res.code, res.body, want)
		}
	}
	if res := b.do("GET", "/v1/import-templates/telefon", "Bearer "+b.key, nil, ""); res.code != http.StatusNotFound {
		t.Errorf("unknown profile: %d %s", res.code, res.body)
	}
	if res := b.do("GET", "/v1/import-templates/emails?format=pdf", "Bearer "+b.key, nil, ""); res.code != http.StatusBadRequest {
		t.Errorf("format=pdf: %d %s", res.code, res.body)
	}
	if res := b.do("GET", "/v1/import-templates/emails", "", nil, ""); res.code != http.StatusUnauthorized {
		t.Errorf("without a key: %d", res.code)
	}
}

// TestTemplatesImport uploads each filled-in template (xlsx as downloaded) and previews
// it: the importer recognises every header, and the key keeps its leading zeros.
func TestTemplatesImport(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	eng := importer.Engine{DB: b.db, Log: storetest.Logger(t)}
	for _, profile := range []string{"customers", "emails", "contracts"} {
		tpl := b.do("GET", "/v1/import-templates/"+profile, "Bearer "+b.key, nil, "")
		opts, err := importer.Options(profile, nil)
		if err != nil {
			t.Fatal(err)
		}
		im := storetest.Import(t, b.db, b.admin, storetest.Upload(t, b.db, b.admin.TenantID, "vorlage.xlsx", []byte(tpl.body)), profile, opts)
		got, err := eng.Preview(context.Background(), im.ID)
		if err != nil || got.Status != store.ImportPreviewed || got.Counts == nil || got.Counts.Rows != 1 {
			t.Fatalf("%s: preview %+v %v", profile, got, err)
		}
		var codes []string
		b.db.Select(&codes, `SELECT code FROM import_errors WHERE import_id = $1`, im.ID)
		if profile == "customers" && (got.Counts.Create != 1 || len(codes) != 0) {
			t.Errorf("customers template: %+v %v", got.Counts, codes)
		}
		if profile == "emails" && (len(codes) != 1 || codes[0] != "unknown_key") { // the example's key is nobody's
			t.Errorf("emails template: %+v %v", got.Counts, codes)
		}
		// Every column of the template is one the profile reads, and the example is
		// valid but for its customer, whom nobody has imported.
		if profile == "contracts" && (len(got.Detected.IgnoredColumns) != 0 || len(codes) != 1 || codes[0] != "unknown_key") {
			t.Errorf("contracts template: ignored %v, errors %v", got.Detected.IgnoredColumns, codes)
		}
	}
}
