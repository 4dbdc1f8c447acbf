package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"portalwerk/store"
	"portalwerk/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// system is the real enqueuer and worker binaries running against the package's
// PostgreSQL database and Redis DB.
type system struct {
	t    *testing.T
	bin  string
	env  []string
	base string
}

func startSystem(t *testing.T) *system {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binaries")
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "portalwerk/enqueuer", "portalwerk/worker")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := &system{t: t, bin: bin, base: "http://" + addr, env: append(os.Environ(),
		"DATABASE_URL="+storetest.DatabaseURL(t),
		"REDIS_URL="+storetest.RedisURL(t),
		"HTTP_ADDR="+addr,
		"MAIL_URL=file://"+filepath.Join(t.TempDir(), "outbox"),
		"OPS_USER=ops", "OPS_PASSWORD=secret",
		"UPLOAD_MAX_BYTES=65536",
	)}
	s.cli("migrate")
	for _, name := range []string{"enqueuer", "worker"} {
		cmd := exec.Command(filepath.Join(bin, name))
		cmd.Env = s.env
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Signal(os.Interrupt)
			cmd.Wait()
			if t.Failed() {
				t.Logf("%s output:\n%s", name, logs.String())
			}
		})
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("enqueuer did not come up: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *system) cli(args ...string) []byte {
	s.t.Helper()
	cmd := exec.Command(filepath.Join(s.bin, "enqueuer"), args...)
	cmd.Env = s.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		s.t.Fatalf("enqueuer %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

func (s *system) createAccount(args ...string) string {
	s.t.Helper()
	var res struct {
		APIKey string `json:"api_key"`
	}
	out := s.cli(append([]string{"account", "create"}, args...)...)
	if err := json.Unmarshal(out, &res); err != nil || res.APIKey == "" {
		s.t.Fatalf("account create printed %q: %v", out, err)
	}
	return res.APIKey
}

func (s *system) do(method, path, key string, body io.Reader, contentType string) (int, []byte) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (s *system) upload(key, filename string, content []byte, fields map[string]string) (int, []byte) {
	s.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", filename)
	fw.Write(content)
	mw.Close()
	return s.do("POST", "/v1/imports", key, &buf, mw.FormDataContentType())
}

type importObj struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	TaskID   string `json:"task_id"`
	Error    *string
	Progress struct {
		RowsRead int64 `json:"rows_read"`
	} `json:"progress"`
	Counts map[string]int64 `json:"counts"`
}

func (s *system) waitImport(key, id string, want ...string) importObj {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := s.do("GET", "/v1/imports/"+id, key, nil, "")
		var im importObj
		if code != http.StatusOK || json.Unmarshal(body, &im) != nil {
			s.t.Fatalf("GET import: %d %s", code, body)
		}
		for _, w := range want {
			if im.Status == w {
				return im
			}
		}
		if time.Now().After(deadline) || im.Status == "failed" {
			msg := ""
			if im.Error != nil {
				msg = *im.Error
			}
			s.t.Fatalf("import %s is %s (error %q), want %v", id, im.Status, msg, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestEndToEnd(t *testing.T) {
	s := startSystem(t)
	db := storetest.DB(t)
	tenant := "hv-e2e-" + store.NewID()[:8]
	huber := s.createAccount("--tenant", tenant, "--name", "huber", "--role", "admin")
	other := s.createAccount("--tenant", "andere-e2e-"+store.NewID()[:8], "--name", "maier", "--role", "admin")
	member := s.createAccount("--tenant", tenant, "--name", "leser")
	_, err := db.Exec(`INSERT INTO customers (tenant_id, account_id, external_id, email)
		SELECT a.tenant_id, a.id, lpad(n::text, 20, '0'), CASE WHEN n = 3 THEN 'alt@example.org' END
		FROM accounts a JOIN tenants t ON t.id = a.tenant_id, generate_series(1, 3) n
		WHERE t.slug = $1 AND a.name = 'huber'`, tenant)
	if err != nil {
		t.Fatal(err)
	}

	csv := "Nutzerfremdnummer;E-Mail\n1;anna@Example.DE\n00000000000000000002;bert@example.de\n3;neu@example.de\n"
	code, body := s.upload(huber, "nutzer.csv", []byte(csv), map[string]string{"profile": "emails"})
	if code != http.StatusAccepted {
		t.Fatalf("upload: %d %s", code, body)
	}
	var im importObj
	json.Unmarshal(body, &im)
	if im.Status != "queued" || im.TaskID == "" {
		t.Fatalf("upload answered %s", body)
	}
	im = s.waitImport(huber, im.ID, "previewed")
	if im.Counts["rows"] != 3 || im.Progress.RowsRead != 3 || im.Counts["update"] != 2 || im.Counts["unchanged"] != 1 {
		t.Fatalf("preview counts %v, rows_read %d", im.Counts, im.Progress.RowsRead)
	}

	t.Run("auth", func(t *testing.T) {
		if code, _ := s.do("GET", "/v1/imports/"+im.ID, "wrong-key", nil, ""); code != http.StatusUnauthorized {
			t.Errorf("wrong key: %d, want 401", code)
		}
		if code, _ := s.do("GET", "/v1/imports/"+im.ID, "", nil, ""); code != http.StatusUnauthorized {
			t.Errorf("no key: %d, want 401", code)
		}
		if code, _ := s.do("GET", "/v1/imports/"+im.ID, other, nil, ""); code != http.StatusNotFound {
			t.Errorf("other tenant: %d, want 404", code)
		}
		if code, _ := s.do("POST", "/v1/imports/"+im.ID+"/confirm", other, nil, ""); code != http.StatusNotFound {
			t.Errorf("other tenant confirm: %d, want 404", code)
		}
		if code, _ := s.upload(member, "nutzer.csv", []byte(csv), map[string]string{"profile": "emails"}); code != http.StatusForbidden {
			t.Errorf("member upload: %d, want 403", code)
		}
		if code, _ := s.upload(huber, "nutzer.csv", []byte(csv), map[string]string{"profile": "emails", "account": "maier"}); code != http.StatusNotFound {
			t.Errorf("account of another tenant: %d, want 404", code)
		}
	})

	t.Run("bad requests change nothing", func(t *testing.T) {
		var before int
		db.Get(&before, `SELECT count(*) FROM uploads`)
		big := bytes.Repeat([]byte("1;a@example.de\n"), 10000) // over UPLOAD_MAX_BYTES=65536
		if code, body := s.upload(huber, "gross.csv", append([]byte("Nutzerfremdnummer;E-Mail\n"), big...), map[string]string{"profile": "emails"}); code != http.StatusRequestEntityTooLarge {
			t.Errorf("large upload: %d %s, want 413", code, body)
		}
		code, body := s.upload(huber, "nutzer.csv", []byte(csv), map[string]string{"profile": "emails", "email_mode": "alles"})
		if code != http.StatusBadRequest || !strings.Contains(string(body), "email_mode") {
			t.Errorf("bad option: %d %s, want 400 naming email_mode", code, body)
		}
		if code, body := s.upload(huber, "nutzer.csv", []byte(csv), map[string]string{"profile": "telefon"}); code != http.StatusBadRequest || !strings.Contains(string(body), "profile") {
			t.Errorf("unknown profile: %d %s", code, body)
		}
		var after int
		db.Get(&after, `SELECT count(*) FROM uploads`)
		if after != before {
			t.Errorf("uploads went from %d to %d", before, after)
		}
	})

	t.Run("confirm applies", func(t *testing.T) {
		code, body := s.do("POST", "/v1/imports/"+im.ID+"/confirm", huber, nil, "")
		if code != http.StatusAccepted {
			t.Fatalf("confirm: %d %s", code, body)
		}
		done := s.waitImport(huber, im.ID, "done")
		if done.Counts["update"] != 2 {
			t.Errorf("applied counts %v", done.Counts)
		}
		var emails []string
		db.Select(&emails, `SELECT email FROM customers c JOIN accounts a ON a.id = c.account_id JOIN tenants t ON t.id = a.tenant_id WHERE t.slug = $1 AND a.name = 'huber' ORDER BY external_id`, tenant)
		want := []string{"anna@example.de", "bert@example.de", "alt@example.org"}
		if fmt.Sprint(emails) != fmt.Sprint(want) {
			t.Errorf("emails %v, want %v (fill_empty keeps the stored address)", emails, want)
		}
		if code, _ := s.do("POST", "/v1/imports/"+im.ID+"/confirm", huber, nil, ""); code != http.StatusConflict {
			t.Errorf("second confirm: %d, want 409", code)
		}
	})

	t.Run("auto_confirm applies a clean preview", func(t *testing.T) {
		clean := "Nutzerfremdnummer;E-Mail\n1;anna.neu@example.de\n"
		code, body := s.upload(huber, "auto.csv", []byte(clean), map[string]string{"profile": "emails", "email_mode": "overwrite", "auto_confirm": "true"})
		if code != http.StatusAccepted {
			t.Fatalf("upload: %d %s", code, body)
		}
		var up importObj
		json.Unmarshal(body, &up)
		if done := s.waitImport(huber, up.ID, "done"); done.Counts["update"] != 1 {
			t.Errorf("auto-confirmed counts %v", done.Counts)
		}
	})

	t.Run("row errors block confirm and export safely", func(t *testing.T) {
		bad := "Nutzerfremdnummer;E-Mail\n1;\"=HYPERLINK(\"\"http://x\"\")\"\n2;bert@example.de\n"
		code, body := s.upload(huber, "fehler.csv", []byte(bad), map[string]string{"profile": "emails", "auto_confirm": "true"})
		if code != http.StatusAccepted {
			t.Fatalf("upload: %d %s", code, body)
		}
		var up importObj
		json.Unmarshal(body, &up)
		pre := s.waitImport(huber, up.ID, "previewed")
		if pre.Counts["errors"] != 1 {
			t.Fatalf("counts %v, want one error", pre.Counts)
		}
		code, body = s.do("GET", "/v1/imports/"+up.ID+"/errors", huber, nil, "")
		var errs []map[string]any
		if code != http.StatusOK || json.Unmarshal(body, &errs) != nil || len(errs) != 1 || errs[0]["row"] != float64(2) || errs[0]["code"] != "invalid_email" {
			t.Errorf("errors: %d %s", code, body)
		}
		code, body = s.do("GET", "/v1/imports/"+up.ID+"/errors?format=csv", huber, nil, "")
		if code != http.StatusOK || !strings.Contains(string(body), `'=HYPERLINK`) {
			t.Errorf("csv export does not neutralise the formula: %s", body)
		}
		if code, _ := s.do("POST", "/v1/imports/"+up.ID+"/confirm", huber, nil, ""); code != http.StatusConflict {
			t.Errorf("confirm with row errors: %d, want 409", code)
		}
		code, body = s.do("POST", "/v1/imports/"+up.ID+"/confirm", huber, strings.NewReader(`{"skip_invalid_rows":"true"}`), "application/json")
		if code != http.StatusAccepted {
			t.Fatalf("confirm skipping invalid rows: %d %s", code, body)
		}
		if done := s.waitImport(huber, up.ID, "done"); done.Counts["errors"] != 1 || done.Counts["unchanged"] != 1 {
			t.Errorf("applied counts %v", done.Counts)
		}
	})

	t.Run("cancel", func(t *testing.T) {
		code, body := s.upload(huber, "nutzer.csv", []byte(csv), map[string]string{"profile": "emails"})
		if code != http.StatusAccepted {
			t.Fatalf("upload: %d %s", code, body)
		}
		var up importObj
		json.Unmarshal(body, &up)
		s.waitImport(huber, up.ID, "previewed")
		if code, body := s.do("POST", "/v1/imports/"+up.ID+"/cancel", huber, nil, ""); code != http.StatusOK || !strings.Contains(string(body), `"cancelled"`) {
			t.Errorf("cancel: %d %s", code, body)
		}
		if code, _ := s.do("POST", "/v1/imports/"+up.ID+"/confirm", huber, nil, ""); code != http.StatusConflict {
			t.Errorf("confirm after cancel: %d, want 409", code)
		}
	})

	t.Run("operations", func(t *testing.T) {
		if code, _ := s.do("GET", "/monitoring/", "", nil, ""); code != http.StatusUnauthorized {
			t.Errorf("dashboard without credentials: %d", code)
		}
		req, _ := http.NewRequestWithContext(context.Background(), "GET", s.base+"/monitoring/", nil)
		req.SetBasicAuth("ops", "secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("dashboard with credentials: %v %v", resp.StatusCode, err)
		}
		resp.Body.Close()
		req, _ = http.NewRequest("GET", s.base+"/metrics", nil)
		req.SetBasicAuth("ops", "secret")
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, m := range []string{"asynq_queue_size", "portalwerk_import_rows_read_total"} {
			if !strings.Contains(string(b), m) {
				t.Errorf("metrics lack %s", m)
			}
		}
		if code, body := s.do("GET", "/readyz", "", nil, ""); code != http.StatusOK {
			t.Errorf("readyz: %d %s", code, body)
		}
	})
}
