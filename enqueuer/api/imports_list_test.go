package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"portalwerk/jobs/importer"
	"portalwerk/store"
	"portalwerk/store/storetest"
)

type importList struct {
	Imports []struct {
		ID      string             `json:"id"`
		Account string             `json:"account"`
		Profile string             `json:"profile"`
		Status  store.ImportStatus `json:"status"`
	} `json:"imports"`
	NextAfter *string `json:"next_after"`
}

func (b *testBundle) list(key, query string) (importList, response) {
	b.t.Helper()
	res := b.do("GET", "/v1/imports"+query, "Bearer "+key, nil, "")
	var l importList
	if res.code == http.StatusOK {
		if err := json.Unmarshal([]byte(res.body), &l); err != nil {
			b.t.Fatalf("%s: %v %s", query, err, res.body)
		}
	}
	return l, res
}

func ids(l importList) []string {
	var out []string
	for _, im := range l.Imports {
		out = append(out, im.ID)
	}
	return out
}

func TestListImports(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	var mine []string // newest first
	for range 3 {
		mine = append([]string{b.queuedImport().ID}, mine...)
	}
	res := b.upload(b.key, "kunden.csv", []byte("external_id;last_name\nK1;Huber\n"), map[string]string{"profile": "customers", "account": "leser"})
	var leser importObj
	if res.code != http.StatusAccepted || json.Unmarshal([]byte(res.body), &leser) != nil {
		t.Fatalf("upload for leser: %d %s", res.code, res.body)
	}
	if res := b.do("POST", "/v1/imports/"+mine[0]+"/cancel", "Bearer "+b.key, nil, ""); res.code != http.StatusOK {
		t.Fatalf("cancel: %d %s", res.code, res.body)
	}
	other := setup(t, nil) // another tenant: nothing of it may show

	other.queuedImport()

	all, _ := b.list(b.key, "")
	if got, want := ids(all), append([]string{leser.ID}, mine...); fmt.Sprint(got) != fmt.Sprint(want) || all.NextAfter != nil {
		t.Errorf("admin's list: %v, want %v first", got, want)
	}
	if len(all.Imports) != 4 {
		t.Errorf("admin sees %d imports, want 4", len(all.Imports))
	}

	// Keyset pages of 2, following next_after to the end.
	var paged []string
	after := ""
	for page := 0; page < 10; page++ {
		q := "?limit=2"
		if after != "" {
			q += "&after=" + after
		}
		l, res := b.list(b.key, q)
		if res.code != http.StatusOK {
			t.Fatalf("%s: %d %s", q, res.code, res.body)
		}
		paged = append(paged, ids(l)...)
		if l.NextAfter == nil {
			break
		}
		after = *l.NextAfter
	}
	if fmt.Sprint(paged) != fmt.Sprint(ids(all)) {
		t.Errorf("pages give %v, want %v", paged, ids(all))
	}

	if l, _ := b.list(b.key, "?status=cancelled"); len(l.Imports) != 1 || l.Imports[0].ID != mine[0] || l.Imports[0].Status != store.ImportCancelled {
		t.Errorf("status=cancelled: %+v", l)
	}
	if l, _ := b.list(b.key, "?profile=customers"); len(l.Imports) != 1 || l.Imports[0].ID != leser.ID {
		t.Errorf("profile=customers: %+v", l)
	}
	if l, _ := b.list(b.key, "?account=leser"); len(l.Imports) != 1 || l.Imports[0].Account != "leser" {
		t.Errorf("account=leser: %+v", l)
	}
	// A member sees its own account's imports only, and may not name another account.
	if l, _ := b.list(b.member, ""); len(l.Imports) != 1 || l.Imports[0].ID != leser.ID {
		t.Errorf("member's list: %+v", l)
	}
	if l, _ := b.list(b.member, "?account=leser"); len(l.Imports) != 1 {
		t.Errorf("member names its own account: %+v", l)
	}
	for _, name := range []string{"huber", "gibt-es-nicht"} {
		if _, res := b.list(b.member, "?account="+name); res.code != http.StatusForbidden {
			t.Errorf("member names %s: %d %s, want 403", name, res.code, res.body)
		}
	}
	if _, res := b.list(b.key, "?account=maier"); res.code != http.StatusNotFound {
		t.Errorf("admin names another tenant's account: %d %s, want 404", res.code, res.body)
	}
	// Another tenant's import id is no cursor here.
	theirs, _ := other.list(other.key, "")
	for _, q := range []string{"?status=fertig", "?profile=telefon", "?limit=0", "?limit=501", "?after=" + theirs.Imports[0].ID, "?after=kaputt"} {
		if _, res := b.list(b.key, q); res.code != http.StatusBadRequest || res.errorMessage() == "" {
			t.Errorf("%s: %d %s, want 400", q, res.code, res.body)
		}
	}
}

func TestConflictSentences(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	for _, tc := range []struct {
		errors int64
		want   string
	}{{1, "Die Vorschau hat 1 fehlerhafte Zeile gefunden."}, {2, "Die Vorschau hat 2 fehlerhafte Zeilen gefunden."}} {
		im := b.queuedImport()
		if err := store.SetImportCounts(context.Background(), b.db, im.ID, store.ImportPreviewed, 3, store.Counts{Rows: 3, Errors: tc.errors}, nil); err != nil {
			t.Fatal(err)
		}
		res := b.do("POST", "/v1/imports/"+im.ID+"/confirm", "Bearer "+b.key, nil, "")
		if res.code != http.StatusConflict || !strings.HasPrefix(res.errorMessage(), tc.want) {
			t.Errorf("%d errors: %d %q, want %q", tc.errors, res.code, res.errorMessage(), tc.want)
		}
	}
	im := b.queuedImport()
	res := b.do("POST", "/v1/imports/"+im.ID+"/confirm", "Bearer "+b.key, nil, "")
	if want := "Nur ein Import im Status „in Vorschau“ (previewed) kann bestätigt werden; dieser ist im Status „in der Warteschlange“ (queued)."; res.errorMessage() != want {
		t.Errorf("confirm of a queued import: %q, want %q", res.errorMessage(), want)
	}
	b.do("POST", "/v1/imports/"+im.ID+"/cancel", "Bearer "+b.key, nil, "")
	res = b.do("POST", "/v1/imports/"+im.ID+"/cancel", "Bearer "+b.key, nil, "")
	if want := "Ein Import im Status „abgebrochen“ (cancelled) kann nicht mehr abgebrochen werden."; res.code != http.StatusConflict || res.errorMessage() != want {
		t.Errorf("second cancel: %d %q, want %q", res.code, res.errorMessage(), want)
	}
	big := bytes.Repeat([]byte("1;a@example.de\n"), uploadMaxBytes/10)
	res = b.upload(b.key, "gross.csv", big, map[string]string{"profile": "emails"})
	if want := "Die Datei ist zu groß: erlaubt sind höchstens 4 KiB."; res.code != http.StatusRequestEntityTooLarge || res.errorMessage() != want {
		t.Errorf("413: %d %q, want %q", res.code, res.errorMessage(), want)
	}
}

func stagingExists(t *testing.T, b *testBundle, id string) bool {
	t.Helper()
	var name *string
	if err := b.db.Get(&name, `SELECT to_regclass('staging.import_' || replace($1, '-', ''))::text`, id); err != nil {
		t.Fatal(err)
	}
	return name != nil
}

func TestCancelDropsStaging(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	im := b.queuedImport()
	eng := importer.Engine{DB: b.db, Log: storetest.Logger(t)}
	if got, err := eng.Preview(context.Background(), im.ID); err != nil || got.Status != store.ImportPreviewed {
		t.Fatalf("preview: %+v %v", got, err)
	}
	if !stagingExists(t, b, im.ID) {
		t.Fatal("the preview left no staging table")
	}
	if res := b.do("POST", "/v1/imports/"+im.ID+"/cancel", "Bearer "+b.key, nil, ""); res.code != http.StatusOK {
		t.Fatalf("cancel: %d %s", res.code, res.body)
	}
	if stagingExists(t, b, im.ID) {
		t.Error("the cancelled preview's staging table is still there")
	}
}

// TestClientGoneMidUpload sends half an upload to a real server and hangs up: that is
// an info line, never an ERROR with a 500, and nothing is stored.
func TestClientGoneMidUpload(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	before := b.uploadCount()
	srv := httptest.NewServer(b.handler)
	for _, reset := range []bool{false, true} {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		part := "--XYZ\r\nContent-Disposition: form-data; name=\"profile\"\r\n\r\nemails\r\n" +
			"--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"nutzer.csv\"\r\n\r\nNutzerfremdnummer;E-Mail\n1;a@example.de\n"
		fmt.Fprintf(conn, "POST /v1/imports HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: multipart/form-data; boundary=XYZ\r\nContent-Length: 100000\r\n\r\n%s", b.key, part)
		if reset {
			conn.(*net.TCPConn).SetLinger(0) // RST instead of FIN
		}
		conn.Close()
	}
	// The server may still be reading the first request: wait for its handler's line
	// (Close would drop a connection whose request it has not read yet). A reset
	// connection's request may never be read at all.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if l := b.logs(); strings.Contains(l, `msg="upload refused"`) || strings.Contains(l, `msg="client went away"`) {
			break
		}
	}
	srv.Close() // waits for the handlers to finish
	logs := b.logs()
	if strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, `level=INFO msg="upload refused"`) && !strings.Contains(logs, `level=INFO msg="client went away"`) {
		t.Errorf("a client gone mid-upload was logged as:\n%s", logs)
	}
	if after := b.uploadCount(); after != before {
		t.Errorf("uploads went from %d to %d", before, after)
	}
}
