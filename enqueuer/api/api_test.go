package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"

	"portalwerk/enqueuer/api"
	"portalwerk/jobs"
	"portalwerk/store"
	"portalwerk/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

const uploadMaxBytes = 4096

// testBundle is one test's API with its own tenant: an admin "huber" and a member
// "leser", plus an admin of another tenant.
type testBundle struct {
	t       *testing.T
	db      *sqlx.DB
	redis   asynq.RedisClientOpt
	handler http.Handler
	logs    func() string // every line logged so far
	admin   store.Account
	key     string // admin's
	member  string // member's key
	other   string // key of an admin of another tenant
}

func setup(t *testing.T, queue func(asynq.RedisClientOpt) api.Queue) *testBundle {
	t.Helper()
	return setupWith(t, queue, storetest.DB(t), api.Config{UploadMaxBytes: uploadMaxBytes})
}

// setupWith is setup over db (e.g. a pool of its own size) with the limits of cfg.
func setupWith(t *testing.T, queue func(asynq.RedisClientOpt) api.Queue, db *sqlx.DB, cfg api.Config) *testBundle {
	t.Helper()
	addr, idx := storetest.RedisDB(t)
	b := &testBundle{t: t, db: db, redis: asynq.RedisClientOpt{Addr: addr, DB: idx}}
	var q api.Queue
	if queue != nil {
		q = queue(b.redis)
	} else {
		c := asynq.NewClient(b.redis)
		t.Cleanup(func() { c.Close() })
		q = jobs.NewClient(c)
	}
	var log *slog.Logger
	log, b.logs = storetest.LoggerAndLines(t)
	mux := http.NewServeMux()
	api.New(log, b.db, q, cfg).Mount(mux)
	b.handler = mux

	tenant := "api-" + store.NewID()[:8]
	b.admin, b.key = b.account(tenant, "huber", store.RoleAdmin)
	_, b.member = b.account(tenant, "leser", store.RoleMember)
	_, b.other = b.account("api-other-"+store.NewID()[:8], "maier", store.RoleAdmin)
	return b
}

func (b *testBundle) account(tenant, name, role string) (store.Account, string) {
	b.t.Helper()
	key, hash := store.NewAPIKey()
	acc, err := store.CreateAccount(context.Background(), b.db, tenant, name, role, false, hash)
	if err != nil {
		b.t.Fatal(err)
	}
	return acc, key
}

type response struct {
	code   int
	header http.Header
	body   string
}

// errorMessage is the sentence of a {"error":"…"} answer.
func (r response) errorMessage() string {
	var e struct {
		Error string `json:"error"`
	}
	json.Unmarshal([]byte(r.body), &e)
	return e.Error
}

func (b *testBundle) do(method, path, auth string, body io.Reader, contentType string) response {
	b.t.Helper()
	req := httptest.NewRequest(method, path, body)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	b.handler.ServeHTTP(rec, req)
	return response{rec.Code, rec.Result().Header, rec.Body.String()}
}

func (b *testBundle) upload(key, filename string, content []byte, fields map[string]string) response {
	b.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", filename)
	fw.Write(content)
	mw.Close()
	return b.do("POST", "/v1/imports", "Bearer "+key, &buf, mw.FormDataContentType())
}

type importObj struct {
	ID     string             `json:"id"`
	Status store.ImportStatus `json:"status"`
	TaskID string             `json:"task_id"`
}

const emailsCSV = "Nutzerfremdnummer;E-Mail\n1;anna@example.de\n"

// queuedImport uploads a small file as the admin and returns the queued import.
func (b *testBundle) queuedImport() importObj {
	b.t.Helper()
	res := b.upload(b.key, "nutzer.csv", []byte(emailsCSV), map[string]string{"profile": "emails"})
	var im importObj
	if res.code != http.StatusAccepted || json.Unmarshal([]byte(res.body), &im) != nil {
		b.t.Fatalf("upload: %d %s", res.code, res.body)
	}
	return im
}

func (b *testBundle) uploadCount() int {
	b.t.Helper()
	var n int
	if err := b.db.Get(&n, `SELECT count(*) FROM uploads WHERE tenant_id = $1`, b.admin.TenantID); err != nil {
		b.t.Fatal(err)
	}
	return n
}

func TestAuth(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	for _, tc := range []struct {
		name, auth string
		want       int
	}{
		{"no key", "", http.StatusUnauthorized},
		{"wrong key", "Bearer not-a-key", http.StatusUnauthorized},
		{"empty key", "Bearer ", http.StatusUnauthorized},
		{"other scheme", "Basic " + b.key, http.StatusUnauthorized},
		{"right key", "Bearer " + b.key, http.StatusOK},
		{"lower-case scheme", "bearer " + b.key, http.StatusOK},
		{"upper-case scheme", "BEARER " + b.key, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := b.do("GET", "/v1/customers", tc.auth, nil, "")
			if res.code != tc.want {
				t.Fatalf("%d %s, want %d", res.code, res.body, tc.want)
			}
			if tc.want == http.StatusUnauthorized {
				if res.header.Get("WWW-Authenticate") == "" || res.errorMessage() == "" {
					t.Errorf("401 without challenge or sentence: %v %s", res.header, res.body)
				}
			}
		})
	}
	if strings.Contains(b.logs(), b.key) {
		t.Error("the log shows an API key")
	}
}

func TestMemberAdminActionsForbiddenBeforeLookup(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	before := b.uploadCount()
	missing := store.NewID() // a member must not learn whether an import exists
	for _, tc := range []struct {
		name   string
		res    response
		action string
	}{
		{"upload", b.upload(b.member, "nutzer.csv", []byte(emailsCSV), map[string]string{"profile": "emails"}), "Daten importieren"},
		{"upload that is not multipart", b.do("POST", "/v1/imports", "Bearer "+b.member, strings.NewReader("x"), "text/plain"), "Daten importieren"},
		{"confirm", b.do("POST", "/v1/imports/"+missing+"/confirm", "Bearer "+b.member, strings.NewReader("{broken"), "application/json"), "Importe bestätigen"},
		{"cancel", b.do("POST", "/v1/imports/"+missing+"/cancel", "Bearer "+b.member, nil, ""), "Importe abbrechen"},
	} {
		if tc.res.code != http.StatusForbidden || tc.res.errorMessage() != "Nur Administratoren dürfen "+tc.action+"." {
			t.Errorf("member %s: %d %s, want 403 for %q", tc.name, tc.res.code, tc.res.body, tc.action)
		}
	}
	if after := b.uploadCount(); after != before {
		t.Errorf("uploads went from %d to %d", before, after)
	}
}

func TestOtherTenantsImportIsNotFound(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	im := b.queuedImport()
	for _, tc := range []struct{ method, suffix string }{
		{"GET", ""}, {"GET", "/errors"}, {"POST", "/confirm"}, {"POST", "/cancel"},
	} {
		theirs := b.do(tc.method, "/v1/imports/"+im.ID+tc.suffix, "Bearer "+b.other, nil, "")
		none := b.do(tc.method, "/v1/imports/"+store.NewID()+tc.suffix, "Bearer "+b.other, nil, "")
		typo := b.do(tc.method, "/v1/imports/kein-import"+tc.suffix, "Bearer "+b.other, nil, "")
		if theirs.code != http.StatusNotFound || theirs.body != none.body || theirs.body != typo.body {
			t.Errorf("%s %s of another tenant: %d %s; nonexistent: %d %s; malformed: %d %s",
				tc.method, tc.suffix, theirs.code, theirs.body, none.code, none.body, typo.code, typo.body)
		}
	}
	if res := b.do("GET", "/v1/imports/"+im.ID, "Bearer "+b.key, nil, ""); res.code != http.StatusOK {
		t.Errorf("own import: %d %s", res.code, res.body)
	}
}

func TestUploadRefusals(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	before := b.uploadCount()

	big := append([]byte("Nutzerfremdnummer;E-Mail\n"), bytes.Repeat([]byte("1;a@example.de\n"), uploadMaxBytes/10)...)
	if res := b.upload(b.key, "gross.csv", big, map[string]string{"profile": "emails"}); res.code != http.StatusRequestEntityTooLarge {
		t.Errorf("upload over the limit: %d %s, want 413", res.code, res.body)
	}
	for _, tc := range []struct {
		name, field string
		fields      map[string]string
	}{
		{"unknown profile", "profile", map[string]string{"profile": "telefon"}},
		{"missing profile", "profile", map[string]string{}},
		{"bad option", "email_mode", map[string]string{"profile": "emails", "email_mode": "alles"}},
		{"unknown option", "farbe", map[string]string{"profile": "emails", "farbe": "blau"}},
	} {
		res := b.upload(b.key, "nutzer.csv", []byte(emailsCSV), tc.fields)
		if res.code != http.StatusBadRequest || !strings.Contains(res.errorMessage(), tc.field) {
			t.Errorf("%s: %d %s, want 400 naming %s", tc.name, res.code, res.body, tc.field)
		}
	}
	if res := b.upload(b.key, "nutzer.pdf", []byte(emailsCSV), map[string]string{"profile": "emails"}); res.code != http.StatusBadRequest {
		t.Errorf("a .pdf: %d %s, want 400", res.code, res.body)
	}
	if res := b.upload(b.key, "nutzer.csv", []byte(emailsCSV), map[string]string{"profile": "emails", "account": "maier"}); res.code != http.StatusNotFound {
		t.Errorf("account of another tenant: %d %s, want 404", res.code, res.body)
	}
	if after := b.uploadCount(); after != before {
		t.Errorf("refused uploads left files behind: %d before, %d after", before, after)
	}
}

func TestUploadQueuesPreview(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	im := b.queuedImport()
	want := jobs.ImportPreview{ImportID: im.ID, TenantID: b.admin.TenantID}
	if im.Status != store.ImportQueued || im.TaskID != want.TaskID() {
		t.Fatalf("upload answered %+v, want queued with task %s", im, want.TaskID())
	}
	stored, err := store.GetImport(context.Background(), b.db, b.admin.TenantID, im.ID)
	if err != nil || stored.Status != store.ImportQueued || stored.Account != "huber" || stored.Profile != "emails" {
		t.Fatalf("stored import %+v, %v", stored, err)
	}
	insp := asynq.NewInspector(b.redis)
	defer insp.Close()
	info, err := insp.GetTaskInfo(want.Queue(), want.TaskID())
	if err != nil {
		t.Fatalf("task %s: %v", want.TaskID(), err)
	}
	if info.State != asynq.TaskStatePending || info.Type != jobs.TypeImportPreview {
		t.Errorf("task %s is %v of type %s, want pending %s", info.ID, info.State, info.Type, jobs.TypeImportPreview)
	}
	var p jobs.ImportPreview
	if err := json.Unmarshal(info.Payload, &p); err != nil || p != want {
		t.Errorf("payload %s, want %+v", info.Payload, want)
	}
}

func TestConfirmOnlyFromPreviewed(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	im := b.queuedImport()
	res := b.do("POST", "/v1/imports/"+im.ID+"/confirm", "Bearer "+b.key, nil, "")
	if res.code != http.StatusConflict || !strings.Contains(res.errorMessage(), "(queued)") {
		t.Errorf("confirm of a queued import: %d %s, want 409", res.code, res.body)
	}
	res = b.do("POST", "/v1/imports/"+im.ID+"/confirm", "Bearer "+b.key, strings.NewReader(`{"skip_invalid_rows":"vielleicht"}`), "application/json")
	if res.code != http.StatusBadRequest || !strings.Contains(res.errorMessage(), "skip_invalid_rows") {
		t.Errorf("confirm with a bad skip_invalid_rows: %d %s, want 400", res.code, res.body)
	}
	if res := b.do("POST", "/v1/imports/"+im.ID+"/cancel", "Bearer "+b.key, nil, ""); res.code != http.StatusOK || !strings.Contains(res.body, `"cancelled"`) {
		t.Errorf("cancel: %d %s", res.code, res.body)
	}
	if res := b.do("POST", "/v1/imports/"+im.ID+"/cancel", "Bearer "+b.key, nil, ""); res.code != http.StatusConflict {
		t.Errorf("second cancel: %d %s, want 409", res.code, res.body)
	}
}

func TestErrorReport(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	im := b.queuedImport()
	ctx := context.Background()
	if _, err := b.db.Exec(`INSERT INTO import_errors (import_id, row_num, col, value, code, message) VALUES
		($1, 2, 'E-Mail', '=HYPERLINK("http://x")', 'invalid_email', 'Die E-Mail-Adresse ist ungültig.'),
		($1, 3, 'E-Mail', 'bert@', 'invalid_email', 'Die E-Mail-Adresse ist ungültig.')`, im.ID); err != nil {
		t.Fatal(err)
	}
	if err := store.SetImportCounts(ctx, b.db, im.ID, store.ImportPreviewed, 3, store.Counts{Rows: 3, Update: 1, Errors: 2}, nil); err != nil {
		t.Fatal(err)
	}

	res := b.do("GET", "/v1/imports/"+im.ID+"/errors", "Bearer "+b.key, nil, "")
	var rows []store.RowError
	if res.code != http.StatusOK || json.Unmarshal([]byte(res.body), &rows) != nil || len(rows) != 2 || rows[0].Row != 2 || rows[0].Value != `=HYPERLINK("http://x")` {
		t.Errorf("errors as JSON: %d %s", res.code, res.body)
	}
	res = b.do("GET", "/v1/imports/"+im.ID+"/errors?format=csv", "Bearer "+b.key, nil, "")
	if res.code != http.StatusOK || !strings.HasPrefix(res.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("errors as CSV: %d %v", res.code, res.header)
	}
	if !strings.Contains(res.body, `'=HYPERLINK`) || strings.Contains(res.body, ",=HYPERLINK") || strings.Contains(res.body, `,"=HYPERLINK`) {
		t.Errorf("the CSV does not neutralise the formula:\n%s", res.body)
	}

	res = b.do("POST", "/v1/imports/"+im.ID+"/confirm", "Bearer "+b.key, nil, "")
	if res.code != http.StatusConflict || !strings.Contains(res.errorMessage(), "skip_invalid_rows=true") {
		t.Errorf("confirm with row errors: %d %s, want 409", res.code, res.body)
	}
	res = b.do("POST", "/v1/imports/"+im.ID+"/confirm", "Bearer "+b.key, strings.NewReader(`{"skip_invalid_rows":true}`), "application/json")
	if res.code != http.StatusAccepted || !strings.Contains(res.body, `"applying"`) {
		t.Fatalf("confirm skipping invalid rows: %d %s", res.code, res.body)
	}
	apply := jobs.ImportApply{ImportID: im.ID}
	insp := asynq.NewInspector(b.redis)
	defer insp.Close()
	if _, err := insp.GetTaskInfo(apply.Queue(), apply.TaskID()); err != nil {
		t.Errorf("apply task %s: %v", apply.TaskID(), err)
	}
}

// failingQueue is a queue whose Redis has gone away.
type failingQueue struct{}

const secretCause = "dial tcp 10.0.0.7:6379: connection refused"

func (failingQueue) Enqueue(context.Context, jobs.Args) (bool, error) {
	return false, errors.New(secretCause)
}

func (failingQueue) CreateRun(context.Context, *sqlx.DB, store.NewRun, jobs.Args) error {
	return errors.New(secretCause)
}

func TestInternalErrorHidesTheCause(t *testing.T) {
	t.Parallel()
	b := setup(t, func(asynq.RedisClientOpt) api.Queue { return failingQueue{} })
	res := b.upload(b.key, "nutzer.csv", []byte(emailsCSV), map[string]string{"profile": "emails"})
	if res.code != http.StatusInternalServerError {
		t.Fatalf("upload with the queue down: %d %s, want 500", res.code, res.body)
	}
	if got := res.errorMessage(); got != "Ein interner Fehler ist aufgetreten. Bitte versuchen Sie es später erneut." || strings.Contains(res.body, "6379") {
		t.Errorf("500 answered %s", res.body)
	}
	logs := b.logs()
	for _, want := range []string{"request failed", "method=POST", "path=/v1/imports", "connection refused", "tenant_id="} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q:\n%s", want, logs)
		}
	}
	var status store.ImportStatus
	if err := b.db.Get(&status, `SELECT status FROM imports WHERE tenant_id = $1`, b.admin.TenantID); err != nil || status != store.ImportFailed {
		t.Errorf("the import that could not be queued is %q (%v), want failed", status, err)
	}
}

func TestCustomers(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	var id int64
	if err := b.db.Get(&id, `INSERT INTO customers (tenant_id, account_id, external_id, email) VALUES ($1, $2, '0001', 'anna@example.de') RETURNING id`,
		b.admin.TenantID, b.admin.ID); err != nil {
		t.Fatal(err)
	}
	res := b.do("GET", "/v1/customers", "Bearer "+b.key, nil, "")
	if res.code != http.StatusOK || !strings.Contains(res.body, `"external_id":"0001"`) {
		t.Errorf("list: %d %s", res.code, res.body)
	}
	if res := b.do("GET", "/v1/customers?limit=0", "Bearer "+b.key, nil, ""); res.code != http.StatusBadRequest || !strings.Contains(res.errorMessage(), "limit") {
		t.Errorf("limit=0: %d %s", res.code, res.body)
	}
	path := "/v1/customers/" + strconv.FormatInt(id, 10)
	if res := b.do("GET", path, "Bearer "+b.key, nil, ""); res.code != http.StatusOK || !strings.Contains(res.body, `"email":"anna@example.de"`) {
		t.Errorf("get: %d %s", res.code, res.body)
	}
	theirs := b.do("GET", path, "Bearer "+b.other, nil, "")
	none := b.do("GET", "/v1/customers/999999999", "Bearer "+b.other, nil, "")
	if theirs.code != http.StatusNotFound || theirs.body != none.body {
		t.Errorf("another tenant's customer: %d %s; nonexistent: %s", theirs.code, theirs.body, none.body)
	}
	if res := b.do("GET", "/v1/customers?account=huber", "Bearer "+b.member, nil, ""); res.code != http.StatusForbidden {
		t.Errorf("member naming another account: %d %s, want 403", res.code, res.body)
	}
}

func TestMemberSeesOnlyItsOwnAccount(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	leser, err := store.AccountByKey(context.Background(), b.db, b.member)
	if err != nil {
		t.Fatal(err)
	}
	adminsImport := b.queuedImport()
	res := b.upload(b.key, "nutzer.csv", []byte(emailsCSV), map[string]string{"profile": "emails", "account": "leser"})
	var membersImport importObj
	if res.code != http.StatusAccepted || json.Unmarshal([]byte(res.body), &membersImport) != nil {
		t.Fatalf("admin upload into leser's account: %d %s", res.code, res.body)
	}

	for _, path := range []string{"/v1/imports/" + adminsImport.ID, "/v1/imports/" + adminsImport.ID + "/errors"} {
		theirs := b.do("GET", path, "Bearer "+b.member, nil, "")
		none := b.do("GET", strings.Replace(path, adminsImport.ID, store.NewID(), 1), "Bearer "+b.member, nil, "")
		if theirs.code != http.StatusNotFound || theirs.body != none.body {
			t.Errorf("member reads %s of another account: %d %s, want 404 as for none (%s)", path, theirs.code, theirs.body, none.body)
		}
	}
	if res := b.do("GET", "/v1/imports/"+membersImport.ID, "Bearer "+b.member, nil, ""); res.code != http.StatusOK {
		t.Errorf("member reads its own account's import: %d %s", res.code, res.body)
	}
	if res := b.do("GET", "/v1/imports/"+membersImport.ID, "Bearer "+b.key, nil, ""); res.code != http.StatusOK {
		t.Errorf("admin reads the member's import: %d %s", res.code, res.body)
	}

	// Naming any other account is 403 to a member, whether it exists or not.
	for _, name := range []string{"huber", "gibt-es-nicht"} {
		if res := b.do("GET", "/v1/customers?account="+name, "Bearer "+b.member, nil, ""); res.code != http.StatusForbidden {
			t.Errorf("member lists customers of %q: %d %s, want 403", name, res.code, res.body)
		}
	}
	if res := b.do("GET", "/v1/customers?account=gibt-es-nicht", "Bearer "+b.key, nil, ""); res.code != http.StatusNotFound {
		t.Errorf("admin names a missing account: %d %s, want 404", res.code, res.body)
	}

	var huberCustomer, leserCustomer int64
	for _, c := range []struct {
		account int64
		id      *int64
	}{{b.admin.ID, &huberCustomer}, {leser.ID, &leserCustomer}} {
		if err := b.db.Get(c.id, `INSERT INTO customers (tenant_id, account_id, external_id) VALUES ($1, $2, '7') RETURNING id`, b.admin.TenantID, c.account); err != nil {
			t.Fatal(err)
		}
	}
	if res := b.do("GET", "/v1/customers/"+strconv.FormatInt(huberCustomer, 10), "Bearer "+b.member, nil, ""); res.code != http.StatusNotFound {
		t.Errorf("member reads another account's customer: %d %s, want 404", res.code, res.body)
	}
	if res := b.do("GET", "/v1/customers/"+strconv.FormatInt(leserCustomer, 10), "Bearer "+b.member, nil, ""); res.code != http.StatusOK {
		t.Errorf("member reads its own customer: %d %s", res.code, res.body)
	}
}
