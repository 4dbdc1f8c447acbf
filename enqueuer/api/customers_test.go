package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"portalwerk/store"
)

// canTransfer gives the account the transfer permission.
func (b *testBundle) canTransfer(acc store.Account) {
	b.t.Helper()
	yes := true
	if _, err := store.UpdateAccount(context.Background(), b.db, acc.Tenant, acc.Name, store.AccountUpdate{CanTransfer: &yes}); err != nil {
		b.t.Fatal(err)
	}
}

// newCustomer creates a customer of acc and returns its portal id.
func (b *testBundle) newCustomer(acc store.Account, externalID string) int64 {
	b.t.Helper()
	var id int64
	if err := b.db.Get(&id, `INSERT INTO customers (tenant_id, account_id, external_id, last_name, login_id)
		VALUES ($1, $2, $3, 'Huber-Kunde', 'login-'||$3) RETURNING id`, acc.TenantID, acc.ID, externalID+"-"+store.NewID()[:6]); err != nil {
		b.t.Fatal(err)
	}
	return id
}

func (b *testBundle) postJSON(path, key, body string) response {
	b.t.Helper()
	return b.do("POST", path, "Bearer "+key, strings.NewReader(body), "application/json")
}

func (b *testBundle) getCustomer(key string, id int64) store.Customer {
	b.t.Helper()
	res := b.do("GET", fmt.Sprintf("/v1/customers/%d", id), "Bearer "+key, nil, "")
	if res.code != http.StatusOK {
		b.t.Fatalf("GET customer %d: %d %s", id, res.code, res.body)
	}
	var c store.Customer
	if err := json.Unmarshal([]byte(res.body), &c); err != nil {
		b.t.Fatal(err)
	}
	return c
}

func TestRelatedData(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	id := b.newCustomer(b.admin, "K-1")
	base := fmt.Sprintf("/v1/customers/%d", id)
	for path, body := range map[string]string{
		"/appointments":  `{"starts_at":"2026-12-03T09:00:00+01:00","subject":"Wartung Heizung"}`,
		"/visit-reports": `{"visited_on":"2026-11-20","text":"Zähler getauscht"}`,
		"/visit-blocks":  `{"from":"2026-12-20","until":"2027-01-06","reason":"Betriebsferien"}`,
	} {
		if res := b.postJSON(base+path, b.key, body); res.code != http.StatusCreated {
			t.Errorf("POST %s: %d %s", path, res.code, res.body)
		}
		res := b.do("GET", base+path, "Bearer "+b.key, nil, "")
		if res.code != http.StatusOK || !strings.Contains(res.body, `"id":`) {
			t.Errorf("GET %s: %d %s", path, res.code, res.body)
		}
		// A member may read its own account's customers only, and never write.
		if res := b.postJSON(base+path, b.member, body); res.code != http.StatusForbidden {
			t.Errorf("member POST %s: %d", path, res.code)
		}
		if res := b.do("GET", base+path, "Bearer "+b.member, nil, ""); res.code != http.StatusNotFound {
			t.Errorf("member GET %s of another account's customer: %d", path, res.code)
		}
		// Another tenant's customer does not exist.
		if res := b.do("GET", base+path, "Bearer "+b.other, nil, ""); res.code != http.StatusNotFound {
			t.Errorf("other tenant GET %s: %d", path, res.code)
		}
	}
	res := b.do("GET", base+"/visit-reports", "Bearer "+b.key, nil, "")
	if !strings.Contains(res.body, `"visited_on":"2026-11-20"`) || !strings.Contains(res.body, "Zähler getauscht") {
		t.Errorf("visit reports %s", res.body)
	}
	if c := b.getCustomer(b.key, id); c.Appointments != 1 || c.VisitReports != 1 || c.VisitBlocks != 1 {
		t.Errorf("counts %d %d %d", c.Appointments, c.VisitReports, c.VisitBlocks)
	}
	for path, body := range map[string]string{
		"/appointments":  `{"starts_at":"morgen","subject":"x"}`,
		"/visit-reports": `{"visited_on":"20.11.2026","text":"x"}`,
		"/visit-blocks":  `{"from":"2026-12-20","until":"2026-12-01"}`,
	} {
		if res := b.postJSON(base+path, b.key, body); res.code != http.StatusBadRequest || res.errorMessage() == "" {
			t.Errorf("bad POST %s: %d %s", path, res.code, res.body)
		}
	}
	if res := b.postJSON(base+"/appointments", b.key, `{"starts_at":"2026-12-03T09:00:00Z","subject":"a\u0000b"}`); res.code != http.StatusBadRequest {
		t.Errorf("NUL in subject: %d", res.code)
	}
	if res := b.postJSON(base+"/appointments", b.key, `{"starts_at":"2026-12-03T09:00:00Z","nonsense":1}`); res.code != http.StatusBadRequest {
		t.Errorf("unknown field: %d", res.code)
	}
}

func TestManualTransfer(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	maier, maierKey := b.account(b.admin.Tenant, "maier", store.RoleAdmin)
	id := b.newCustomer(b.admin, "K-1")
	b.postJSON(fmt.Sprintf("/v1/customers/%d/appointments", id), b.key, `{"starts_at":"2026-12-03T09:00:00Z","subject":"Wartung"}`)
	path := fmt.Sprintf("/v1/customers/%d/transfer", id)
	move := `{"to_account":"maier","mode":"move","related":true}`

	// An admin without can_transfer is refused, like a member.
	if res := b.postJSON(path, b.key, move); res.code != http.StatusForbidden || !strings.Contains(res.errorMessage(), "Transferieren") {
		t.Errorf("admin without can_transfer: %d %s", res.code, res.body)
	}
	if res := b.postJSON(path, b.member, move); res.code != http.StatusForbidden {
		t.Errorf("member: %d", res.code)
	}
	b.canTransfer(b.admin)
	for body, want := range map[string]int{
		`{"to_account":"maier","mode":"steal"}`:               http.StatusBadRequest,
		`{"mode":"move"}`:                                     http.StatusBadRequest,
		`{"to_account":"niemand","mode":"move"}`:              http.StatusNotFound,
		`{"to_account":"huber","mode":"move","related":true}`: http.StatusConflict,
	} {
		if res := b.postJSON(path, b.key, body); res.code != want {
			t.Errorf("%s: %d %s, want %d", body, res.code, res.body, want)
		}
	}
	// Another tenant's account name is not found, whatever exists there.
	if res := b.postJSON(fmt.Sprintf("/v1/customers/%d/transfer", b.newCustomer(b.admin, "K-2")), b.key, `{"to_account":"maier-x","mode":"copy"}`); res.code != http.StatusNotFound {
		t.Errorf("unknown account: %d", res.code)
	}

	res := b.postJSON(path, b.key, move)
	if res.code != http.StatusOK {
		t.Fatalf("move: %d %s", res.code, res.body)
	}
	var moved store.Customer
	json.Unmarshal([]byte(res.body), &moved)
	if moved.PortalID != id || moved.Account != "maier" || moved.Appointments != 1 {
		t.Errorf("moved %+v", moved)
	}
	if c := b.getCustomer(maierKey, id); c.Account != "maier" {
		t.Errorf("maier sees %+v", c)
	}

	// Copy it back without related data: a new customer for huber, maier's stays.
	b.canTransfer(maier)
	res = b.postJSON(path, maierKey, `{"to_account":"huber","mode":"copy"}`)
	if res.code != http.StatusCreated {
		t.Fatalf("copy: %d %s", res.code, res.body)
	}
	var copied store.Customer
	json.Unmarshal([]byte(res.body), &copied)
	if copied.PortalID == id || copied.Account != "huber" || copied.Appointments != 0 || copied.LoginID != nil {
		t.Errorf("copied %+v", copied)
	}
	// The key is now live in both accounts: another copy to huber is refused.
	if res := b.postJSON(path, maierKey, `{"to_account":"huber","mode":"copy"}`); res.code != http.StatusConflict || !strings.Contains(res.errorMessage(), "externen ID") {
		t.Errorf("copy onto a taken key: %d %s", res.code, res.body)
	}
	var n int
	b.db.Get(&n, `SELECT count(*) FROM customers WHERE tenant_id = $1`, b.admin.TenantID)
	if n != 3 {
		t.Errorf("%d customers in the tenant, want 3 (two originals, one copy)", n)
	}
}
