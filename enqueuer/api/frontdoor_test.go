package api_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"portalwerk/enqueuer/api"
	"portalwerk/store"
	"portalwerk/store/storetest"
)

// ownPool is a pool of size conns over the package's database, apart from the shared one,
// so a test can watch what the API holds of it.
func ownPool(t *testing.T, conns int) *sqlx.DB {
	t.Helper()
	db, err := store.Open(context.Background(), storetest.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(conns)
	t.Cleanup(func() { db.Close() })
	return db
}

const boundary = "XyZ"

// formHead is a multipart body up to the file's content: the fields, then the file
// part's header.
func formHead(fields string, filename string) string {
	return fields + "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + filename + "\"\r\n\r\n"
}

func field(name, value string) string {
	return "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n"
}

const formTail = "\r\n--" + boundary + "--\r\n"

// rawUpload opens a connection to addr and sends the headers of an upload whose body is
// length bytes, and the first bytes of it; the caller sends the rest, slowly or never.
func rawUpload(t *testing.T, addr, key string, length int, first string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST /v1/imports HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: multipart/form-data; boundary=%s\r\nContent-Length: %d\r\n\r\n%s",
		key, boundary, length, first)
	return c
}

// readAnswer reads the answer on c, waiting at most within.
func readAnswer(t *testing.T, c net.Conn, within time.Duration) (int, http.Header, string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer within %s: %v", within, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// Five uploads of one tenant in flight hold no database connection: with a pool of two,
// another tenant's requests are answered at once, the pool shows nothing in use, a sixth
// upload of the tenant is 429, and once the five stall each is cut off with 408, nothing
// stored.
func TestStalledUploadsHoldNoConnection(t *testing.T) {
	t.Parallel()
	db := ownPool(t, 2)
	cfg := api.Config{UploadMaxBytes: 1 << 20, MinUploadRate: 1 << 10, UploadGrace: 2 * time.Second, UploadsPerTenant: 5}
	b := setupWith(t, nil, db, cfg)
	srv := httptest.NewServer(b.handler)
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	head := formHead(field("profile", "emails"), "nutzer.csv") + "Nutzerfremdnummer;E-Mail\n"
	var stalled []net.Conn
	for range 5 {
		stalled = append(stalled, rawUpload(t, addr, b.key, 200000, head))
	}
	// The five send rows at four times the minimum rate until the checks below are done:
	// however slowly a busy machine lets them take their slots, all five are in flight
	// together (stalled from the start, each would be cut off the grace after its own
	// slot, and on a slow key check the five windows need not overlap).
	stop := make(chan struct{})
	var sending sync.WaitGroup
	for _, c := range stalled {
		sending.Go(func() {
			tick := time.NewTicker(250 * time.Millisecond)
			defer tick.Stop()
			rows := strings.Repeat("1;a@example.de\n", 68) // 1,020 bytes
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					c.Write([]byte(rows))
				}
			}
		})
	}
	stopSending := sync.OnceFunc(func() { close(stop); sending.Wait() })
	defer stopSending()
	// The five hold the tenant's slots: a sixth is refused (it would be a 400 for its
	// unknown field had it got a slot).
	sixth := func() response {
		var buf bytes.Buffer
		buf.WriteString(formHead(field("farbe", "blau"), "n.csv") + emailsCSV + formTail)
		req, _ := http.NewRequest("POST", srv.URL+"/v1/imports", &buf)
		req.Header.Set("Authorization", "Bearer "+b.key)
		req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return response{resp.StatusCode, resp.Header, string(body)}
	}
	res := sixth()
	for deadline := time.Now().Add(20 * time.Second); res.code != http.StatusTooManyRequests && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		res = sixth()
	}
	if res.code != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" || !strings.Contains(res.errorMessage(), "zugleich") {
		t.Fatalf("a sixth upload while five are in flight: %d %v %s, want 429 with Retry-After", res.code, res.header, res.body)
	}

	client := &http.Client{Timeout: 5 * time.Second}
	for i := range 10 {
		if in := db.Stats().InUse; in != 0 {
			t.Fatalf("%d database connections in use while the uploads stall", in)
		}
		req, _ := http.NewRequest("GET", srv.URL+"/v1/imports", nil)
		req.Header.Set("Authorization", "Bearer "+b.other)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("request %d of another tenant while the uploads stall: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d of another tenant: %d", i, resp.StatusCode)
		}
	}
	stopSending()
	started := time.Now()
	for _, c := range stalled {
		code, _, body := readAnswer(t, c, 10*time.Second)
		if code != http.StatusRequestTimeout || !strings.Contains(body, "zu langsam") {
			t.Errorf("a stalled upload: %d %s, want 408", code, body)
		}
	}
	if d := time.Since(started); d > 20*time.Second {
		t.Errorf("the stalled uploads were cut off after %s; the window is %s", d, cfg.UploadGrace)
	}
	if n := b.uploadCount(); n != 0 {
		t.Errorf("%d uploads stored", n)
	}
}

// An upload dribbled below the minimum rate is cut off once the grace has passed.
func TestSlowUploadIsCutOff(t *testing.T) {
	t.Parallel()
	cfg := api.Config{UploadMaxBytes: 1 << 20, MinUploadRate: 4 << 10, UploadGrace: time.Second}
	b := setupWith(t, nil, storetest.DB(t), cfg)
	srv := httptest.NewServer(b.handler)
	defer srv.Close()
	c := rawUpload(t, srv.Listener.Addr().String(), b.key, 1<<20, formHead(field("profile", "emails"), "n.csv"))
	answered := make(chan string, 1)
	go func() {
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			answered <- err.Error()
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		answered <- fmt.Sprint(resp.StatusCode, " ", string(body))
	}()
	tick := time.NewTicker(100 * time.Millisecond) // 50 bytes each: 500 B/s
	defer tick.Stop()
	start := time.Now()
	for {
		select {
		case got := <-answered:
			if !strings.HasPrefix(got, "408 ") || !strings.Contains(got, "4 KiB je Sekunde") {
				t.Errorf("a dribbled upload: %s, want 408 naming the minimum rate", got)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("cut off after %s, the window is %s", d, cfg.UploadGrace)
			}
			if n := b.uploadCount(); n != 0 {
				t.Errorf("%d uploads stored", n)
			}
			return
		case <-tick.C:
			// Dribble for two windows, then stall: the server cuts off either (and a client
			// that wrote on after the cut would see its answer lost to the reset).
			if time.Since(start) < 2*cfg.UploadGrace {
				c.Write([]byte(strings.Repeat("1;a@example.de\n", 4)[:50]))
			}
		}
	}
}

// An upload that keeps above the minimum rate goes through however long it takes.
func TestSteadyUploadPasses(t *testing.T) {
	t.Parallel()
	cfg := api.Config{UploadMaxBytes: 1 << 20, MinUploadRate: 1 << 10, UploadGrace: 500 * time.Millisecond}
	b := setupWith(t, nil, storetest.DB(t), cfg)
	srv := httptest.NewServer(b.handler)
	defer srv.Close()
	rows := strings.Repeat("1;a@example.de\n", 1000) // 15 kB at about 8 kB/s
	body := formHead(field("profile", "emails"), "n.csv") + "Nutzerfremdnummer;E-Mail\n" + rows + formTail
	c := rawUpload(t, srv.Listener.Addr().String(), b.key, len(body), "")
	start := time.Now()
	for p := 0; p < len(body); p += 800 {
		c.Write([]byte(body[p:min(p+800, len(body))]))
		time.Sleep(100 * time.Millisecond)
	}
	code, _, answer := readAnswer(t, c, 10*time.Second)
	if code != http.StatusAccepted {
		t.Fatalf("a steady upload over %s: %d %s", time.Since(start), code, answer)
	}
	if n := b.uploadCount(); n != 1 {
		t.Errorf("%d uploads stored, want 1", n)
	}
}

// The key check waits for a database connection only so long: with the pool taken, the
// answer is 503 with Retry-After, not a hang.
func TestKeyCheckDoesNotWaitForever(t *testing.T) {
	t.Parallel()
	db := ownPool(t, 1)
	b := setupWith(t, nil, db, api.Config{UploadMaxBytes: uploadMaxBytes, KeyLookupTimeout: 300 * time.Millisecond})
	if res := b.do("GET", "/v1/imports", "Bearer "+b.key, nil, ""); res.code != http.StatusOK {
		t.Fatalf("with the pool free: %d %s", res.code, res.body)
	}
	conn, err := db.Conn(context.Background()) // the pool's only connection
	if err != nil {
		t.Fatal(err)
	}
	res := b.do("GET", "/v1/imports", "Bearer "+b.key, nil, "")
	conn.Close()
	if res.code != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" || !strings.HasPrefix(res.errorMessage(), "Der Dienst ist gerade ausgelastet") {
		t.Errorf("with the pool taken: %d %v %s, want 503 with Retry-After", res.code, res.header, res.body)
	}
	if res := b.do("GET", "/v1/imports", "Bearer "+b.key, nil, ""); res.code != http.StatusOK {
		t.Errorf("with the pool free again: %d %s", res.code, res.body)
	}
}

func multipartBody(parts ...string) (io.Reader, string) {
	return strings.NewReader(strings.Join(parts, "")), "multipart/form-data; boundary=" + boundary
}

// Form fields are bounded in number and size, unknown ones refused as they arrive, and
// only one file part is taken.
func TestFormFieldLimits(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	file := formHead("", "n.csv") + emailsCSV + formTail
	many := ""
	for i := range 33 {
		many += field("sheet", fmt.Sprint(i))
	}
	for _, tc := range []struct {
		name, body, want string
	}{
		{"33 fields", strings.Replace(many, "sheet", "profile", 1) + file, "zu viele Felder"},
		{"a field over 64 KiB", field("profile", "emails") + field("tag", strings.Repeat("x", 64<<10+1)) + file, "„tag“ ist zu lang"},
		{"an unknown field", field("profile", "emails") + field("farbe", "blau") + file, "„farbe“"},
		{"two files", field("profile", "emails") + formHead("", "a.csv") + emailsCSV + "\r\n" + formHead("", "b.csv") + emailsCSV + formTail, "genau eine Datei"},
	} {
		body, ct := multipartBody("", tc.body)
		res := b.do("POST", "/v1/imports", "Bearer "+b.key, body, ct)
		if res.code != http.StatusBadRequest || !strings.Contains(res.errorMessage(), tc.want) {
			t.Errorf("%s: %d %s, want 400 with %q", tc.name, res.code, res.body, tc.want)
		}
	}
	if n := b.uploadCount(); n != 0 {
		t.Errorf("%d uploads stored", n)
	}
}

// An unknown field is refused before the rest of the body arrives: the answer comes
// while the client still owes 1 MiB.
func TestUnknownFieldRefusedAsItArrives(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	srv := httptest.NewServer(b.handler)
	defer srv.Close()
	c := rawUpload(t, srv.Listener.Addr().String(), b.key, 1<<20, field("farbe", "blau")+"--"+boundary+"\r\n")
	code, _, body := readAnswer(t, c, 5*time.Second)
	if code != http.StatusBadRequest || !strings.Contains(body, "Unbekanntes Feld „farbe“") {
		t.Errorf("an unknown field with the body unfinished: %d %s", code, body)
	}
}

// NUL, invalid UTF-8 and control characters in a form field, a part header or a
// parameter are 400 naming it, never a 500 or a driver error in the log.
func TestBadTextIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	file := formHead("", "n.csv") + emailsCSV + formTail
	for _, tc := range []struct {
		name, body, want string
	}{
		{"NUL in profile", field("profile", "emails\x00"), "„profile“"},
		{"NUL in account", field("profile", "customers") + field("account", "hu\x00ber"), "„account“"},
		{"invalid UTF-8 in tag", field("profile", "customers") + field("tag", "Kunde\xff"), "„tag“"},
		{"line feed in sheet", field("profile", "emails") + field("sheet", "Tabelle\n1"), "„sheet“"},
		{"escape in columns", field("profile", "emails") + field("header", "false") + field("columns", "external_id;\x1b[31memail"), "„columns“"},
		{"C1 control in delimiter", field("profile", "emails") + field("delimiter", "\u0085"), "„delimiter“"},
		{"NUL in a part header", "--" + boundary + "\r\nContent-Disposition: form-data; name=\"pro\x00file\"\r\n\r\nemails\r\n", "1. Formularteils"},
		{"invalid UTF-8 in a part header", "--" + boundary + "\r\nContent-Disposition: form-data; name=\"profile\"\r\nContent-Type: text/plain; charset=\xff\r\n\r\nemails\r\n", "„Content-Type“ des 1. Formularteils"},
		{"invalid UTF-8 in a field name", field("pro\xfffile", "emails"), "Formularteil"},
	} {
		body, ct := multipartBody(tc.body, file)
		res := b.do("POST", "/v1/imports", "Bearer "+b.key, body, ct)
		if res.code != http.StatusBadRequest || !strings.Contains(res.errorMessage(), tc.want) {
			t.Errorf("%s: %d %s, want 400 naming %s", tc.name, res.code, res.body, tc.want)
		}
	}
	for _, q := range []string{"external_id=" + url.QueryEscape("12\x00"), "account=" + url.QueryEscape("hu\xffber"), "tag=%1b%5b31m"} {
		res := b.do("GET", "/v1/customers?"+q, "Bearer "+b.key, nil, "")
		name, _, _ := strings.Cut(q, "=")
		if res.code != http.StatusBadRequest || !strings.Contains(res.errorMessage(), "„"+name+"“") {
			t.Errorf("GET /v1/customers?%s: %d %s, want 400 naming %s", q, res.code, res.body, name)
		}
	}
	if logs := b.logs(); strings.Contains(logs, "ERROR") || strings.Contains(logs, "request failed") || strings.Contains(logs, "pq:") {
		t.Errorf("bad text reached the log as a failure:\n%s", logs)
	}
	if n := b.uploadCount(); n != 0 {
		t.Errorf("%d uploads stored", n)
	}
}

// A body that ends without its closing boundary is 400, and nothing is stored: cut in
// the middle of the file, right after it, or inside the closing boundary.
func TestBodyWithoutClosingBoundary(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	full := formHead(field("profile", "emails")+field("auto_confirm", "true"), "n.csv") + emailsCSV + formTail
	cuts := map[string]string{
		"in the file part":           full[:strings.Index(full, "anna")],
		"after the file part":        strings.TrimSuffix(full, formTail),
		"after the file's line feed": strings.TrimSuffix(full, formTail) + "\r\n",
		"in the closing boundary":    strings.TrimSuffix(full, "--\r\n"),
	}
	for name, body := range cuts {
		r, ct := multipartBody(body)
		res := b.do("POST", "/v1/imports", "Bearer "+b.key, r, ct)
		if res.code != http.StatusBadRequest || !strings.Contains(res.errorMessage(), "abschließenden Grenze") {
			t.Errorf("body cut %s: %d %s, want 400", name, res.code, res.body)
		}
	}
	if n := b.uploadCount(); n != 0 {
		t.Errorf("%d truncated uploads stored", n)
	}
	r, ct := multipartBody(full)
	if res := b.do("POST", "/v1/imports", "Bearer "+b.key, r, ct); res.code != http.StatusAccepted {
		t.Errorf("the whole body: %d %s", res.code, res.body)
	}
}

// A file name keeps its printable characters only, without directories, at most 255
// bytes; the extension survives the cut.
func TestFilenamesAreCleaned(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	long := strings.Repeat("ä", 1<<20) + ".csv" // 2 MiB
	for _, tc := range []struct {
		name, disposition, want string
	}{
		{"ANSI escapes and bidi overrides", `filename*=UTF-8''%1B%5B31mrot%1B%5B0m%E2%80%AEvsc.%E2%81%A6x%E2%80%8F.csv`, "rotvsc.x.csv"},
		{"control characters and a path", `filename*=UTF-8''..%2F..%2Fetc%2Fn%00u%07t%C2%85zer.csv`, "nutzer.csv"},
		{"a Windows path", `filename="C:\\Users\\huber\\nutzer.csv"`, "nutzer.csv"},
		{"2 MiB", `filename="` + long + `"`, strings.Repeat("ä", 125) + ".csv"},
	} {
		body := field("profile", "emails") + "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; " + tc.disposition + "\r\n\r\n" + emailsCSV + formTail
		r, ct := multipartBody(body)
		res := b.do("POST", "/v1/imports", "Bearer "+b.key, r, ct)
		if res.code != http.StatusAccepted || !strings.Contains(res.body, `"filename":"`+tc.want+`"`) {
			got := res.body
			if len(got) > 300 {
				got = got[:300]
			}
			t.Errorf("%s: %d %s, want the file name %q", tc.name, res.code, got, tc.want)
		}
	}
	var longest int
	if err := b.db.Get(&longest, `SELECT max(octet_length(filename)) FROM uploads WHERE tenant_id = $1`, b.admin.TenantID); err != nil || longest > 255 {
		t.Errorf("a stored file name has %d bytes (%v)", longest, err)
	}
}

// Uploads spool into files nobody else can open, and none is left in the temp directory.
func TestSpoolLeavesNoFiles(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.queuedImport()
	r, ct := multipartBody(formHead(field("profile", "emails"), "n.csv") + emailsCSV)
	b.do("POST", "/v1/imports", "Bearer "+b.key, r, ct) // cut off
	left, err := os.ReadDir(os.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		if strings.HasPrefix(e.Name(), "portalwerk-upload-") {
			t.Errorf("spooled upload left behind: %s", e.Name())
		}
	}
}

// A tenant holds at most two error list downloads at once: two clients that never read
// a 30 MB list do not let a third download of the tenant start (429), other tenants are
// not affected, and a slot is free again once a client goes.
func TestErrorDownloadsPerTenantBounded(t *testing.T) {
	t.Parallel()
	b := setupWith(t, nil, storetest.DB(t), api.Config{UploadMaxBytes: uploadMaxBytes, DownloadsPerTenant: 2})
	im := b.queuedImport()
	if _, err := b.db.Exec(`INSERT INTO import_errors (import_id, row_num, col, value, code, message)
		SELECT $1, g, 'E-Mail', repeat('x', 100), 'invalid_email', 'Die E-Mail-Adresse ist ungültig.' FROM generate_series(2, 150001) g`, im.ID); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b.handler)
	defer srv.Close()
	path := "/v1/imports/" + im.ID + "/errors"
	var readers []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", path, b.key)
		// Once the answer has begun, the download holds its slot; the rest is never read.
		c.SetReadDeadline(time.Now().Add(time.Minute))
		if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.1 200") {
			t.Fatalf("a download: %q %v", line, err)
		}
		readers = append(readers, c)
	}
	get := func(key, path string) response {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return response{resp.StatusCode, resp.Header, string(body)}
	}
	res := get(b.key, path+"?limit=1")
	if res.code != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" || !strings.Contains(res.errorMessage(), "Fehlerlisten") {
		t.Fatalf("a third download while two are held: %d %v %s, want 429", res.code, res.header, res.body)
	}
	if res := get(b.other, "/v1/imports/"+store.NewID()+"/errors"); res.code != http.StatusNotFound {
		t.Errorf("another tenant meanwhile: %d %s, want its own 404", res.code, res.body)
	}
	readers[0].Close()
	res = get(b.key, path+"?limit=1")
	for deadline := time.Now().Add(10 * time.Second); res.code == http.StatusTooManyRequests && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		res = get(b.key, path+"?limit=1")
	}
	if res.code != http.StatusOK {
		t.Errorf("once a client went away: %d %s, want 200", res.code, res.body)
	}
}

// countingReader counts what the server read of a body.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// A bodyless endpoint reads at most 64 KiB of whatever body it is sent, form or JSON.
func TestBodylessEndpointsReadLittle(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	im := b.queuedImport()
	for _, ct := range []string{"application/x-www-form-urlencoded", "multipart/form-data; boundary=" + boundary, "application/json"} {
		body := &countingReader{r: io.LimitReader(neverEnding('a'), 64<<20)}
		b.do("POST", "/v1/imports/"+im.ID+"/confirm", "Bearer "+b.key, body, ct)
		if body.n > 64<<10+4<<10 {
			t.Errorf("confirm with a %s body read %d bytes of it", ct, body.n)
		}
	}
}

type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}
