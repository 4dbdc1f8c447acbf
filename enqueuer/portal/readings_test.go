package portal

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"portalwerk/jobs"
	"portalwerk/jobs/importer"
	"portalwerk/jobs/mail"
	"portalwerk/jobs/mail/mailtest"
	"portalwerk/store"
	"portalwerk/store/storetest"
)

var linkRE = regexp.MustCompile(`/portal/l/([A-Za-z0-9._~-]+)`)

// post sends a JSON body as a JSON client on the portal's origin would.
func (b *bundle) post(path, cookie string, body map[string]any) resp {
	b.t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Origin", base)
	req.RemoteAddr = "192.0.2.10:5555"
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "__Host-portal_session", Value: cookie})
	}
	rec := httptest.NewRecorder()
	b.mux.ServeHTTP(rec, req)
	return resp{rec.Code, rec.Result().Header, rec.Body.String()}
}

// meterWorld imports contracts for two customers and returns the bundle's pieces for
// the meter-reading flow: K-1 "Bäckerei Huber" has V-1 (two registers, contact Lena)
// and V-2 (a contact without an address); K-2 "Café Maier" has V-9 (reporting other)
// with Lena's address too.
func meterWorld(t *testing.T) (*bundle, string) {
	b := setup(t)
	ctx := context.Background()
	for _, c := range []struct{ ext, company string }{{"K-1", "Bäckerei Huber"}, {"K-2", "Café Maier"}} {
		if _, err := b.db.Exec(`INSERT INTO customers (tenant_id, account_id, external_id, company) VALUES ($1, $2, $3, $4)`,
			b.acc.TenantID, b.acc.ID, c.ext, c.company); err != nil {
			t.Fatal(err)
		}
	}
	email := "lena." + store.NewID()[:8] + "@example.de"
	last := time.Now().AddDate(0, -2, 0).Format("02.01.2006")
	file := strings.Join([]string{
		"Kunde;Vertrag;Zählermeldung;Intervall;Ansprechpartner;E-Mail Ansprechpartner;Zähler;Zählwerk;Einheit;Stellen;Nachkommastellen;Letzter Zählerstand;Ablesedatum;Anleitung",
		"K-1;V-1;portal;monatlich;Lena Kurz;" + email + ";GER-1;Schwarz/Weiß;Seiten;7;0;1000;" + last + ";https://example.de/ablesen",
		"K-1;V-1;portal;monatlich;Lena Kurz;" + email + ";GER-1;Farbe;Seiten;7;0;1000;" + last + ";",
		"K-1;V-2;portal;monatlich;Otto Ohne;;GER-2;Wärme;kWh;6;1;50;" + last + ";",
		"K-2;V-9;andere;jährlich;Lena Kurz;" + email + ";GER-9;Farbe;Seiten;7;0;5;" + last + ";",
	}, "\r\n")
	uploadID := storetest.Upload(t, b.db, b.acc.TenantID, "vertraege.csv", []byte(file))
	opts, err := importer.Options("contracts", map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	im := storetest.Import(t, b.db, b.acc, uploadID, "contracts", opts)
	eng := &importer.Engine{DB: b.db, Log: storetest.Logger(t)}
	if p, err := eng.Preview(ctx, im.ID); err != nil || p.Counts == nil || p.Counts.Errors != 0 {
		var errs []store.RowError
		store.EachImportError(ctx, b.db, store.ErrorFilter{TenantID: b.acc.TenantID, ImportID: im.ID}, func(e store.RowError) error {
			errs = append(errs, e)
			return nil
		})
		t.Fatalf("preview: %v %+v %+v", err, p.Counts, errs)
	}
	if err := store.ConfirmImport(ctx, b.db, im.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := eng.Apply(ctx, im.ID); err != nil {
		t.Fatal(err)
	}
	return b, email
}

// job records a job run of kind with params, as the API does, and returns its id.
func (b *bundle) job(kind store.RunKind, params string, a func(id string) jobs.Args) (string, jobs.Args) {
	b.t.Helper()
	id := store.NewID()
	args := a(id)
	if err := store.CreateRun(context.Background(), b.db, store.NewRun{ID: id, TenantID: b.acc.TenantID, AccountID: b.acc.ID,
		CreatedBy: b.acc.ID, Kind: kind, Params: json.RawMessage(params), TaskType: args.TaskType(), TaskQueue: args.Queue(),
		TaskID: args.TaskID(), TaskPayload: json.RawMessage(`{}`)}); err != nil {
		b.t.Fatal(err)
	}
	return id, args
}

// portalReady runs portal-ready over every contract, as POST /v1/portal-ready does.
func (b *bundle) portalReady() store.Run {
	b.t.Helper()
	id, a := b.job(store.RunPortalReady, `{"all":true}`, func(id string) jobs.Args { return jobs.PortalReady{RunID: id, TenantID: b.acc.TenantID} })
	pr := a.(jobs.PortalReady)
	if _, err := (&jobs.PortalReadyWorker{DB: b.db}).Work(context.Background(), &jobs.Task[jobs.PortalReady]{Args: pr, ID: pr.TaskID(), Log: storetest.Logger(b.t)}); err != nil {
		b.t.Fatal(err)
	}
	return b.run(id)
}

// requestReadings runs the meter request of period over every contract, mailing the
// links to portalURL through sink.
func (b *bundle) requestReadings(sink *mailtest.Sink, portalURL, period string) store.Run {
	b.t.Helper()
	log := storetest.Logger(b.t)
	sender, err := mail.New(sink.URL(), "zaehler@example.de", log)
	if err != nil {
		b.t.Fatal(err)
	}
	id, a := b.job(store.RunMeterRequests, `{"period":"`+period+`","all":true}`, func(id string) jobs.Args {
		return jobs.MeterRequests{RunID: id, TenantID: b.acc.TenantID}
	})
	mr := a.(jobs.MeterRequests)
	w := &jobs.MeterRequestsWorker{DB: b.db, Mail: sender, Keys: b.keys, BaseURL: portalURL, Connections: 2}
	if _, err := w.Work(context.Background(), &jobs.Task[jobs.MeterRequests]{Args: mr, ID: mr.TaskID(), Log: log}); err != nil {
		b.t.Fatal(err)
	}
	return b.run(id)
}

// release runs a release of every entered reading and returns the run.
func (b *bundle) release() store.Run {
	b.t.Helper()
	id, a := b.job(store.RunReleases, `{"all":true}`, func(id string) jobs.Args { return jobs.Release{RunID: id, TenantID: b.acc.TenantID} })
	rel := a.(jobs.Release)
	if _, err := (&jobs.ReleaseWorker{DB: b.db, Now: time.Now}).Work(context.Background(), &jobs.Task[jobs.Release]{Args: rel, ID: rel.TaskID(), Log: storetest.Logger(b.t)}); err != nil {
		b.t.Fatal(err)
	}
	return b.run(id)
}

// register is the id of the register named name of the contract.
func (b *bundle) register(contract, name string) int64 {
	b.t.Helper()
	var id int64
	if err := b.db.Get(&id, `SELECT g.id FROM registers g JOIN meters m ON m.id = g.meter_id JOIN contracts ct ON ct.id = m.contract_id
		WHERE ct.tenant_id = $1 AND ct.number = $2 AND g.name = $3`, b.acc.TenantID, contract, name); err != nil {
		b.t.Fatalf("register %s of %s: %v", name, contract, err)
	}
	return id
}

func (b *bundle) run(id string) store.Run {
	b.t.Helper()
	r, err := store.RunByID(context.Background(), b.db, id)
	if err != nil {
		b.t.Fatal(err)
	}
	return r
}

type readingsJSON struct {
	Customer struct {
		CustomerID int64  `json:"customer_id"`
		Name       string `json:"name"`
	} `json:"customer"`
	Registers []struct {
		RegisterID      int64        `json:"register_id"`
		Contract        string       `json:"contract"`
		Meter           string       `json:"meter"`
		Register        string       `json:"register"`
		Unit            *string      `json:"unit"`
		LastReading     *json.Number `json:"last_reading"`
		LastReadingDate *string      `json:"last_reading_date"`
		Entered         *struct {
			Value     json.Number `json:"value"`
			ReadOn    string      `json:"read_on"`
			Plausible bool        `json:"plausible"`
			Released  bool        `json:"released"`
		} `json:"entered"`
		HowToReadURL *string `json:"how_to_read_url"`
	} `json:"registers"`
}

// TestMeterReadingsEndToEnd: import contracts, portal-ready, request readings, read the
// mail from the SMTP sink, open the link, enter a plausible and an implausible reading,
// confirm the implausible one, release, and find exactly that one in the protocol.
func TestMeterReadingsEndToEnd(t *testing.T) {
	b, email := meterWorld(t)
	ctx := context.Background()

	// Portal-ready over every contract: V-2 lacks an address; Lena passes and gets
	// access to both her customers.
	if r := b.portalReady(); r.Status != store.RunDone || r.Counts["contracts"] != 3 || r.Counts["not_ready"] != 1 {
		t.Fatalf("portal-ready: %s %v", r.Status, r.Counts)
	}

	// The meter request of this month mails Lena once (V-9 reports otherwise).
	sink := mailtest.Start(t)
	period := time.Now().In(berlinZone(t)).Format("2006-01")
	if r := b.requestReadings(sink, base, period); r.Status != store.RunDone || r.Counts["sent"] != 1 || r.Counts["not_ready"] != 1 || r.Counts["contracts"] != 2 {
		t.Fatalf("meter request: %s %v", r.Status, r.Counts)
	}
	var mails []string
	for _, m := range sink.Received() {
		mails = append(mails, string(m.Raw))
	}
	if len(mails) != 1 || !strings.Contains(strings.ToLower(mails[0]), strings.ToLower(email)) {
		t.Fatalf("%d mails: %v", len(mails), mails)
	}
	m := linkRE.FindStringSubmatch(strings.ReplaceAll(mails[0], "=\r\n", ""))
	if m == nil {
		t.Fatalf("no link in the mail:\n%s", mails[0])
	}

	// The link (POST, as the Weiter button sends it) lands on /portal/readings.
	res := b.do("POST", "/portal/l/"+m[1], "", url.Values{}, nil)
	if res.code != http.StatusSeeOther || res.header.Get("Location") != "/portal/readings" {
		t.Fatalf("open link: %d %s", res.code, res.header.Get("Location"))
	}
	cookie := res.session(t)
	res = b.do("GET", "/portal/readings", cookie, nil, asJSON)
	var page readingsJSON
	if res.code != http.StatusOK || json.Unmarshal([]byte(res.body), &page) != nil {
		t.Fatalf("readings: %d %s", res.code, res.body)
	}
	if page.Customer.Name != "Bäckerei Huber" || len(page.Registers) != 3 {
		t.Fatalf("readings of %q: %d registers: %s", page.Customer.Name, len(page.Registers), res.body)
	}
	var sw, color int64
	for _, g := range page.Registers {
		switch g.Register {
		case "Schwarz/Weiß":
			sw = g.RegisterID
			if g.LastReading == nil || *g.LastReading != "1000" || g.Entered != nil || g.HowToReadURL == nil {
				t.Errorf("register before entry: %s", res.body)
			}
		case "Farbe":
			color = g.RegisterID
		}
	}
	if !strings.Contains(res.body, `"entered":null`) || !strings.Contains(res.body, `"how_to_read_url":"https://example.de/ablesen"`) {
		t.Errorf("readings JSON: %s", res.body)
	}
	// The company switch: Lena's address is also Café Maier's contact.
	if res := b.do("GET", "/portal/companies", cookie, nil, asJSON); !strings.Contains(res.body, "Café Maier") {
		t.Errorf("companies: %s", res.body)
	}

	// Plausible: stored. Implausible: 422 naming the rule, nothing stored; the page keeps
	// the value and shows the hint; confirmed: stored, flagged.
	if res := b.post("/portal/readings", cookie, map[string]any{"register_id": sw, "value": "1500"}); res.code != http.StatusOK ||
		!strings.Contains(res.body, `"plausible":true`) {
		t.Fatalf("plausible entry: %d %s", res.code, res.body)
	}
	res = b.post("/portal/readings", cookie, map[string]any{"register_id": color, "value": "900"})
	if res.code != http.StatusUnprocessableEntity || !strings.Contains(res.body, `"rule":"monotonic"`) || !strings.Contains(res.body, "Regel „monotonic“") {
		t.Fatalf("implausible entry: %d %s", res.code, res.body)
	}
	var stored int
	b.db.Get(&stored, `SELECT count(*) FROM readings WHERE register_id = $1 AND status <> 'released'`, color)
	if stored != 0 {
		t.Fatal("an unconfirmed implausible reading was stored")
	}
	html := b.do("POST", "/portal/readings", cookie, url.Values{"register_id": {strconv.FormatInt(color, 10)}, "value": {"900"}}, nil)
	if html.code != http.StatusUnprocessableEntity || !strings.Contains(html.body, `value="900"`) || !strings.Contains(html.body, `id="hint-`+strconv.FormatInt(color, 10)+`"`) ||
		!strings.Contains(html.body, "confirm_implausible") {
		t.Errorf("422 page without the value, the hint or the confirmation:\n%s", html.body)
	}
	if res := b.post("/portal/readings", cookie, map[string]any{"register_id": color, "value": "900", "confirm_implausible": true}); res.code != http.StatusOK ||
		!strings.Contains(res.body, `"plausible":false`) || !strings.Contains(res.body, `"flagged_rule":"monotonic"`) {
		t.Fatalf("confirmed entry: %d %s", res.code, res.body)
	}
	// A browser form posts and is sent back to the page.
	if res := b.do("POST", "/portal/readings", cookie, url.Values{"register_id": {strconv.FormatInt(sw, 10)}, "value": {"1500"}}, nil); res.code != http.StatusSeeOther {
		t.Errorf("form entry: %d %s", res.code, res.body)
	}
	res = b.do("GET", "/portal/readings", cookie, nil, nil)
	if !strings.Contains(res.body, "&#10004;") && !strings.Contains(res.body, "✔") {
		t.Errorf("no green check on the page:\n%s", res.body)
	}

	// Release: exactly the implausible reading is in the protocol.
	protocol, err := store.ReleaseProtocol(ctx, b.db, b.release().ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(protocol) != 1 || protocol[0].Register != "Farbe" || protocol[0].Rule != "monotonic" {
		t.Fatalf("protocol: %+v", protocol)
	}

	// After the release: the released one is 409, the failed one can still be corrected.
	if res := b.post("/portal/readings", cookie, map[string]any{"register_id": sw, "value": "1600"}); res.code != http.StatusConflict {
		t.Errorf("correction after release: %d %s", res.code, res.body)
	}
	if res := b.post("/portal/readings", cookie, map[string]any{"register_id": color, "value": "1200"}); res.code != http.StatusOK {
		t.Errorf("correction of the failed reading: %d %s", res.code, res.body)
	}
	res = b.do("GET", "/portal/readings", cookie, nil, asJSON)
	if !strings.Contains(res.body, `"entered":{"value":1500,`) || !strings.Contains(res.body, `"released":true`) {
		t.Errorf("readings after release: %s", res.body)
	}

	// History: the consumption of the period, as a table and a chart.
	res = b.do("GET", "/portal/history", cookie, nil, asJSON)
	if res.code != http.StatusOK || !strings.Contains(res.body, `"consumption":[{"period":"`+period+`"`) || !strings.Contains(res.body, `"consumption":500`) {
		t.Errorf("history: %d %s", res.code, res.body)
	}
	res = b.do("GET", "/portal/history", cookie, nil, nil)
	if res.code != http.StatusOK || !strings.Contains(res.body, "<svg") || !strings.Contains(res.body, "<rect") || strings.Contains(res.body, "<script") {
		t.Errorf("history page:\n%s", res.body)
	}
}

// TestReadingsScoping: no session, another customer's register, another tenant's.
func TestReadingsScoping(t *testing.T) {
	b, _ := meterWorld(t)
	for _, p := range []string{"/portal/readings", "/portal/history"} {
		if res := b.do("GET", p, "", nil, asJSON); res.code != http.StatusUnauthorized {
			t.Errorf("%s without a session: %d", p, res.code)
		}
		if res := b.do("GET", p, "", nil, nil); res.code != http.StatusSeeOther {
			t.Errorf("%s without a session (browser): %d", p, res.code)
		}
	}
	if res := b.post("/portal/readings", "", map[string]any{"register_id": 1, "value": "1"}); res.code != http.StatusUnauthorized {
		t.Errorf("POST without a session: %d", res.code)
	}
	// A session of custA (setup's identity), who has no portal contracts.
	var sw int64
	b.db.Get(&sw, `SELECT g.id FROM registers g JOIN meters m ON m.id = g.meter_id JOIN contracts ct ON ct.id = m.contract_id
		WHERE ct.tenant_id = $1 AND ct.number = 'V-1' ORDER BY g.id LIMIT 1`, b.acc.TenantID)
	sess := newSessionID()
	if err := store.CreateSession(context.Background(), b.db, store.NewSession{IDHash: store.HashSessionID(sess), TenantID: b.acc.TenantID,
		IdentityID: b.identity, CustomerID: b.custA, Purpose: "password", Lifetime: time.Hour}); err != nil {
		t.Fatal(err)
	}
	res := b.do("GET", "/portal/readings", sess, nil, asJSON)
	if res.code != http.StatusOK || !strings.Contains(res.body, `"registers":[]`) {
		t.Errorf("another customer's readings: %d %s", res.code, res.body)
	}
	if res := b.post("/portal/readings", sess, map[string]any{"register_id": sw, "value": "1500"}); res.code != http.StatusNotFound {
		t.Errorf("another customer's register: %d %s", res.code, res.body)
	}
	// Another tenant's session never reaches these registers.
	other := storetest.Account(t, b.db, "", "fremd", "")
	var cust int64
	b.db.Get(&cust, `INSERT INTO customers (tenant_id, account_id, external_id) VALUES ($1, $2, 'X') RETURNING id`, other.TenantID, other.ID)
	ident, err := store.EnsureCustomerIdentity(context.Background(), b.db, other.TenantID, cust)
	if err != nil {
		t.Fatal(err)
	}
	sess2 := newSessionID()
	store.CreateSession(context.Background(), b.db, store.NewSession{IDHash: store.HashSessionID(sess2), TenantID: other.TenantID,
		IdentityID: ident, CustomerID: cust, Purpose: "password", Lifetime: time.Hour})
	if res := b.post("/portal/readings", sess2, map[string]any{"register_id": sw, "value": "1500"}); res.code != http.StatusNotFound {
		t.Errorf("another tenant's register: %d %s", res.code, res.body)
	}
	// A cross-site POST is refused.
	req := map[string]string{"Origin": "https://evil.example"}
	if res := b.do("POST", "/portal/readings", sess, url.Values{"register_id": {"1"}, "value": {"1"}}, req); res.code != http.StatusForbidden {
		t.Errorf("cross-site POST: %d", res.code)
	}
}

func berlinZone(t *testing.T) *time.Location {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
