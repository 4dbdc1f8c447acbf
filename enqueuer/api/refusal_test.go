package api_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"portalwerk/enqueuer/api"
	"portalwerk/store/storetest"
)

// onlyReader hides a reader's length, so the client sends the body chunked.
type onlyReader struct{ io.Reader }

// A client still sending when its upload is refused reads the refusal, not a reset in
// the middle of its write: for a body just over the limit (which net/http would try to
// read on for reuse), one far over it, a chunked one, an unknown field at the start and
// the tenant's upload slots all taken. Each case is sent many times, in parallel, since
// a reset is a race the server loses only now and then.
func TestRefusalIsReadWhileTheClientSends(t *testing.T) {
	t.Parallel()
	cfg := api.Config{UploadMaxBytes: 64 << 10, MinUploadRate: 1 << 10, UploadGrace: 10 * time.Second, UploadsPerTenant: 50}
	b := setupWith(t, nil, storetest.DB(t), cfg)
	srv := httptest.NewServer(b.handler)
	defer srv.Close()

	file := func(size int) string {
		return formHead(field("profile", "emails"), "gross.csv") + "Nutzerfremdnummer;E-Mail\n" +
			strings.Repeat("1;a@example.de\n", size/15) + formTail
	}
	for _, tc := range []struct {
		name    string
		body    string
		chunked bool
		code    int
		want    string
	}{
		{"150 KB, limit 64 KiB", file(150 << 10), false, http.StatusRequestEntityTooLarge, "zu groß"},
		{"8 MiB", file(8 << 20), false, http.StatusRequestEntityTooLarge, "zu groß"},
		{"8 MiB chunked", file(8 << 20), true, http.StatusRequestEntityTooLarge, "zu groß"},
		{"unknown field before 4 MiB", field("farbe", "blau") + file(4<<20), false, http.StatusBadRequest, "„farbe“"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					for range 3 {
						var body io.Reader = strings.NewReader(tc.body)
						if tc.chunked {
							body = onlyReader{body}
						}
						req, _ := http.NewRequest("POST", srv.URL+"/v1/imports", body)
						req.Header.Set("Authorization", "Bearer "+b.key)
						req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
						resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
						if err != nil {
							t.Errorf("the client got no answer: %v", err)
							return
						}
						got, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						if resp.StatusCode != tc.code || !strings.Contains(string(got), tc.want) {
							t.Errorf("%d %s, want %d with %q", resp.StatusCode, got, tc.code, tc.want)
						}
					}
				})
			}
			wg.Wait()
		})
	}
	if n := b.uploadCount(); n != 0 {
		t.Errorf("%d uploads stored", n)
	}
}
