package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"portalwerk/jobs"
	"portalwerk/store"
	"portalwerk/store/storetest"
)

// meterData gives the admin's account a customer K-1 with contract V-1 (two registers
// with history, one contact) and returns the registers.
func (b *testBundle) meterData() (sw, color int64) {
	b.t.Helper()
	sw = storetest.Register(b.t, b.db, b.admin, storetest.RegisterSpec{Customer: "K-1", Contract: "V-1", Meter: "M-1", Register: "Schwarz/Weiß", Unit: "Seiten", Digits: 7})
	color = storetest.Register(b.t, b.db, b.admin, storetest.RegisterSpec{Customer: "K-1", Contract: "V-1", Meter: "M-1", Register: "Farbe", Unit: "Seiten", Digits: 7})
	for _, id := range []int64{sw, color} {
		storetest.Released(b.t, b.db, b.admin.TenantID, id, "1000", "2026-01-01")
		storetest.Released(b.t, b.db, b.admin.TenantID, id, "1300", "2026-01-31")
	}
	if _, err := b.db.Exec(`WITH p AS (INSERT INTO contacts (tenant_id, customer_id, name, email)
			SELECT tenant_id, customer_id, 'Anna Berg', 'anna@example.de' FROM contracts WHERE tenant_id = $1 AND number = 'V-1' RETURNING id, customer_id)
		INSERT INTO contract_contacts SELECT ct.id, p.id FROM p JOIN contracts ct ON ct.customer_id = p.customer_id`, b.admin.TenantID); err != nil {
		b.t.Fatal(err)
	}
	return sw, color
}

func (b *testBundle) enter(register int64, value, on string) int64 {
	b.t.Helper()
	d, _ := time.Parse(time.DateOnly, on)
	id, err := store.EnterReading(context.Background(), b.db, store.NewReading{TenantID: b.admin.TenantID, RegisterID: register,
		Value: value, ReadOn: d, Source: store.SourcePortal, Plausible: true})
	if err != nil {
		b.t.Fatal(err)
	}
	return id
}

func (b *testBundle) json(method, path, key, body string) response {
	b.t.Helper()
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	} else {
		rd = strings.NewReader("")
	}
	return b.do(method, path, "Bearer "+key, rd, "application/json")
}

func TestContractsList(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	sw, _ := b.meterData()
	res := b.json("GET", "/v1/contracts?customer=K-1", b.key, "")
	if res.code != http.StatusOK {
		t.Fatalf("contracts: %d %s", res.code, res.body)
	}
	var out struct {
		Contracts []struct {
			Contract  string `json:"contract"`
			Reporting string `json:"reporting"`
			Interval  string `json:"interval"`
			Contacts  []struct {
				Name  string `json:"name"`
				Email string `json:"email"`
			} `json:"contacts"`
			Registers []struct {
				RegisterID      int64           `json:"register_id"`
				Meter           string          `json:"meter"`
				Register        string          `json:"register"`
				Digits          int             `json:"digits"`
				Decimals        int             `json:"decimals"`
				LastReading     json.RawMessage `json:"last_reading"`
				LastReadingDate string          `json:"last_reading_date"`
			} `json:"registers"`
		} `json:"contracts"`
	}
	if err := json.Unmarshal([]byte(res.body), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Contracts) != 1 || out.Contracts[0].Contract != "V-1" || out.Contracts[0].Reporting != "portal" || out.Contracts[0].Interval != "monthly" ||
		len(out.Contracts[0].Contacts) != 1 || out.Contracts[0].Contacts[0].Email != "anna@example.de" || len(out.Contracts[0].Registers) != 2 {
		t.Fatalf("contracts %s", res.body)
	}
	g := out.Contracts[0].Registers[1] // by name: Farbe, Schwarz/Weiß
	if g.RegisterID != sw || g.Meter != "M-1" || g.Register != "Schwarz/Weiß" || g.Digits != 7 || string(g.LastReading) != "1300" || g.LastReadingDate != "2026-01-31" {
		t.Errorf("register %+v (last %s)", g, g.LastReading)
	}
	for _, c := range []struct {
		key, path string
		code      int
	}{
		{b.key, "/v1/contracts", http.StatusBadRequest},
		{b.key, "/v1/contracts?customer=K-404", http.StatusNotFound},
		{b.other, "/v1/contracts?customer=K-1", http.StatusNotFound},
		{b.member, "/v1/contracts?customer=K-1&account=huber", http.StatusForbidden},
	} {
		if res := b.json("GET", c.path, c.key, ""); res.code != c.code {
			t.Errorf("GET %s: %d %s, want %d", c.path, res.code, res.body, c.code)
		}
	}
}

// POST /v1/releases queues a run; its task releases the passing readings and the run
// shows the failing ones in its protocol; failed readings are listed with their rule and
// can be released by hand.
func TestReleaseThroughTheAPI(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	sw, color := b.meterData()
	good := b.enter(sw, "1500", "2026-02-20")
	bad := b.enter(color, "9000", "2026-02-20")

	for _, c := range []struct {
		key, body string
		code      int
	}{
		{b.member, `{"all":true}`, http.StatusForbidden},
		{b.key, `{}`, http.StatusBadRequest},
		{b.key, `{"all":true,"contracts":["V-1"]}`, http.StatusBadRequest},
		{b.key, `{"contracts":[""]}`, http.StatusBadRequest},
		{b.key, `{"all":true,"account":"nobody"}`, http.StatusNotFound},
	} {
		if res := b.json("POST", "/v1/releases", c.key, c.body); res.code != c.code {
			t.Errorf("POST /v1/releases %s: %d %s, want %d", c.body, res.code, res.body, c.code)
		}
	}
	res := b.json("POST", "/v1/releases", b.key, `{"contracts":["V-1"]}`)
	var queued struct{ ID, Status string }
	if res.code != http.StatusAccepted || json.Unmarshal([]byte(res.body), &queued) != nil || queued.Status != "queued" || queued.ID == "" {
		t.Fatalf("release: %d %s", res.code, res.body)
	}
	if res := b.json("GET", "/v1/releases/"+queued.ID, b.key, ""); res.code != http.StatusOK || !strings.Contains(res.body, `"status":"queued"`) {
		t.Errorf("queued release: %d %s", res.code, res.body)
	}
	a := jobs.Release{RunID: queued.ID, TenantID: b.admin.TenantID}
	w := &jobs.ReleaseWorker{DB: b.db, Now: func() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }}
	if _, err := w.Work(context.Background(), &jobs.Task[jobs.Release]{Args: a, ID: a.TaskID(), Log: storetest.Logger(t)}); err != nil {
		t.Fatal(err)
	}
	res = b.json("GET", "/v1/releases/"+queued.ID, b.key, "")
	var got struct {
		Status   string           `json:"status"`
		Counts   map[string]int64 `json:"counts"`
		Protocol []struct {
			ReadingID int64  `json:"reading_id"`
			Contract  string `json:"contract"`
			Meter     string `json:"meter"`
			Register  string `json:"register"`
			Rule      string `json:"rule"`
			Message   string `json:"message"`
		} `json:"protocol"`
	}
	if err := json.Unmarshal([]byte(res.body), &got); err != nil || got.Status != "done" {
		t.Fatalf("release: %d %s", res.code, res.body)
	}
	if got.Counts["checked"] != 2 || got.Counts["released"] != 1 || got.Counts["failed"] != 1 || len(got.Protocol) != 1 {
		t.Fatalf("release %s", res.body)
	}
	if p := got.Protocol[0]; p.ReadingID != bad || p.Contract != "V-1" || p.Meter != "M-1" || p.Register != "Farbe" || p.Rule != "max_factor" ||
		!strings.HasPrefix(p.Message, "Regel „max_factor“") {
		t.Errorf("protocol %+v", p)
	}
	if res := b.json("GET", "/v1/releases/"+queued.ID, b.other, ""); res.code != http.StatusNotFound {
		t.Errorf("another tenant's release: %d", res.code)
	}

	res = b.json("GET", "/v1/readings?status=failed", b.key, "")
	if res.code != http.StatusOK || !strings.Contains(res.body, fmt.Sprintf(`"reading_id":%d`, bad)) || strings.Contains(res.body, fmt.Sprintf(`"reading_id":%d,`, good)) ||
		!strings.Contains(res.body, `"rule":"max_factor"`) || !strings.Contains(res.body, `"value":9000`) {
		t.Errorf("failed readings: %s", res.body)
	}
	res = b.json("GET", "/v1/readings?status=released&limit=1", b.key, "")
	var page struct {
		Readings []struct {
			ReadingID int64 `json:"reading_id"`
		} `json:"readings"`
		NextAfter *int64 `json:"next_after"`
	}
	if json.Unmarshal([]byte(res.body), &page) != nil || len(page.Readings) != 1 || page.NextAfter == nil {
		t.Errorf("first page of released readings: %s", res.body)
	}
	if res := b.json("GET", "/v1/readings?status=lost", b.key, ""); res.code != http.StatusBadRequest {
		t.Errorf("bad status: %d", res.code)
	}
	if res := b.json("GET", "/v1/readings?status=failed", b.other, ""); !strings.Contains(res.body, `"readings":[]`) {
		t.Errorf("another tenant sees readings: %s", res.body)
	}

	path := fmt.Sprintf("/v1/readings/%d/release", bad)
	for _, c := range []struct {
		key, path, body string
		code            int
	}{
		{b.member, path, `{"reason":"x"}`, http.StatusForbidden},
		{b.key, path, `{}`, http.StatusBadRequest},
		{b.key, path, `{"reason":"  "}`, http.StatusBadRequest},
		{b.other, path, `{"reason":"x"}`, http.StatusNotFound},
		{b.key, fmt.Sprintf("/v1/readings/%d/release", good), `{"reason":"x"}`, http.StatusConflict},
	} {
		if res := b.json("POST", c.path, c.key, c.body); res.code != c.code {
			t.Errorf("POST %s %s: %d %s, want %d", c.path, c.body, res.code, res.body, c.code)
		}
	}
	res = b.json("POST", path, b.key, `{"reason":"Zähler getauscht, Stand vor Ort geprüft"}`)
	if res.code != http.StatusOK || !strings.Contains(res.body, `"status":"released"`) || !strings.Contains(res.body, `"released_by":"huber"`) ||
		!strings.Contains(res.body, `"manual_reason":"Zähler getauscht, Stand vor Ort geprüft"`) {
		t.Errorf("manual release: %d %s", res.code, res.body)
	}
	if res := b.json("POST", path, b.key, `{"reason":"again"}`); res.code != http.StatusConflict {
		t.Errorf("second manual release: %d", res.code)
	}
}

func TestMeterRequestTemplate(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	const path = "/v1/templates/meter-request"
	res := b.json("GET", path, b.key, "")
	if res.code != http.StatusOK || res.header.Get("X-Template-Source") != "default" || !strings.Contains(res.body, "#URL#") ||
		!strings.HasPrefix(res.header.Get("Content-Type"), "text/html") {
		t.Fatalf("default template: %d %v %s", res.code, res.header, res.body)
	}
	for _, c := range []struct {
		key, body string
		code      int
	}{
		{b.member, "<p>#URL#</p>", http.StatusForbidden},
		{b.key, "<p>Bitte melden Sie Ihre Zählerstände.</p>", http.StatusBadRequest},
		{b.key, "", http.StatusBadRequest},
		{b.key, "<p>#URL#</p>" + strings.Repeat("x", 65<<10), http.StatusRequestEntityTooLarge},
		{b.key, "<p>#URL#\x00</p>", http.StatusBadRequest},
	} {
		res := b.do("PUT", path, "Bearer "+c.key, strings.NewReader(c.body), "text/html")
		if res.code != c.code {
			t.Errorf("PUT %.40q: %d %s, want %d", c.body, res.code, res.body, c.code)
		}
	}
	own := `<p>Liebe Kundin, lieber Kunde,</p><p><a href="#URL#">Zählerstände melden</a></p>`
	if res := b.do("PUT", path, "Bearer "+b.key, strings.NewReader(own), "text/html"); res.code != http.StatusNoContent {
		t.Fatalf("PUT: %d %s", res.code, res.body)
	}
	if res := b.json("GET", path, b.member, ""); res.body != own || res.header.Get("X-Template-Source") != "tenant" {
		t.Errorf("stored template: %s %s", res.header.Get("X-Template-Source"), res.body)
	}
	if res := b.json("GET", path, b.other, ""); res.header.Get("X-Template-Source") != "default" {
		t.Errorf("another tenant gets %s", res.body)
	}
}
