package ops_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"portalwerk/enqueuer/ops"
	"portalwerk/store"
	"portalwerk/store/storetest"
)

// readyz pings through a pool of its own: with every connection of the main pool in use
// it still says ready, where a ping through that pool waits its 2 s out and says 503.
func TestReadyzWhileThePoolIsBusy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := storetest.DatabaseURL(t)
	busy, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busy.SetMaxOpenConns(1)
	conn, err := busy.Conn(ctx) // the whole main pool
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	probe, err := store.OpenProbe(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()

	for _, tc := range []struct {
		name  string
		probe bool
		want  int
	}{{"with a probe pool", true, http.StatusOK}, {"through the busy pool", false, http.StatusServiceUnavailable}} {
		cfg := opsConfig
		if tc.probe {
			cfg.Probe = probe
		}
		srv, err := ops.New(storetest.Logger(t), busy, packageRedis(t), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		mux := http.NewServeMux()
		srv.Mount(mux)
		resp := get(t, mux, "/readyz", nil)
		if b := body(t, resp); resp.StatusCode != tc.want || tc.probe && !strings.Contains(b, `"postgres":"ok"`) {
			t.Errorf("readyz %s: %d %s, want %d", tc.name, resp.StatusCode, b, tc.want)
		}
	}
}
