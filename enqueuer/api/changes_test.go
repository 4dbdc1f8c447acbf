package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"portalwerk/jobs/importer"
	"portalwerk/store"
	"portalwerk/store/storetest"
)

type changesPage struct {
	Changes []struct {
		Row      *int                       `json:"row"`
		Action   string                     `json:"action"`
		Key      *string                    `json:"key"`
		PortalID *int64                     `json:"portal_id"`
		Changes  map[string]json.RawMessage `json:"changes"`
	} `json:"changes"`
	NextAfter *int64 `json:"next_after"`
}

func (b *testBundle) changes(id, query string) (changesPage, response) {
	b.t.Helper()
	res := b.do("GET", "/v1/imports/"+id+"/changes"+query, "Bearer "+b.key, nil, "")
	var p changesPage
	if res.code == http.StatusOK {
		if err := json.Unmarshal([]byte(res.body), &p); err != nil {
			b.t.Fatalf("changes %s: %v: %s", query, err, res.body)
		}
	}
	return p, res
}

// The seeds' warning before "overwrite all": the admin sees which stored addresses an
// overwrite replaces before confirming, and afterwards what it replaced.
func TestImportChangesOfAnOverwrite(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	for _, c := range [][2]any{{"00000000000000000001", "alt@x.de"}, {"00000000000000000002", nil}, {"00000000000000000003", "same@x.de"}} {
		if _, err := b.db.Exec(`INSERT INTO customers (tenant_id, account_id, external_id, email) VALUES ($1, $2, $3, $4)`,
			b.admin.TenantID, b.admin.ID, c[0], c[1]); err != nil {
			t.Fatal(err)
		}
	}
	file := "Titel der Liste\nNutzerfremdnummer;E-Mail;Bemerkung\n1;neu@x.de;a\n2;zwei@x.de;b\n3;same@x.de;c\n4;unbekannt@x.de;d\n"
	res := b.upload(b.key, "nutzer.csv", []byte(file), map[string]string{"profile": "emails", "email_mode": "overwrite"})
	var im importObj
	if res.code != http.StatusAccepted || json.Unmarshal([]byte(res.body), &im) != nil {
		t.Fatalf("upload: %d %s", res.code, res.body)
	}
	if _, res := b.changes(im.ID, ""); res.code != http.StatusConflict || res.errorMessage() == "" {
		t.Errorf("changes of a queued import: %d %s", res.code, res.body)
	}
	eng := &importer.Engine{DB: b.db, Log: storetest.Logger(t)}
	if _, err := eng.Preview(ctx, im.ID); err != nil {
		t.Fatal(err)
	}

	res = b.do("GET", "/v1/imports/"+im.ID, "Bearer "+b.key, nil, "")
	var got struct {
		Detected json.RawMessage `json:"detected"`
	}
	json.Unmarshal([]byte(res.body), &got)
	const wantDetected = `{"format":"csv","sheet":null,"encoding":"utf-8","delimiter":";","header_row":2,` +
		`"columns":{"E-Mail":"E-Mail","Nutzerfremdnummer":"Nutzerfremdnummer"},"ignored_columns":["Bemerkung"]}`
	if string(got.Detected) != wantDetected {
		t.Errorf("detected\n got %s\nwant %s", got.Detected, wantDetected)
	}

	check := func(state string, p changesPage) {
		t.Helper()
		want := []struct {
			row         int
			key, change string
		}{
			{3, "00000000000000000001", `{"new":"neu@x.de","old":"alt@x.de"}`},
			{4, "00000000000000000002", `{"new":"zwei@x.de","old":null}`},
		}
		if len(p.Changes) != len(want) {
			t.Fatalf("%s: %d changes, want %d: %+v", state, len(p.Changes), len(want), p.Changes)
		}
		for i, w := range want {
			c := p.Changes[i]
			if c.Row == nil || *c.Row != w.row || c.Action != "update" || c.Key == nil || *c.Key != w.key ||
				c.PortalID == nil || string(c.Changes["email"]) != w.change || len(c.Changes) != 1 {
				t.Errorf("%s: change %d: row %v %s key %v %s", state, i, c.Row, c.Action, c.Key, c.Changes["email"])
			}
		}
		if p.NextAfter != nil {
			t.Errorf("%s: next_after %d on the last page", state, *p.NextAfter)
		}
	}
	page, res := b.changes(im.ID, "")
	if res.code != http.StatusOK {
		t.Fatalf("changes while previewed: %d %s", res.code, res.body)
	}
	check("previewed", page)
	// Paged by row: one per page.
	page, _ = b.changes(im.ID, "?limit=1")
	if len(page.Changes) != 1 || page.NextAfter == nil || *page.NextAfter != 3 {
		t.Fatalf("first page: %+v next %v", page.Changes, page.NextAfter)
	}
	page, _ = b.changes(im.ID, "?limit=1&after=3")
	if len(page.Changes) != 1 || *page.Changes[0].Row != 4 {
		t.Errorf("second page: %+v", page.Changes)
	}
	if page, _ = b.changes(im.ID, "?action=create"); len(page.Changes) != 0 {
		t.Errorf("creates of an e-mail import: %+v", page.Changes)
	}
	if _, res := b.changes(im.ID, "?action=overwrite"); res.code != http.StatusBadRequest {
		t.Errorf("bad action: %d", res.code)
	}

	if err := store.ConfirmImport(ctx, b.db, im.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, res := b.changes(im.ID, ""); res.code != http.StatusConflict {
		t.Errorf("changes while applying: %d %s", res.code, res.body)
	}
	if err := eng.Apply(ctx, im.ID); err != nil {
		t.Fatal(err)
	}
	// Done: what it changed, with the addresses it replaced, even after later edits.
	if _, err := b.db.Exec(`UPDATE customers SET email = 'spaeter@x.de' WHERE account_id = $1`, b.admin.ID); err != nil {
		t.Fatal(err)
	}
	page, res = b.changes(im.ID, "")
	if res.code != http.StatusOK {
		t.Fatalf("changes once done: %d %s", res.code, res.body)
	}
	check("done", page)
	if res := b.do("GET", "/v1/imports/"+im.ID+"/changes", "Bearer "+b.other, nil, ""); res.code != http.StatusNotFound {
		t.Errorf("another tenant: %d", res.code)
	}
}
