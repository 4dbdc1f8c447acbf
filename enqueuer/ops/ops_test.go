package ops_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"

	"portalwerk/enqueuer/ops"
	"portalwerk/store"
	"portalwerk/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

func newHandler(t *testing.T, redisOpt asynq.RedisConnOpt, cfg ops.Config) http.Handler {
	t.Helper()
	srv, err := ops.New(storetest.Logger(t), storetest.DB(t), redisOpt, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	mux := http.NewServeMux()
	srv.Mount(mux)
	return mux
}

func packageRedis(t *testing.T) asynq.RedisClientOpt {
	addr, db := storetest.RedisDB(t)
	return asynq.RedisClientOpt{Addr: addr, DB: db}
}

var opsConfig = ops.Config{User: "ops", Password: "secret", ReadOnly: true}

func get(t *testing.T, h http.Handler, path string, auth func(*http.Request)) *http.Response {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	if auth != nil {
		auth(req)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func basic(user, pass string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(user, pass) }
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHealth(t *testing.T) {
	t.Parallel()
	h := newHandler(t, packageRedis(t), opsConfig)
	if resp := get(t, h, "/healthz", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("healthz: %d", resp.StatusCode)
	}
	resp := get(t, h, "/readyz", nil)
	var status map[string]string
	if err := json.Unmarshal([]byte(body(t, resp)), &status); err != nil || resp.StatusCode != http.StatusOK ||
		status["postgres"] != "ok" || status["redis"] != "ok" {
		t.Errorf("readyz with both services up: %d %v %v", resp.StatusCode, status, err)
	}
}

func TestReadyzWithoutRedis(t *testing.T) {
	t.Parallel()
	h := newHandler(t, asynq.RedisClientOpt{Addr: "127.0.0.1:1"}, opsConfig)
	resp := get(t, h, "/readyz", nil)
	if b := body(t, resp); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(b, `"redis":"unreachable"`) || !strings.Contains(b, `"postgres":"ok"`) {
		t.Errorf("readyz with Redis down: %d %s", resp.StatusCode, b)
	}
}

func TestBasicAuth(t *testing.T) {
	t.Parallel()
	h := newHandler(t, packageRedis(t), opsConfig)
	closed := newHandler(t, packageRedis(t), ops.Config{User: "ops"})
	for _, path := range []string{"/monitoring/", "/metrics"} {
		for _, tc := range []struct {
			name    string
			handler http.Handler
			auth    func(*http.Request)
			want    int
		}{
			{"no credentials", h, nil, http.StatusUnauthorized},
			{"wrong password", h, basic("ops", "geheim"), http.StatusUnauthorized},
			{"wrong user", h, basic("admin", "secret"), http.StatusUnauthorized},
			{"right credentials", h, basic("ops", "secret"), http.StatusOK},
			{"no password configured", closed, basic("ops", ""), http.StatusUnauthorized},
		} {
			resp := get(t, tc.handler, path, tc.auth)
			if resp.StatusCode != tc.want {
				t.Errorf("%s with %s: %d, want %d", path, tc.name, resp.StatusCode, tc.want)
			}
			if tc.want == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("%s with %s: no Basic challenge", path, tc.name)
			}
		}
	}
}

func TestNoFraming(t *testing.T) {
	t.Parallel()
	h := newHandler(t, packageRedis(t), opsConfig)
	for _, path := range []string{"/monitoring/", "/metrics"} {
		for _, auth := range []func(*http.Request){basic("ops", "secret"), nil} {
			resp := get(t, h, path, auth)
			for name, want := range map[string]string{
				"X-Frame-Options":         "DENY",
				"Content-Security-Policy": "frame-ancestors 'none'",
				"X-Content-Type-Options":  "nosniff",
			} {
				if got := resp.Header.Get(name); !strings.Contains(got, want) {
					t.Errorf("%s (%d): %s is %q, want %q", path, resp.StatusCode, name, got, want)
				}
			}
		}
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	db := storetest.DB(t)
	before := importStats(t, db)
	createImport(t, db, 42)
	after := importStats(t, db)
	if got := after[store.ImportQueued]; got.Imports != before[store.ImportQueued].Imports+1 || got.RowsRead != before[store.ImportQueued].RowsRead+42 {
		t.Errorf("ImportStats queued: before %+v, after %+v", before[store.ImportQueued], got)
	}

	h := newHandler(t, packageRedis(t), opsConfig)
	resp := get(t, h, "/metrics", basic("ops", "secret"))
	b := body(t, resp)
	for _, want := range []string{`portalwerk_imports{status="queued"}`, "portalwerk_import_rows_read_total", "go_goroutines"} {
		if !strings.Contains(b, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func importStats(t *testing.T, db *sqlx.DB) map[store.ImportStatus]store.ImportStat {
	t.Helper()
	stats, err := store.ImportStats(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	out := map[store.ImportStatus]store.ImportStat{}
	for _, s := range stats {
		out[s.Status] = s
	}
	return out
}

// createImport records a queued import of a fresh tenant that has read rowsRead rows.
func createImport(t *testing.T, db *sqlx.DB, rowsRead int64) {
	t.Helper()
	acc := storetest.Account(t, db, "", "huber", "")
	im := storetest.Import(t, db, acc, storetest.Upload(t, db, acc.TenantID, "nutzer.csv", []byte("Nutzerfremdnummer;E-Mail\n")), "emails", store.Options{})
	db.MustExec(`UPDATE imports SET rows_read = $2 WHERE id = $1`, im.ID, rowsRead)
}
