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
	"portalwerk/jobs/importer"
	"portalwerk/store"
	"portalwerk/store/storetest"
)

// syncImport is the part of the import object the sync and transfer tests read.
type syncImport struct {
	ID              string          `json:"id"`
	Status          string          `json:"status"`
	Counts          store.Counts    `json:"counts"`
	TransferSources map[string]int  `json:"transfer_sources"`
	Warnings        []store.Warning `json:"warnings"`
	Error           *string         `json:"error"`
}

// previewed uploads a customers file as key's account, previews it as the worker would,
// and returns the import as GET /v1/imports/{id} shows it.
func (b *testBundle) previewed(key, file string, fields map[string]string) syncImport {
	b.t.Helper()
	fields["profile"] = "customers"
	res := b.upload(key, "kunden.csv", []byte(file), fields)
	var im importObj
	if res.code != http.StatusAccepted || json.Unmarshal([]byte(res.body), &im) != nil {
		b.t.Fatalf("upload: %d %s", res.code, res.body)
	}
	eng := &importer.Engine{DB: b.db, Log: storetest.Logger(b.t)}
	if _, err := eng.Preview(context.Background(), im.ID); err != nil {
		b.t.Fatal(err)
	}
	return b.getImport(key, im.ID)
}

func (b *testBundle) getImport(key, id string) syncImport {
	b.t.Helper()
	res := b.do("GET", "/v1/imports/"+id, "Bearer "+key, nil, "")
	var out syncImport
	if res.code != http.StatusOK || json.Unmarshal([]byte(res.body), &out) != nil {
		b.t.Fatalf("GET import: %d %s", res.code, res.body)
	}
	return out
}

// confirmAndApply confirms with the JSON body and applies as the worker would.
func (b *testBundle) confirmAndApply(key, id, body string) syncImport {
	b.t.Helper()
	if res := b.postJSON("/v1/imports/"+id+"/confirm", key, body); res.code != http.StatusAccepted {
		b.t.Fatalf("confirm: %d %s", res.code, res.body)
	}
	eng := &importer.Engine{DB: b.db, Log: storetest.Logger(b.t)}
	if err := eng.Apply(context.Background(), id); err != nil {
		b.t.Fatal(err)
	}
	im := b.getImport(key, id)
	if im.Status != "done" {
		b.t.Fatalf("apply: %+v", im)
	}
	return im
}

func (b *testBundle) customersOf(key, query string) []store.Customer {
	b.t.Helper()
	res := b.do("GET", "/v1/customers?"+query, "Bearer "+key, nil, "")
	var page struct {
		Customers []store.Customer `json:"customers"`
	}
	if res.code != http.StatusOK || json.Unmarshal([]byte(res.body), &page) != nil {
		b.t.Fatalf("GET customers %s: %d %s", query, res.code, res.body)
	}
	return page.Customers
}

// Seed 002: Huber's customers, with appointments, go to Maier. A sync import for Huber
// without them moves them to Huber's trash; a later update import for Maier with
// transfer=move and transfer_related=true finds them there and moves them with their
// appointments. After 14 days the purge removes what is left in the trash; the
// appointments survive.
func TestSeedTwoAccountsSyncThenTransfer(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	maier, maierKey := b.account(b.admin.Tenant, "maier", store.RoleAdmin)
	b.canTransfer(maier)
	ctx := context.Background()

	huberFile := "external_id;last_name;city\nK-1;Alpha;Linz\nK-2;Beta;Wels\nK-3;Gamma;Steyr\nK-4;Delta;Enns\n"
	im := b.previewed(b.key, huberFile, map[string]string{"mode": "update"})
	b.confirmAndApply(b.key, im.ID, `{}`)
	ids := map[string]int64{}
	for _, c := range b.customersOf(b.key, "") {
		ids[*c.ExternalID] = c.PortalID
	}
	for _, ext := range []string{"K-3", "K-4"} {
		for i := 0; i < 2; i++ {
			res := b.postJSON(fmt.Sprintf("/v1/customers/%d/appointments", ids[ext]), b.key, `{"starts_at":"2026-12-03T09:00:00+01:00","subject":"Besuch"}`)
			if res.code != http.StatusCreated && res.code != http.StatusOK {
				t.Fatalf("appointment: %d %s", res.code, res.body)
			}
		}
	}
	// The new territories: K-3 and K-4 are Maier's now. Huber's sync leaves them out.
	im = b.previewed(b.key, "external_id;last_name\nK-1;Alpha\nK-2;Beta\n", map[string]string{"mode": "sync"})
	if im.Counts.Delete != 2 || im.Counts.Unchanged != 2 || len(im.Warnings) != 0 {
		t.Fatalf("sync preview: %+v", im)
	}
	page, res := b.changes(im.ID, "?action=delete")
	if res.code != http.StatusOK || len(page.Changes) != 2 || page.Changes[0].Row != nil {
		t.Fatalf("sync deletes: %d %s", res.code, res.body)
	}
	im = b.confirmAndApply(b.key, im.ID, `{}`)
	if im.Counts.Delete != 2 {
		t.Fatalf("sync: %+v", im.Counts)
	}
	trash := b.customersOf(b.key, "trash=true")
	if len(trash) != 2 || trash[0].DeletedAt == nil || trash[0].Appointments != 2 {
		t.Fatalf("Huber's trash: %+v", trash)
	}

	// Maier's import of the same customers, a day later, finds them in Huber's trash.
	file := "external_id;last_name;phone\nK-3;Gamma;0732 1\nK-4;Delta;\nK-9;Neu;\n"
	im = b.previewed(maierKey, file, map[string]string{"mode": "update", "transfer": "move", "transfer_related": "true"})
	if im.Counts.TransferMove != 2 || im.Counts.Create != 1 || fmt.Sprint(im.TransferSources) != "map[huber:2]" {
		t.Fatalf("transfer preview: %+v", im)
	}
	im = b.confirmAndApply(maierKey, im.ID, `{"skip_invalid_rows":false}`)
	if im.Counts.TransferMove != 2 || im.Counts.Create != 1 || fmt.Sprint(im.TransferSources) != "map[huber:2]" {
		t.Fatalf("transfer: %+v", im)
	}
	page, res = b.changes(im.ID, "?action=transfer_move")
	if res.code != http.StatusOK || len(page.Changes) != 2 || string(page.Changes[0].Changes["account"]) != `{"new":"maier","old":"huber"}` {
		t.Fatalf("transfer changes: %d %s", res.code, res.body)
	}
	moved := b.getCustomer(maierKey, ids["K-3"])
	if moved.Account != "maier" || moved.DeletedAt != nil || moved.Appointments != 2 || moved.Phone == nil || *moved.Phone != "0732 1" {
		t.Fatalf("moved K-3: %+v", moved)
	}
	if len(b.customersOf(b.key, "trash=true")) != 0 {
		t.Error("Huber's trash still holds the moved customers")
	}

	// Huber's trash gets K-2 by a second sync; 14 days later the purge takes it.
	im = b.previewed(b.key, "external_id\nK-1\n", map[string]string{"mode": "sync"})
	b.confirmAndApply(b.key, im.ID, `{"allow_mass_delete":"false"}`)
	k2 := ids["K-2"]
	if res := b.postJSON(fmt.Sprintf("/v1/customers/%d/appointments", k2), b.key, `{"starts_at":"2026-12-04T09:00:00+01:00","subject":"Alt"}`); res.code >= 300 {
		t.Fatalf("appointment: %d %s", res.code, res.body)
	}
	if _, err := b.db.Exec(`UPDATE customers SET deleted_at = now() - interval '15 days' WHERE id = $1`, k2); err != nil {
		t.Fatal(err)
	}
	purge := &jobs.PurgeTrashWorker{DB: b.db, Now: time.Now}
	if _, err := purge.Work(ctx, &jobs.Task[jobs.PurgeTrash]{Args: jobs.PurgeTrash{TenantID: b.admin.TenantID, Slot: "test"}, Log: storetest.Logger(t)}); err != nil {
		t.Fatal(err)
	}
	if res := b.do("GET", fmt.Sprintf("/v1/customers/%d", k2), "Bearer "+b.key, nil, ""); res.code != http.StatusNotFound {
		t.Errorf("purged customer: %d", res.code)
	}
	var appts int
	if err := b.db.Get(&appts, `SELECT count(*) FROM appointments WHERE account_id = $1 AND subject = 'Alt'`, b.admin.ID); err != nil || appts != 1 {
		t.Errorf("appointment of the purged customer: %d %v", appts, err)
	}
	if got := b.getCustomer(maierKey, ids["K-4"]); got.Appointments != 2 {
		t.Errorf("Maier's K-4 lost its appointments: %+v", got)
	}
}

// A sync that would trash more than half of the account warns in the preview, and its
// confirm needs allow_mass_delete=true.
func TestSyncMassDeleteNeedsConsent(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	im := b.previewed(b.key, "external_id\nK-1\nK-2\nK-3\n", map[string]string{"mode": "update"})
	b.confirmAndApply(b.key, im.ID, `{}`)
	im = b.previewed(b.key, "external_id\nK-1\n", map[string]string{"mode": "sync"})
	if len(im.Warnings) != 1 || im.Warnings[0].Code != "mass_delete" || !strings.Contains(im.Warnings[0].Message, "2 von 3") {
		t.Fatalf("warnings: %+v", im.Warnings)
	}
	for _, body := range []string{`{}`, `{"allow_mass_delete":false}`, `{"skip_invalid_rows":true}`} {
		res := b.postJSON("/v1/imports/"+im.ID+"/confirm", b.key, body)
		if res.code != http.StatusConflict || !strings.Contains(res.errorMessage(), "allow_mass_delete=true") {
			t.Errorf("confirm %s: %d %s", body, res.code, res.body)
		}
	}
	if res := b.postJSON("/v1/imports/"+im.ID+"/confirm", b.key, `{"allow_mass_delete":"vielleicht"}`); res.code != http.StatusBadRequest {
		t.Errorf("bad allow_mass_delete: %d %s", res.code, res.body)
	}
	if got := len(b.customersOf(b.key, "")); got != 3 {
		t.Fatalf("refused confirms trashed customers: %d live", got)
	}
	im = b.confirmAndApply(b.key, im.ID, `{"allow_mass_delete":"true"}`)
	if im.Counts.Delete != 2 || len(b.customersOf(b.key, "")) != 1 {
		t.Errorf("allowed: %+v", im.Counts)
	}
}

// Transfer refusals at upload: 400 for mode=create or other keys, 403 without
// can_transfer (also for an admin), 404 for an account outside the tenant.
func TestTransferUploadRefusals(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	file := []byte("external_id;email\nK-1;a@x.de\n")
	for _, tc := range []struct {
		fields map[string]string
		code   int
	}{
		{map[string]string{"mode": "create", "transfer": "move"}, http.StatusBadRequest},
		{map[string]string{"mode": "update", "transfer": "copy", "keys": "email"}, http.StatusBadRequest},
		{map[string]string{"mode": "sync", "transfer": "copy", "keys": "login_id"}, http.StatusBadRequest},
		{map[string]string{"mode": "update", "transfer": "move"}, http.StatusForbidden},
		{map[string]string{"mode": "update", "transfer": "teleport"}, http.StatusBadRequest},
	} {
		tc.fields["profile"] = "customers"
		if res := b.upload(b.key, "k.csv", file, tc.fields); res.code != tc.code || res.errorMessage() == "" {
			t.Errorf("%v: %d %s", tc.fields, res.code, res.body)
		}
	}
	b.canTransfer(b.admin)
	if res := b.upload(b.key, "k.csv", file, map[string]string{"profile": "customers", "mode": "update", "transfer": "move", "account": "maier"}); res.code != http.StatusNotFound {
		t.Errorf("other tenant's account: %d %s", res.code, res.body)
	}
	if res := b.upload(b.key, "k.csv", file, map[string]string{"profile": "customers", "mode": "sync", "transfer": "move", "keys": "external_id,portal_id"}); res.code != http.StatusAccepted {
		t.Errorf("allowed transfer: %d %s", res.code, res.body)
	}
}

// A password never appears in a response: not in the import, its changes, its errors or
// the customer; must_change_password is returned.
func TestPasswordsNeverAnswered(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	file := "external_id;login_id;password\nK-1;kunde1;Streng-Geheim-1\nK-2;kunde1;Streng-Geheim-2\n"
	im := b.previewed(b.key, file, map[string]string{"mode": "update", "must_change_password": "true"})
	var seen strings.Builder
	for _, path := range []string{"", "/changes", "/errors", "/errors?format=csv"} {
		seen.WriteString(b.do("GET", "/v1/imports/"+im.ID+path, "Bearer "+b.key, nil, "").body)
	}
	im = b.confirmAndApply(b.key, im.ID, `{"skip_invalid_rows":true}`)
	for _, path := range []string{"", "/changes", "/errors"} {
		seen.WriteString(b.do("GET", "/v1/imports/"+im.ID+path, "Bearer "+b.key, nil, "").body)
	}
	cs := b.customersOf(b.key, "")
	if len(cs) != 1 || !cs[0].MustChangePassword || cs[0].LoginID == nil || *cs[0].LoginID != "kunde1" {
		t.Fatalf("customers: %+v", cs)
	}
	seen.WriteString(b.do("GET", fmt.Sprintf("/v1/customers/%d", cs[0].PortalID), "Bearer "+b.key, nil, "").body)
	seen.WriteString(b.logs())
	if !strings.Contains(seen.String(), "duplicate_login") || !strings.Contains(seen.String(), `"must_change_password":true`) {
		t.Fatalf("responses incomplete: %s", seen.String())
	}
	for _, secret := range []string{"Streng-Geheim", "argon2", "password_hash"} {
		if strings.Contains(seen.String(), secret) {
			t.Errorf("%q appears in a response or log", secret)
		}
	}
}
