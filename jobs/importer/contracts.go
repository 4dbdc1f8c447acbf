package importer

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"portalwerk/jobs/plausibility"
	"portalwerk/jobs/sheet"
	"portalwerk/store"
)

// contractsColumns are the columns of the contracts profile (SPEC §3, seed 004): one row
// per meter register, repeated once per contact of the contract.
var contractsColumns = []column{
	{field: "customer", names: []string{"customer", "Kunde", "Kundennummer", "external_id", "Externe ID", "Nutzerfremdnummer", "Nutzer-Fremdnummer", "User foreign number"}, required: true},
	{field: "contract", names: []string{"contract", "Vertrag", "Vertragsnummer"}, required: true},
	{field: "reporting", names: []string{"reporting", "Zählermeldung", "Meldung"}, required: true},
	{field: "interval", names: []string{"interval", "Intervall", "Ableseintervall"}, required: true},
	{field: "contact_name", names: []string{"contact_name", "Ansprechpartner"}},
	{field: "contact_email", names: []string{"contact_email", "E-Mail Ansprechpartner", "E-Mail-Adresse Ansprechpartner", "E-Mail"}},
	{field: "meter", names: []string{"meter", "Zähler", "Zählernummer", "Maschine", "Maschinennummer"}, required: true},
	{field: "register", names: []string{"register", "Zählwerk"}, required: true},
	{field: "unit", names: []string{"unit", "Einheit"}},
	{field: "digits", names: []string{"digits", "Stellen", "Vorkommastellen"}, required: true},
	{field: "decimals", names: []string{"decimals", "Nachkommastellen"}},
	{field: "last_reading", names: []string{"last_reading", "Letzter Zählerstand", "Zählerstand"}},
	{field: "last_reading_date", names: []string{"last_reading_date", "Ablesedatum", "Datum letzter Zählerstand"}},
	{field: "how_to_read_url", names: []string{"how_to_read_url", "Anleitung", "Ableseanleitung"}},
}

// contractsOptions: the contracts profile has only the options every profile has.
var contractsOptions = []option{}

// reportingValues and intervalValues map what a cell may say (lower-cased) to the stored value.
var (
	reportingValues = map[string]string{"portal": "portal", "other": "other", "andere": "other", "sonstige": "other", "keine": "other"}
	intervalValues  = map[string]string{"monthly": "monthly", "monatlich": "monthly", "quarterly": "quarterly", "quartalsweise": "quarterly",
		"vierteljährlich": "quarterly", "quartal": "quarterly", "yearly": "yearly", "jährlich": "yearly", "jaehrlich": "yearly"}
)

// contractsProfile loads contracts, contacts, meters, registers and the registers' last
// released readings, upserting by (customer, contract, meter, register).
type contractsProfile struct {
	names map[string]string
	nfn   bool // the customer column is a Nutzerfremdnummer: 20 digits
}

func (p *contractsProfile) stagingColumns() []string {
	return []string{"customer text", "contract text", "reporting text", `"interval" text`, "contact_name text", "contact_email text",
		"meter text", "register text", "unit text", "digits smallint", "decimals smallint", "last_reading numeric",
		"last_reading_date date", "how_to_read_url text", "errs jsonb"}
}

func (p *contractsProfile) prepare(l layout) error {
	p.names = l.name
	p.nfn = false
	for _, h := range nfnHeaders {
		p.nfn = p.nfn || normalizeHeader(l.name["customer"]) == normalizeHeader(h)
	}
	return nil
}

func (p *contractsProfile) name(field string) string {
	if n := p.names[field]; n != "" {
		return n
	}
	return field
}

func (p *contractsProfile) uniqueColumn() int { return -1 }

// oneLine trims a name and collapses its inner whitespace, so that the same contact
// typed with two spaces is one contact.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func (p *contractsProfile) stage(r sheet.Row, l layout, errs *rowErrors) []any {
	required := func(field string) string {
		v := oneLine(l.cell(r, field).Value)
		if v == "" {
			errs.add(p.name(field), "", "missing_value", fmt.Sprintf("Die Spalte „%s“ ist in dieser Zeile leer; sie wird für jedes Zählwerk gebraucht.", p.name(field)))
		}
		return v
	}
	cust := l.cell(r, "customer")
	key, code, msg := textKey(cust)
	if p.nfn && strings.TrimSpace(cust.Value) != "" {
		key, code, msg = nutzerfremdnummer(cust)
	}
	if code != "" {
		errs.add(p.name("customer"), cust.Value, code, msg)
	} else if key == "" {
		required("customer")
	}
	contract := required("contract")
	choice := func(field string, values map[string]string, allowed string) any {
		raw := required(field)
		if raw == "" {
			return nil
		}
		v, ok := values[strings.ToLower(raw)]
		if !ok {
			errs.add(p.name(field), raw, "invalid_value", fmt.Sprintf("„%s“ ist kein gültiger Wert für „%s“: erlaubt sind %s.", raw, p.name(field), allowed))
			return nil
		}
		return v
	}
	reporting := choice("reporting", reportingValues, "portal oder other (andere)")
	interval := choice("interval", intervalValues, "monthly (monatlich), quarterly (quartalsweise) oder yearly (jährlich)")

	contactName := oneLine(l.cell(r, "contact_name").Value)
	mc := l.cell(r, "contact_email")
	addr, ok := email(mc)
	if !ok {
		errs.add(p.name("contact_email"), mc.Value, "invalid_email", "Die E-Mail-Adresse ist ungültig. Erwartet wird genau eine Adresse der Form name@beispiel.de.")
	}
	if ok && addr != "" && contactName == "" {
		errs.add(p.name("contact_name"), "", "missing_value", "Zu der E-Mail-Adresse fehlt der Name des Ansprechpartners.")
	}
	meter, register := required("meter"), required("register")

	digits, digitsOK := p.count(l, r, "digits", 1, plausibility.MaxDigits, errs)
	var decimals any
	decimalsN := int64(0)
	if strings.TrimSpace(l.cell(r, "decimals").Value) != "" {
		if n, ok := p.count(l, r, "decimals", 0, 6, errs); ok {
			decimals, decimalsN = n, n.(int64)
		} else {
			digitsOK = false
		}
	}
	if digitsOK && digits.(int64)+decimalsN > plausibility.MaxDigits {
		errs.add(p.name("decimals"), l.cell(r, "decimals").Value, "invalid_number",
			fmt.Sprintf("Stellen und Nachkommastellen zusammen dürfen höchstens %d sein.", plausibility.MaxDigits))
		digitsOK = false
	}

	var last, lastOn any
	lc, dc := l.cell(r, "last_reading"), l.cell(r, "last_reading_date")
	if v := strings.TrimSpace(lc.Value); v != "" && digitsOK {
		if val, ok := plausibility.ParseValue(v, int(digits.(int64)), int(decimalsN)); ok {
			last = plausibility.FormatValue(val, int(decimalsN))
		} else {
			errs.add(p.name("last_reading"), lc.Value, "invalid_number", fmt.Sprintf(
				"Der Zählerstand muss eine Zahl ohne Vorzeichen mit höchstens %d Stellen vor und %d nach dem Komma sein.", digits, decimalsN))
		}
	}
	if strings.TrimSpace(dc.Value) != "" {
		if d, ok := cellDate(dc); ok {
			lastOn = d
		} else {
			errs.add(p.name("last_reading_date"), dc.Value, "invalid_date", "Das Ablesedatum muss ein Datum sein, z. B. 31.12.2025 oder 2025-12-31.")
		}
	}
	if strings.TrimSpace(lc.Value) != "" && strings.TrimSpace(dc.Value) == "" {
		errs.add(p.name("last_reading_date"), "", "missing_value", "Zum letzten Zählerstand fehlt das Ablesedatum.")
	}
	if strings.TrimSpace(lc.Value) == "" && strings.TrimSpace(dc.Value) != "" {
		errs.add(p.name("last_reading"), "", "missing_value", "Zum Ablesedatum fehlt der letzte Zählerstand.")
	}
	url := strings.TrimSpace(l.cell(r, "how_to_read_url").Value)
	if url != "" && !strings.HasPrefix(url, "https://") && !strings.HasPrefix(url, "http://") || strings.ContainsAny(url, " \t\r\n\"<>") {
		errs.add(p.name("how_to_read_url"), url, "invalid_url", "Die Anleitung muss eine Web-Adresse sein, die mit https:// oder http:// beginnt.")
	}
	return []any{nullable(key), nullable(contract), reporting, interval, nullable(contactName), nullable(addr),
		nullable(meter), nullable(register), text(l.cell(r, "unit")), digits, decimals, last, lastOn, nullable(url)}
}

// count reads a small whole number (digits, decimals): typed as text or as a number,
// also with a zero fraction (6.0).
func (p *contractsProfile) count(l layout, r sheet.Row, field string, min, max int64, errs *rowErrors) (any, bool) {
	raw := strings.TrimSpace(l.cell(r, field).Value)
	if raw == "" {
		if field == "digits" {
			errs.add(p.name(field), "", "missing_value", fmt.Sprintf("Die Spalte „%s“ ist in dieser Zeile leer; sie wird für jedes Zählwerk gebraucht.", p.name(field)))
		}
		return nil, false
	}
	v := raw
	if i := strings.IndexAny(v, ".,"); i > 0 && strings.Trim(v[i+1:], "0") == "" {
		v = v[:i]
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < min || n > max {
		errs.add(p.name(field), raw, "invalid_number", fmt.Sprintf("„%s“ muss eine ganze Zahl von %d bis %d sein.", p.name(field), min, max))
		return nil, false
	}
	return n, true
}

// cellDate reads a date: a date cell, or text as 31.12.2025 or 2025-12-31.
func cellDate(c sheet.Cell) (string, bool) {
	if c.Kind == sheet.Date {
		t, err := c.Time()
		if err != nil {
			return "", false
		}
		return t.Format(time.DateOnly), true
	}
	v := strings.TrimSpace(c.Value)
	for _, layout := range []string{"02.01.2006", "2.1.2006", time.DateOnly} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.Format(time.DateOnly), true
		}
	}
	return "", false
}

// conflict marks, among the valid rows of one group (partition), every row whose
// values differ from the group's first row.
func (p *contractsProfile) conflict(ctx context.Context, tx *sqlx.Tx, st, partition, values, where, col, value, msg string) error {
	_, err := tx.ExecContext(ctx, `UPDATE `+st+` s SET errs = jsonb_build_array(jsonb_build_object(
			'col', $1::text, 'value', COALESCE(`+value+`, ''), 'code', 'conflicting_value', 'message', format($2, f.first)))
		FROM (SELECT row_num, first_value(row_num) OVER w AS first, jsonb_build_array(`+values+`) IS DISTINCT FROM first_value(jsonb_build_array(`+values+`)) OVER w AS differs
			FROM `+st+` s WHERE errs IS NULL AND `+where+` WINDOW w AS (PARTITION BY `+partition+` ORDER BY row_num)) f
		WHERE s.row_num = f.row_num AND f.differs`, col, msg)
	if err != nil {
		return fmt.Errorf("contracts import: mark conflicting rows: %w", err)
	}
	return nil
}

func (p *contractsProfile) forecast(ctx context.Context, tx *sqlx.Tx, st string, im store.Import, _ dupCheck) (store.Counts, error) {
	if _, err := tx.ExecContext(ctx, `ALTER TABLE `+st+` ADD COLUMN customer_id bigint, ADD COLUMN contract_id bigint,
		ADD COLUMN register_id bigint, ADD COLUMN contact_id bigint`); err != nil {
		return store.Counts{}, fmt.Errorf("prepare staging: %w", err)
	}
	if err := p.conflict(ctx, tx, st, `s.customer, s.contract`, `s.reporting, s."interval"`, `true`, p.name("reporting"),
		`s.reporting || ' / ' || s."interval"`,
		"Der Vertrag steht schon in Zeile %s, dort mit anderer Zählermeldung oder anderem Intervall; wiederholte Zeilen eines Vertrags müssen gleich sein."); err != nil {
		return store.Counts{}, err
	}
	if err := p.conflict(ctx, tx, st, `s.customer, s.contract, s.meter, s.register`,
		`s.unit, s.digits, s.decimals, s.last_reading, s.last_reading_date, s.how_to_read_url`, `true`, p.name("register"), `s.register`,
		"Das Zählwerk steht schon in Zeile %s, dort mit anderen Angaben (Einheit, Stellen, Nachkommastellen, letzter Zählerstand, Ablesedatum oder Anleitung); wiederholte Zeilen eines Zählwerks müssen gleich sein."); err != nil {
		return store.Counts{}, err
	}
	if err := p.conflict(ctx, tx, st, `s.customer, s.contact_name`, `s.contact_email`, `s.contact_name IS NOT NULL`, p.name("contact_email"),
		`s.contact_email`, "Dieser Ansprechpartner des Kunden steht schon in Zeile %s, dort mit einer anderen E-Mail-Adresse."); err != nil {
		return store.Counts{}, err
	}
	return p.recheck(ctx, tx, st, im)
}

// recheck matches the staged rows to the customers, contracts, registers and contacts
// as they are now, marks unknown customers and counts: a row of a register not stored
// yet creates, one that changes anything stored updates, the rest are unchanged.
func (p *contractsProfile) recheck(ctx context.Context, tx *sqlx.Tx, st string, im store.Import) (store.Counts, error) {
	steps := []struct {
		what string
		sql  string
		args []any
	}{
		{"match", `UPDATE ` + st + ` s SET customer_id = c.id, contract_id = ct.id, register_id = g.id, contact_id = p.id
			FROM ` + st + ` s2
			LEFT JOIN customers c ON c.account_id = $1 AND c.deleted_at IS NULL AND c.external_id = s2.customer
			LEFT JOIN contracts ct ON ct.customer_id = c.id AND ct.number = s2.contract
			LEFT JOIN meters m ON m.contract_id = ct.id AND m.number = s2.meter
			LEFT JOIN registers g ON g.meter_id = m.id AND g.name = s2.register
			LEFT JOIN contacts p ON p.customer_id = c.id AND p.name = s2.contact_name
			WHERE s.row_num = s2.row_num`, []any{im.AccountID}},
		{"unknown customers", `UPDATE ` + st + ` s SET errs = jsonb_build_array(jsonb_build_object(
				'col', $1::text, 'value', s.customer, 'code', 'unknown_key',
				'message', 'Diesen Kunden gibt es in diesem Benutzerkonto nicht. Bitte importieren Sie zuerst die Kunden (Profil customers) oder prüfen Sie die Nummer.'))
			WHERE s.errs IS NULL AND s.customer_id IS NULL`, []any{p.name("customer")}},
	}
	for _, s := range steps {
		if _, err := tx.ExecContext(ctx, s.sql, s.args...); err != nil {
			return store.Counts{}, fmt.Errorf("contracts import: %s: %w", s.what, err)
		}
	}
	var c store.Counts
	err := tx.QueryRowxContext(ctx, `SELECT
			count(*) FILTER (WHERE s.errs IS NOT NULL),
			count(*) FILTER (WHERE s.errs IS NULL AND s.register_id IS NULL),
			count(*) FILTER (WHERE s.errs IS NULL AND s.register_id IS NOT NULL AND `+contractChanges+`),
			count(*) FILTER (WHERE s.errs IS NULL AND s.register_id IS NOT NULL AND NOT `+contractChanges+`)
		FROM `+st+` s LEFT JOIN contracts ct ON ct.id = s.contract_id LEFT JOIN registers g ON g.id = s.register_id
		LEFT JOIN contacts p ON p.id = s.contact_id`).Scan(&c.Errors, &c.Create, &c.Update, &c.Unchanged)
	if err != nil {
		return c, fmt.Errorf("count contracts import: %w", err)
	}
	return c, nil
}

// contractChanges is true for a row of a stored register that writes anything new: the
// contract's reporting or interval, the register's values (an empty cell keeps the
// stored one), its contact or the contact's address, its link to the contract, or a
// last reading not stored so.
const contractChanges = `(ct.reporting IS DISTINCT FROM s.reporting OR ct."interval" IS DISTINCT FROM s."interval"
	OR g.digits IS DISTINCT FROM s.digits
	OR (s.decimals IS NOT NULL AND g.decimals IS DISTINCT FROM s.decimals)
	OR (s.unit IS NOT NULL AND g.unit IS DISTINCT FROM s.unit)
	OR (s.how_to_read_url IS NOT NULL AND g.how_to_read_url IS DISTINCT FROM s.how_to_read_url)
	OR (s.contact_name IS NOT NULL AND (p.id IS NULL
		OR (s.contact_email IS NOT NULL AND p.email IS DISTINCT FROM s.contact_email)
		OR NOT EXISTS (SELECT 1 FROM contract_contacts cc WHERE cc.contract_id = s.contract_id AND cc.contact_id = p.id)))
	OR (s.last_reading IS NOT NULL AND NOT EXISTS (SELECT 1 FROM readings r WHERE r.register_id = s.register_id
		AND r.status = 'released' AND r.read_on = s.last_reading_date AND r.value = s.last_reading)))`

func (p *contractsProfile) apply(ctx context.Context, tx *sqlx.Tx, st string, im store.Import, counts store.Counts) error {
	// valid is one row per key, the first in the file (repeated rows are equal: forecast
	// marked those that are not).
	valid := func(key string) string {
		return `(SELECT DISTINCT ON (` + key + `) * FROM ` + st + ` WHERE errs IS NULL ORDER BY ` + key + `, row_num)`
	}
	steps := []struct {
		what string
		sql  string
	}{
		{"contracts", `INSERT INTO contracts AS ct (tenant_id, customer_id, number, reporting, "interval")
			SELECT $1, s.customer_id, s.contract, s.reporting, s."interval" FROM ` + valid("customer_id, contract") + ` s
			ON CONFLICT (customer_id, number) DO UPDATE SET reporting = EXCLUDED.reporting, "interval" = EXCLUDED."interval", updated_at = now()
			WHERE (ct.reporting, ct."interval") IS DISTINCT FROM (EXCLUDED.reporting, EXCLUDED."interval")`},
		{"meters", `INSERT INTO meters (tenant_id, contract_id, number)
			SELECT $1, ct.id, s.meter FROM ` + valid("customer_id, contract, meter") + ` s
			JOIN contracts ct ON ct.customer_id = s.customer_id AND ct.number = s.contract
			ON CONFLICT (contract_id, number) DO NOTHING`},
		{"update registers", `UPDATE registers g SET digits = s.digits, decimals = COALESCE(s.decimals, g.decimals),
				unit = COALESCE(s.unit, g.unit), how_to_read_url = COALESCE(s.how_to_read_url, g.how_to_read_url), updated_at = now()
			FROM ` + valid("register_id") + ` s
			WHERE s.register_id = g.id AND (g.digits, g.decimals, g.unit, g.how_to_read_url) IS DISTINCT FROM
				(s.digits, COALESCE(s.decimals, g.decimals), COALESCE(s.unit, g.unit), COALESCE(s.how_to_read_url, g.how_to_read_url))`},
		{"insert registers", `INSERT INTO registers (tenant_id, meter_id, name, unit, digits, decimals, how_to_read_url)
			SELECT $1, m.id, s.register, s.unit, s.digits, COALESCE(s.decimals, 0), s.how_to_read_url
			FROM ` + valid("customer_id, contract, meter, register") + ` s
			JOIN contracts ct ON ct.customer_id = s.customer_id AND ct.number = s.contract
			JOIN meters m ON m.contract_id = ct.id AND m.number = s.meter
			WHERE s.register_id IS NULL
			ON CONFLICT (meter_id, name) DO NOTHING`},
		{"ids", `UPDATE ` + st + ` s SET contract_id = ct.id, register_id = g.id
			FROM contracts ct JOIN meters m ON m.contract_id = ct.id JOIN registers g ON g.meter_id = m.id
			WHERE s.errs IS NULL AND s.register_id IS NULL AND ct.customer_id = s.customer_id AND ct.number = s.contract
				AND m.number = s.meter AND g.name = s.register`},
		{"update contacts", `UPDATE contacts p SET email = s.contact_email, updated_at = now()
			FROM ` + valid("customer_id, contact_name") + ` s
			WHERE s.contact_name IS NOT NULL AND s.contact_email IS NOT NULL AND p.customer_id = s.customer_id
				AND p.name = s.contact_name AND p.email IS DISTINCT FROM s.contact_email`},
		{"insert contacts", `INSERT INTO contacts (tenant_id, customer_id, name, email)
			SELECT $1, s.customer_id, s.contact_name, s.contact_email FROM ` + valid("customer_id, contact_name") + ` s
			WHERE s.contact_name IS NOT NULL
			ON CONFLICT (customer_id, name) DO NOTHING`},
		{"contract contacts", `INSERT INTO contract_contacts (contract_id, contact_id)
			SELECT DISTINCT s.contract_id, p.id FROM ` + st + ` s JOIN contacts p ON p.customer_id = s.customer_id AND p.name = s.contact_name
			WHERE s.errs IS NULL
			ON CONFLICT DO NOTHING`},
		// The ERP is the master of the last reading: a released reading of that day takes its value.
		{"correct last readings", `UPDATE readings r SET value = s.last_reading
			FROM ` + valid("register_id") + ` s
			WHERE s.last_reading IS NOT NULL AND r.register_id = s.register_id AND r.status = 'released'
				AND r.read_on = s.last_reading_date AND r.value <> s.last_reading`},
		{"last readings", `INSERT INTO readings (tenant_id, register_id, value, read_on, status, source, released_at)
			SELECT $1, s.register_id, s.last_reading, s.last_reading_date, 'released', 'import', now()
			FROM ` + valid("register_id") + ` s
			WHERE s.last_reading IS NOT NULL AND NOT EXISTS (SELECT 1 FROM readings r WHERE r.register_id = s.register_id
				AND r.status = 'released' AND r.read_on = s.last_reading_date)`},
	}
	for _, s := range steps {
		var args []any
		if strings.Contains(s.sql, "$1") {
			args = []any{im.TenantID}
		}
		if _, err := tx.ExecContext(ctx, s.sql, args...); err != nil {
			return fmt.Errorf("apply contracts: %s: %w", s.what, err)
		}
	}
	var missing int64
	if err := tx.GetContext(ctx, &missing, `SELECT count(*) FROM `+st+` WHERE errs IS NULL AND register_id IS NULL`); err != nil {
		return fmt.Errorf("apply contracts: check: %w", err)
	}
	if missing > 0 {
		return fmt.Errorf("apply contracts: %d valid rows without their register", missing)
	}
	return nil
}

// changes lists what each row creates or changes: the register's key, and the contract's
// and register's values it writes (an empty cell keeps the stored value).
func (p *contractsProfile) changes(st string, im store.Import) (string, []any) {
	parts := []string{
		jsonChange("reporting", "ct.reporting", "s.reporting", "ct.reporting IS DISTINCT FROM s.reporting"),
		jsonChange("interval", `ct."interval"`, `s."interval"`, `ct."interval" IS DISTINCT FROM s."interval"`),
		jsonChange("digits", "g.digits", "s.digits", "g.digits IS DISTINCT FROM s.digits"),
		jsonChange("decimals", "g.decimals", "s.decimals", "s.decimals IS NOT NULL AND g.decimals IS DISTINCT FROM s.decimals"),
		jsonChange("unit", "g.unit", "s.unit", "s.unit IS NOT NULL AND g.unit IS DISTINCT FROM s.unit"),
		jsonChange("how_to_read_url", "g.how_to_read_url", "s.how_to_read_url", "s.how_to_read_url IS NOT NULL AND g.how_to_read_url IS DISTINCT FROM s.how_to_read_url"),
		jsonChange("contact_email", "p.email", "s.contact_email", "s.contact_email IS NOT NULL AND p.email IS DISTINCT FROM s.contact_email"),
		jsonChange("last_reading", "NULL::numeric", "s.last_reading", "s.last_reading IS NOT NULL AND g.id IS NULL"),
	}
	return `SELECT s.row_num::bigint AS pos, s.row_num,
			CASE WHEN s.register_id IS NULL THEN 'create' ELSE 'update' END AS action,
			concat_ws(' / ', s.customer, s.contract, s.meter, s.register) AS key, s.customer_id AS customer_id,
			` + jsonObject(parts) + ` AS changes
		FROM ` + st + ` s LEFT JOIN contracts ct ON ct.id = s.contract_id LEFT JOIN registers g ON g.id = s.register_id
		LEFT JOIN contacts p ON p.id = s.contact_id
		WHERE s.errs IS NULL AND (s.register_id IS NULL OR ` + contractChanges + `)`, nil
}
