package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"portalwerk/jobs"
	"portalwerk/jobs/config"
	"portalwerk/jobs/login"
	"portalwerk/jobs/mail"
	"portalwerk/store"
	"portalwerk/store/storetest"
)

// contact adds a contact to the customer of contract and lists it on the contract.
func (b *testBundle) contact(contract, name, email string) {
	b.t.Helper()
	if _, err := b.db.Exec(`WITH ct AS (SELECT id, tenant_id, customer_id FROM contracts WHERE tenant_id = $1 AND number = $2),
		p AS (INSERT INTO contacts (tenant_id, customer_id, name, email) SELECT tenant_id, customer_id, $3, NULLIF($4, '') FROM ct
			ON CONFLICT (customer_id, name) DO UPDATE SET email = EXCLUDED.email RETURNING id)
		INSERT INTO contract_contacts SELECT ct.id, p.id FROM ct, p ON CONFLICT DO NOTHING`, b.admin.TenantID, contract, name, email); err != nil {
		b.t.Fatal(err)
	}
}

func (b *testBundle) queued(path, body string) string {
	b.t.Helper()
	res := b.json("POST", path, b.key, body)
	var q struct{ ID, Status string }
	if res.code != http.StatusAccepted || json.Unmarshal([]byte(res.body), &q) != nil || q.Status != "queued" || q.ID == "" {
		b.t.Fatalf("POST %s %s: %d %s", path, body, res.code, res.body)
	}
	return q.ID
}

func TestPortalReadyAPI(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.meterData() // V-1 with Anna Berg <anna@example.de>
	storetest.Register(t, b.db, b.admin, storetest.RegisterSpec{Customer: "K-1", Contract: "V-2", Meter: "M-2", Register: "Wärme"})
	b.contact("V-2", "Bernd Ohne", "")
	storetest.Register(t, b.db, b.admin, storetest.RegisterSpec{Customer: "K-1", Contract: "V-3", Meter: "M-3", Register: "Wärme"})
	b.contact("V-3", "Carla Doppelt", "ANNA@example.de ") // same address as Anna, another name, same customer
	for _, c := range []struct {
		key, body string
		code      int
	}{
		{b.member, `{"all":true}`, http.StatusForbidden},
		{b.key, `{}`, http.StatusBadRequest},
		{b.key, `{"all":true,"contracts":["V-1"]}`, http.StatusBadRequest},
		{b.key, `{"all":true,"period":"2026-11"}`, http.StatusBadRequest},
	} {
		if res := b.json("POST", "/v1/portal-ready", c.key, c.body); res.code != c.code {
			t.Errorf("POST /v1/portal-ready %s: %d %s, want %d", c.body, res.code, res.body, c.code)
		}
	}
	id := b.queued("/v1/portal-ready", `{"all":true}`)
	a := jobs.PortalReady{RunID: id, TenantID: b.admin.TenantID}
	if _, err := (&jobs.PortalReadyWorker{DB: b.db}).Work(context.Background(), &jobs.Task[jobs.PortalReady]{Args: a, ID: a.TaskID(), Log: storetest.Logger(t)}); err != nil {
		t.Fatal(err)
	}
	res := b.json("GET", "/v1/portal-ready/"+id, b.key, "")
	var got struct {
		Status    string           `json:"status"`
		Counts    map[string]int64 `json:"counts"`
		Contracts []struct {
			Contract string   `json:"contract"`
			Status   string   `json:"status"`
			Problems []string `json:"problems"`
		} `json:"contracts"`
	}
	if res.code != http.StatusOK || json.Unmarshal([]byte(res.body), &got) != nil {
		t.Fatalf("GET portal-ready: %d %s", res.code, res.body)
	}
	var lines []string
	for _, c := range got.Contracts {
		lines = append(lines, c.Contract+" "+c.Status+" "+strings.Join(c.Problems, ","))
	}
	want := "V-1 not_ready duplicate_contact_email|V-2 not_ready no_contact_email|V-3 not_ready duplicate_contact_email"
	if got.Status != "done" || strings.Join(lines, "|") != want || got.Counts["not_ready"] != 3 {
		t.Errorf("portal-ready: %s %v %q, want %q", got.Status, got.Counts, strings.Join(lines, "|"), want)
	}
	// Neither Anna nor Carla passed: no access. After Carla's address is fixed, both pass.
	var granted int
	b.db.Get(&granted, `SELECT count(*) FROM portal_contacts WHERE tenant_id = $1`, b.admin.TenantID)
	if granted != 0 {
		t.Errorf("%d contacts got access despite the duplicate address", granted)
	}
	b.contact("V-3", "Carla Doppelt", "carla@example.de")
	id = b.queued("/v1/portal-ready", `{"contracts":["V-1","V-3"]}`)
	a = jobs.PortalReady{RunID: id, TenantID: b.admin.TenantID}
	if _, err := (&jobs.PortalReadyWorker{DB: b.db}).Work(context.Background(), &jobs.Task[jobs.PortalReady]{Args: a, ID: a.TaskID(), Log: storetest.Logger(t)}); err != nil {
		t.Fatal(err)
	}
	res = b.json("GET", "/v1/portal-ready/"+id, b.key, "")
	if !strings.Contains(res.body, `"contract":"V-1","customer":"K-1","status":"ok","problems":[]`) || !strings.Contains(res.body, `"ok":2`) {
		t.Errorf("after the fix: %s", res.body)
	}
	b.db.Get(&granted, `SELECT count(*) FROM portal_contacts pc JOIN portal_identity_customers ic ON ic.identity_id = pc.identity_id
		WHERE pc.tenant_id = $1`, b.admin.TenantID)
	if granted != 2 {
		t.Errorf("granted %d contacts with a customer link, want 2", granted)
	}
	// Another tenant, a member's view of it: 404 / visible.
	if res := b.json("GET", "/v1/portal-ready/"+id, b.other, ""); res.code != http.StatusNotFound {
		t.Errorf("other tenant: %d", res.code)
	}
	if res := b.json("GET", "/v1/portal-ready/"+store.NewID(), b.key, ""); res.code != http.StatusNotFound {
		t.Errorf("unknown: %d", res.code)
	}
	if res := b.json("GET", "/v1/meter-requests/"+id, b.key, ""); res.code != http.StatusNotFound {
		t.Errorf("a portal-ready run as a meter request: %d", res.code)
	}
}

func TestMeterRequestsAPI(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.meterData() // V-1 monthly with Anna
	storetest.Register(t, b.db, b.admin, storetest.RegisterSpec{Customer: "K-1", Contract: "V-Q", Interval: "quarterly", Meter: "M-Q", Register: "Wärme"})
	b.contact("V-Q", "Anna Berg", "anna@example.de")
	storetest.Register(t, b.db, b.admin, storetest.RegisterSpec{Customer: "K-1", Contract: "V-O", Reporting: "other", Meter: "M-O", Register: "Wärme"})
	b.contact("V-O", "Anna Berg", "anna@example.de")
	storetest.Register(t, b.db, b.admin, storetest.RegisterSpec{Customer: "K-2", Contract: "V-X", Meter: "M-X", Register: "Wärme"})
	b.contact("V-X", "Xaver Ohne", "")
	for _, c := range []struct {
		key, body string
		code      int
	}{
		{b.member, `{"period":"2026-11","all":true}`, http.StatusForbidden},
		{b.key, `{"all":true}`, http.StatusBadRequest},
		{b.key, `{"period":"2026-13","all":true}`, http.StatusBadRequest},
		{b.key, `{"period":"11/2026","all":true}`, http.StatusBadRequest},
		{b.key, `{"period":"2026-11"}`, http.StatusBadRequest},
	} {
		if res := b.json("POST", "/v1/meter-requests", c.key, c.body); res.code != c.code {
			t.Errorf("POST /v1/meter-requests %s: %d %s, want %d", c.body, res.code, res.body, c.code)
		}
	}
	outbox := t.TempDir()
	sender, err := mail.New("file://"+outbox, "portal@example.de", storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	k := config.LoginKey{ID: "k1"}
	copy(k.Secret[:], "0123456789abcdef0123456789abcdef")
	keys, _ := login.NewKeys([]config.LoginKey{k})
	w := &jobs.MeterRequestsWorker{DB: b.db, Mail: sender, Keys: keys, BaseURL: "https://portal.example.de",
		Now: func() time.Time { return time.Date(2026, 11, 2, 6, 0, 0, 0, time.UTC) }}
	run := func(body string) map[string]any {
		t.Helper()
		id := b.queued("/v1/meter-requests", body)
		a := jobs.MeterRequests{RunID: id, TenantID: b.admin.TenantID}
		if _, err := w.Work(context.Background(), &jobs.Task[jobs.MeterRequests]{Args: a, ID: a.TaskID(), Log: storetest.Logger(t)}); err != nil {
			t.Fatal(err)
		}
		res := b.json("GET", "/v1/meter-requests/"+id, b.key, "")
		var got map[string]any
		if res.code != http.StatusOK || json.Unmarshal([]byte(res.body), &got) != nil {
			t.Fatalf("GET meter request: %d %s", res.code, res.body)
		}
		if res := b.json("GET", "/v1/meter-requests/"+id, b.other, ""); res.code != http.StatusNotFound {
			t.Errorf("other tenant reads the request: %d", res.code)
		}
		return got
	}
	got := run(`{"period":"2026-11","all":true}`)
	// V-1 (2026-11) and V-Q (2026-Q4) are ready; V-O reports otherwise; V-X has no address.
	// Anna gets one mail per period: two.
	js, _ := json.Marshal(got["counts"])
	nr, _ := json.Marshal(got["not_ready"])
	if got["status"] != "done" || string(js) != `{"contacts":2,"contracts":3,"failed":0,"not_ready":1,"sent":2}` ||
		string(nr) != `[{"contract":"V-X","customer":"K-2","problems":["no_contact_email"]}]` {
		t.Errorf("meter request: %v %s %s", got["status"], js, nr)
	}
	files, _ := filepath.Glob(filepath.Join(outbox, "*.eml"))
	if len(files) != 2 {
		t.Fatalf("%d mails, want 2", len(files))
	}
	raw, _ := os.ReadFile(files[0])
	if !strings.Contains(strings.ReplaceAll(string(raw), "=\r\n", ""), "https://portal.example.de/portal/l/") {
		t.Errorf("mail without the link:\n%s", raw)
	}
	// The same month again, and its quarter: nobody is mailed twice.
	got = run(`{"period":"2026-11","contracts":["V-1","V-Q"]}`)
	js, _ = json.Marshal(got["counts"])
	if string(js) != `{"contacts":0,"contracts":2,"failed":0,"not_ready":0,"sent":0}` {
		t.Errorf("second request of the period: %s", js)
	}
	got = run(`{"period":"2026-Q4","all":true}`)
	js, _ = json.Marshal(got["counts"])
	if string(js) != `{"contacts":0,"contracts":1,"failed":0,"not_ready":0,"sent":0}` {
		t.Errorf("the quarter again: %s", js)
	}
	// The next month mails the monthly contract only.
	got = run(`{"period":"2026-12","all":true}`)
	js, _ = json.Marshal(got["counts"])
	if files, _ := filepath.Glob(filepath.Join(outbox, "*.eml")); len(files) != 3 || !strings.Contains(string(js), `"sent":1`) {
		t.Errorf("next month: %d mails, %s", len(files), js)
	}
	// A selection without a portal contract fails with a sentence.
	got = run(`{"period":"2026-11","contracts":["V-O"]}`)
	if got["status"] != "failed" || !strings.Contains(got["error"].(string), "reporting=portal") {
		t.Errorf("no portal contract: %v", got)
	}
}
