package ops_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"portalwerk/enqueuer/ops"
)

func request(h http.Handler, method, path string, set func(*http.Request)) int {
	req := httptest.NewRequest(method, path, nil)
	req.RemoteAddr = "192.0.2.7:41000"
	set(req)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

// With OPS_READONLY=false the dashboard can delete and retry: a cross-site request must
// not ride the browser's cached basic-auth login.
func TestDashboardRefusesCrossSiteWrites(t *testing.T) {
	t.Parallel()
	h := newHandler(t, packageRedis(t), ops.Config{User: "ops", Password: "secret", ReadOnly: false})
	path := "/monitoring/api/queues/default:pause"
	for name, set := range map[string]func(*http.Request){
		"foreign Origin":       func(r *http.Request) { r.SetBasicAuth("ops", "secret"); r.Header.Set("Origin", "https://evil.example") },
		"Sec-Fetch-Site cross": func(r *http.Request) { r.SetBasicAuth("ops", "secret"); r.Header.Set("Sec-Fetch-Site", "cross-site") },
	} {
		if code := request(h, "POST", path, set); code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, code)
		}
	}
	// The same site (and a client without Origin, like curl) reaches the dashboard.
	same := func(r *http.Request) { r.SetBasicAuth("ops", "secret"); r.Header.Set("Origin", "http://example.com") }
	if code := request(h, "POST", path, same); code == http.StatusForbidden || code == http.StatusUnauthorized {
		t.Errorf("same-origin POST: %d", code)
	}
	// Reading stays possible from a link on another site.
	read := func(r *http.Request) { r.SetBasicAuth("ops", "secret"); r.Header.Set("Sec-Fetch-Site", "cross-site") }
	if code := request(h, "GET", "/monitoring/", read); code != http.StatusOK {
		t.Errorf("cross-site GET: %d, want 200", code)
	}
}

// Guessing the ops password is throttled per address: after 10 wrong passwords even the
// right one is answered 429 for a while; other addresses are not affected.
func TestFailedOpsLoginsAreThrottled(t *testing.T) {
	t.Parallel()
	h := newHandler(t, packageRedis(t), opsConfig)
	wrong := func(r *http.Request) { r.SetBasicAuth("ops", "guess") }
	right := func(r *http.Request) { r.SetBasicAuth("ops", "secret") }
	for i := range 10 {
		if code := request(h, "GET", "/metrics", wrong); code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d", i+1, code)
		}
	}
	if code := request(h, "GET", "/metrics", right); code != http.StatusTooManyRequests {
		t.Errorf("right password after 10 failures: %d, want 429", code)
	}
	other := func(r *http.Request) { r.SetBasicAuth("ops", "secret"); r.RemoteAddr = "198.51.100.1:5000" }
	if code := request(h, "GET", "/metrics", other); code != http.StatusOK {
		t.Errorf("another address: %d, want 200", code)
	}
}
