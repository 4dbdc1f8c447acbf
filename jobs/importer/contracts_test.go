package importer_test

import (
	"fmt"
	"strings"
	"testing"

	"portalwerk/store"
)

var contractsHeader = "Kunde;Vertrag;Zählermeldung;Intervall;Ansprechpartner;E-Mail Ansprechpartner;Zähler;Zählwerk;Einheit;Stellen;Nachkommastellen;Letzter Zählerstand;Ablesedatum;Anleitung"

// registerRow is a stored register with its contract, as tests read it back.
type registerRow struct {
	Customer  string  `db:"customer"`
	Contract  string  `db:"contract"`
	Reporting string  `db:"reporting"`
	Interval  string  `db:"interval"`
	Meter     string  `db:"meter"`
	Register  string  `db:"register"`
	Unit      *string `db:"unit"`
	Digits    int     `db:"digits"`
	Decimals  int     `db:"decimals"`
	URL       *string `db:"how_to_read_url"`
	Last      *string `db:"last"`
	Contacts  string  `db:"contacts"`
}

func (f *fixture) registers() []string {
	f.t.Helper()
	var rows []registerRow
	if err := f.db.SelectContext(f.ctx, &rows, `SELECT cu.external_id AS customer, ct.number AS contract, ct.reporting, ct."interval",
			m.number AS meter, g.name AS register, g.unit, g.digits, g.decimals, g.how_to_read_url,
			(SELECT string_agg(r.value || '@' || r.read_on, ',' ORDER BY r.read_on) FROM readings r WHERE r.register_id = g.id AND r.status = 'released') AS last,
			COALESCE((SELECT string_agg(p.name || '<' || COALESCE(p.email, '') || '>', ',' ORDER BY p.name) FROM contract_contacts cc
				JOIN contacts p ON p.id = cc.contact_id WHERE cc.contract_id = ct.id), '') AS contacts
		FROM registers g JOIN meters m ON m.id = g.meter_id JOIN contracts ct ON ct.id = m.contract_id
		JOIN customers cu ON cu.id = ct.customer_id WHERE cu.tenant_id = $1 ORDER BY 1, 2, 5, 6`, f.acct.TenantID); err != nil {
		f.t.Fatal(err)
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = fmt.Sprintf("%s/%s %s %s %s/%s %s %d.%d %s last=%s contacts=%s", r.Customer, r.Contract, r.Reporting, r.Interval,
			r.Meter, r.Register, str(r.Unit), r.Digits, r.Decimals, str(r.URL), str(r.Last), r.Contacts)
	}
	return out
}

func (f *fixture) contactCount() int {
	f.t.Helper()
	var n int
	if err := f.db.GetContext(f.ctx, &n, `SELECT count(*) FROM contacts WHERE tenant_id = $1`, f.acct.TenantID); err != nil {
		f.t.Fatal(err)
	}
	return n
}

func wantLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s\n got:\n%s\nwant:\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// One row per register and contact: two registers of a copier with two contacts, a
// heat meter of another customer whose contact is also on a second contract; the last
// readings become released readings; a second import of the same file changes nothing.
func TestContractsImport(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addCustomer(f.acct, map[string]any{"external_id": "K-1"})
	f.addCustomer(f.acct, map[string]any{"external_id": "K-2"})
	file := csv1252(t, contractsHeader,
		"K-1;V-100;Portal;monatlich;Anna Berg;anna@example.de;M-1;Schwarz/Weiß;Seiten;7;0;12345;31.12.2025;https://example.de/ablesen",
		"K-1;V-100;Portal;monatlich;Bernd Kurz;bernd@example.de;M-1;Schwarz/Weiß;Seiten;7;0;12345;31.12.2025;https://example.de/ablesen",
		"K-1;V-100;Portal;monatlich;Anna Berg;anna@example.de;M-1;Farbe;Seiten;7;0;2000;31.12.2025;",
		"K-1;V-100;Portal;monatlich;Bernd Kurz;bernd@example.de;M-1;Farbe;Seiten;7;0;2000;31.12.2025;",
		"K-2;W-1;other;yearly;Carla Ost;carla@example.de;WMZ-7;Wärme;kWh;6;3;1234,567;2025-12-31;",
		"K-2;W-2;portal;quarterly;  Carla   Ost ;carla@example.de;WMZ-8;Wärme;kWh;6;3;;;",
	)
	im := f.preview("contracts", "vertraege.csv", file, nil)
	wantCounts(t, "preview", im.Counts, store.Counts{Rows: 6, Create: 6})
	if got := f.registers(); len(got) != 0 {
		t.Fatalf("preview wrote registers: %v", got)
	}
	im = f.apply(im.ID, false)
	wantCounts(t, "apply", im.Counts, store.Counts{Rows: 6, Create: 6})
	want := []string{
		"K-1/V-100 portal monthly M-1/Farbe Seiten 7.0 <nil> last=2000@2025-12-31 contacts=Anna Berg<anna@example.de>,Bernd Kurz<bernd@example.de>",
		"K-1/V-100 portal monthly M-1/Schwarz/Weiß Seiten 7.0 https://example.de/ablesen last=12345@2025-12-31 contacts=Anna Berg<anna@example.de>,Bernd Kurz<bernd@example.de>",
		"K-2/W-1 other yearly WMZ-7/Wärme kWh 6.3 <nil> last=1234.567@2025-12-31 contacts=Carla Ost<carla@example.de>",
		"K-2/W-2 portal quarterly WMZ-8/Wärme kWh 6.3 <nil> last=<nil> contacts=Carla Ost<carla@example.de>",
	}
	wantLines(t, "registers", f.registers(), want)
	if n := f.contactCount(); n != 3 {
		t.Errorf("%d contacts, want 3 (the same person on two contracts is one contact)", n)
	}

	again := f.run("contracts", "vertraege.csv", file, nil, false)
	wantCounts(t, "second import", again.Counts, store.Counts{Rows: 6, Unchanged: 6})
	wantLines(t, "registers after the second import", f.registers(), want)

	// Changes: a new reading, another interval, a new contact address, a new register.
	change := csv1252(t, contractsHeader,
		"K-1;V-100;Portal;quartalsweise;Anna Berg;anna.berg@example.de;M-1;Schwarz/Weiß;Seiten;7;;13000;31.01.2026;",
		"K-1;V-100;Portal;quartalsweise;Anna Berg;anna.berg@example.de;M-1;Farbe;Seiten;7;0;2000;31.12.2025;",
		"K-1;V-100;Portal;quartalsweise;Anna Berg;anna.berg@example.de;M-2;Schwarz/Weiß;Seiten;6;0;;;",
	)
	im = f.run("contracts", "aenderung.csv", change, nil, false)
	wantCounts(t, "change", im.Counts, store.Counts{Rows: 3, Create: 1, Update: 2})
	want = []string{
		"K-1/V-100 portal quarterly M-1/Farbe Seiten 7.0 <nil> last=2000@2025-12-31 contacts=Anna Berg<anna.berg@example.de>,Bernd Kurz<bernd@example.de>",
		"K-1/V-100 portal quarterly M-1/Schwarz/Weiß Seiten 7.0 https://example.de/ablesen last=12345@2025-12-31,13000@2026-01-31 contacts=Anna Berg<anna.berg@example.de>,Bernd Kurz<bernd@example.de>",
		"K-1/V-100 portal quarterly M-2/Schwarz/Weiß Seiten 6.0 <nil> last=<nil> contacts=Anna Berg<anna.berg@example.de>,Bernd Kurz<bernd@example.de>",
		"K-2/W-1 other yearly WMZ-7/Wärme kWh 6.3 <nil> last=1234.567@2025-12-31 contacts=Carla Ost<carla@example.de>",
		"K-2/W-2 portal quarterly WMZ-8/Wärme kWh 6.3 <nil> last=<nil> contacts=Carla Ost<carla@example.de>",
	}
	wantLines(t, "registers after the change", f.registers(), want)
}

// Row errors with their codes; valid rows apply when invalid ones are skipped, and the
// invalid ones change nothing.
func TestContractsRowErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addCustomer(f.acct, map[string]any{"external_id": "K-1"})
	other := f.account("maier")
	f.addCustomer(other, map[string]any{"external_id": "K-9"})
	file := xlsxFile(t, [][]any{
		{"customer", "contract", "reporting", "interval", "contact_name", "contact_email", "meter", "register", "unit", "digits", "decimals", "last_reading", "last_reading_date", "how_to_read_url"},
		{"K-1", "V-1", "portal", "monthly", "Anna", "anna@example.de", "M-1", "SW", "Seiten", 6, 0, 100, "2025-12-31", ""},
		{"K-9", "V-9", "portal", "monthly", "", "", "M-9", "SW", "", 6, 0, "", "", ""},
		{"K-1", "V-2", "web", "monthly", "", "", "M-2", "SW", "", 6, 0, "", "", ""},
		{"K-1", "V-3", "portal", "weekly", "", "", "M-3", "SW", "", 6, 0, "", "", ""},
		{"K-1", "V-4", "portal", "monthly", "", "", "M-4", "SW", "", "sechs", 0, "", "", ""},
		{"K-1", "V-5", "portal", "monthly", "", "", "M-5", "SW", "", 4, 0, 12345, "2025-12-31", ""},
		{"K-1", "V-6", "portal", "monthly", "", "", "M-6", "SW", "", 6, 1, "12.34", "2025-12-31", ""},
		{"K-1", "V-7", "portal", "monthly", "", "kaputt@", "M-7", "SW", "", 6, 0, "", "", ""},
		{"K-1", "V-8", "portal", "monthly", "", "", "M-8", "SW", "", 6, 0, 5, "31.13.2025", "javascript:alert(1)"},
		{"K-1", "V-1", "portal", "yearly", "Anna", "anna@example.de", "M-1", "SW", "Seiten", 6, 0, 100, "2025-12-31", ""},
		{"K-1", "", "portal", "monthly", "", "", "M-1", "SW", "", 6, 0, "", "", ""},
		{"K-1", "V-1", "portal", "monthly", "Anna", "anna@example.de", "M-1", "SW", "Seiten", 6, 0, 101, "2025-12-31", ""},
		{"K-1", "V-1", "portal", "monthly", "Anna", "anna@other.de", "M-1", "Farbe", "Seiten", 6, 0, "", "", ""},
		{"K-1", "V-10", "portal", "monthly", "", "", "M-10", "SW", "", 12, 4, "", "", ""},
		{"K-1", "V-11", "portal", "monthly", "", "", "M-11", "SW", "", 6, 0, 5, "", ""},
	})
	im := f.preview("contracts", "vertraege.xlsx", file, nil)
	wantErrors(t, f.errors(im.ID), []errKey{
		{3, "customer", "K-9", "unknown_key"},
		{4, "reporting", "web", "invalid_value"},
		{5, "interval", "weekly", "invalid_value"},
		{6, "digits", "sechs", "invalid_number"},
		{7, "last_reading", "12345", "invalid_number"},
		{8, "last_reading", "12.34", "invalid_number"},
		{9, "contact_email", "kaputt@", "invalid_email"},
		{10, "how_to_read_url", "javascript:alert(1)", "invalid_url"},
		{10, "last_reading_date", "31.13.2025", "invalid_date"},
		{11, "reporting", "portal / yearly", "conflicting_value"},
		{12, "contract", "", "missing_value"},
		{13, "register", "SW", "conflicting_value"},
		{14, "contact_email", "anna@other.de", "conflicting_value"},
		{15, "decimals", "4", "invalid_number"},
		{16, "last_reading_date", "", "missing_value"},
	})
	wantCounts(t, "preview", im.Counts, store.Counts{Rows: 15, Create: 1, Errors: 14})
	for _, e := range f.errors(im.ID) {
		if e.Code == "conflicting_value" && !strings.Contains(e.Message, "Zeile 2") {
			t.Errorf("row %d: %q does not name the first row", e.Row, e.Message)
		}
	}
	im = f.apply(im.ID, true)
	wantCounts(t, "apply", im.Counts, store.Counts{Rows: 15, Create: 1, Errors: 14})
	wantLines(t, "registers", f.registers(), []string{"K-1/V-1 portal monthly M-1/SW Seiten 6.0 <nil> last=100@2025-12-31 contacts=Anna<anna@example.de>"})
}

// Nutzerfremdnummer keys are padded like everywhere; a missing required column fails
// the preview naming it.
func TestContractsKeysAndColumns(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addCustomer(f.acct, map[string]any{"external_id": "00000000001200100123"})
	file := csvUTF8("Nutzerfremdnummer;Vertrag;Zählermeldung;Intervall;Maschine;Zählwerk;Stellen",
		"1200100123;V-1;portal;jährlich;GER-1;Farbe;8.0")
	im := f.run("contracts", "v.csv", file, nil, false)
	wantCounts(t, "apply", im.Counts, store.Counts{Rows: 1, Create: 1})
	wantLines(t, "registers", f.registers(), []string{"00000000001200100123/V-1 portal yearly GER-1/Farbe <nil> 8.0 <nil> last=<nil> contacts="})

	fe := f.fileError("contracts", "v.csv", csvUTF8("Kunde;Vertrag;Zählermeldung;Intervall;Zähler;Stellen", "K;V;portal;monthly;M;6"), nil)
	if fe.Code != "missing_column" || !strings.Contains(fe.Message, "register") {
		t.Errorf("missing column: %s %s", fe.Code, fe.Message)
	}
}
