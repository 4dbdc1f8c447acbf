package ops_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"portalwerk/enqueuer/ops"
	"portalwerk/store/storetest"
)

func TestInstrumentCountsAndLogs(t *testing.T) {
	t.Parallel()
	log, lines := storetest.LoggerAndLines(t)
	srv, err := ops.New(log, storetest.DB(t), packageRedis(t), opsConfig)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	mux := http.NewServeMux()
	srv.Mount(mux)
	mux.HandleFunc("GET /v1/things/{id}", func(w http.ResponseWriter, r *http.Request) {
		ops.NoteTenant(r.Context(), 4242)
		w.WriteHeader(http.StatusTeapot)
	})
	h := srv.Instrument(mux)

	const key = "pw_geheimer-schluessel"
	for _, path := range []string{"/v1/things/1", "/v1/things/2", "/nirgends"} {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	b := body(t, get(t, h, "/metrics", basic("ops", "secret")))
	for _, want := range []string{
		`portalwerk_http_requests_total{route="GET /v1/things/{id}",status="418"} 2`,
		`portalwerk_http_requests_total{route="unmatched",status="404"} 1`,
		`portalwerk_http_request_duration_seconds_count{route="GET /v1/things/{id}"} 2`,
		`portalwerk_http_request_duration_seconds_bucket{route="GET /v1/things/{id}",le="0.005"}`,
	} {
		if !strings.Contains(b, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	logs := lines()
	if !strings.Contains(logs, `msg=request method=GET route="GET /v1/things/{id}" status=418 duration_ms=`) || !strings.Contains(logs, "tenant_id=4242") {
		t.Errorf("access log:\n%s", logs)
	}
	if n := strings.Count(logs, "msg=request "); n != 4 { // three requests and the scrape
		t.Errorf("%d access log lines, want 4:\n%s", n, logs)
	}
	if strings.Contains(logs, key) {
		t.Error("the access log shows the API key")
	}
}
