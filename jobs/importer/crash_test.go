package importer_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"portalwerk/jobs/importer"
	"portalwerk/store"
	"portalwerk/store/storetest"
)

// The crash tests run the engine in a child process (this test binary again, see
// TestMain) and SIGKILL it while its transaction is open, as a worker dies mid-task.
const (
	crashOpEnv = "PORTALWERK_CRASH_OP" // preview or apply
	crashDBEnv = "PORTALWERK_CRASH_DB"
	crashIDEnv = "PORTALWERK_CRASH_ID"
)

// crashChild is the worker side: it runs one engine step and exits.
func crashChild(op string) int {
	ctx := context.Background()
	db, err := store.Open(ctx, os.Getenv(crashDBEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		return 1
	}
	defer db.Close()
	e := &importer.Engine{DB: db, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	id := os.Getenv(crashIDEnv)
	if op == "preview" {
		_, err = e.Preview(ctx, id)
	} else {
		err = e.Apply(ctx, id)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		return 1
	}
	return 0
}

// killWhenBlocked starts the child for op, waits until one of its database sessions is
// blocked on a lock the test holds while running a statement that starts with query,
// SIGKILLs it and waits until PostgreSQL has ended all of the child's sessions (after
// the test released its lock with release).
func (f *fixture) killWhenBlocked(op, id, query string, release func()) {
	f.t.Helper()
	app := "crash-" + op + "-" + strings.ReplaceAll(id, "-", "")[:12]
	u, err := url.Parse(storetest.DatabaseURL(f.t))
	if err != nil {
		f.t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashOpEnv+"="+op, crashDBEnv+"="+u.String(), crashIDEnv+"="+id)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var blocked bool
		if err := f.db.GetContext(f.ctx, &blocked, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE application_name = $1 AND wait_event_type = 'Lock' AND query LIKE $2 || '%')`, app, query); err != nil {
			f.t.Fatal(err)
		}
		if blocked {
			break
		}
		select {
		case err := <-exited:
			release()
			f.t.Fatalf("%s child ended before it was killed: %v", op, err)
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			release()
			f.t.Fatalf("%s child never blocked on %q", op, query)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		f.t.Fatal(err)
	}
	if err := <-exited; err == nil || !strings.Contains(err.Error(), "killed") {
		f.t.Fatalf("%s child: want killed, got %v", op, err)
	}
	release()
	for {
		var sessions int
		if err := f.db.GetContext(f.ctx, &sessions, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, app); err != nil {
			f.t.Fatal(err)
		}
		if sessions == 0 {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%d sessions of the killed %s child still open", sessions, op)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A worker killed in the middle of a preview and in the middle of an apply leaves the
// data as it was; the retried task then does everything exactly once.
func TestWorkerKilledMidPreviewAndMidApply(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	f := newFixture(t)
	const n = 20000
	f.seedResidents(n)
	lines := []string{"Nutzerfremdnummer;E-Mail"}
	for i := 1; i <= n; i++ {
		key := fmt.Sprintf("%020d", i)
		if i%1000 == 0 {
			key = fmt.Sprintf("%020d", n+i) // unknown
		}
		lines = append(lines, fmt.Sprintf("%s;bewohner%d@beispiel.de", key, i))
	}
	id := f.upload("emails", "bewohner.csv", csvUTF8(lines...), map[string]string{"email_mode": "overwrite"})
	want := store.Counts{Rows: n, Update: n - n/1000, Errors: n / 1000}

	// Preview: the test holds the customers table, so the child blocks in its forecast,
	// with every row staged in its open transaction.
	lock, err := f.db.BeginTxx(f.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.ExecContext(f.ctx, `LOCK TABLE customers IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	f.killWhenBlocked("preview", id, "SELECT", func() { lock.Rollback() })
	if f.stagingExists(id) {
		t.Fatal("the killed preview left its staging table")
	}
	if errs := f.errors(id); len(errs) != 0 {
		t.Fatalf("the killed preview left %d row errors", len(errs))
	}
	if im := f.get(id); im.Status != store.ImportPreviewing {
		t.Fatalf("after the kill: status %s", im.Status)
	}
	im, err := f.eng.Preview(f.ctx, id) // asynq's retry
	if err != nil {
		t.Fatal(err)
	}
	wantCounts(t, "preview after the kill", im.Counts, want)
	if errs := f.errors(id); len(errs) != n/1000 {
		t.Fatalf("%d row errors after the retried preview, want %d", len(errs), n/1000)
	}

	// Apply: the test holds one customer the apply must update, so the child blocks in
	// the middle of its UPDATE.
	before := f.snapshot()
	if err := store.ConfirmImport(f.ctx, f.db, id, true); err != nil {
		t.Fatal(err)
	}
	lock, err = f.db.BeginTxx(f.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.ExecContext(f.ctx, `SELECT 1 FROM customers WHERE account_id = $1 AND external_id = $2 FOR UPDATE`,
		f.acct.ID, fmt.Sprintf("%020d", n/2+1)); err != nil {
		t.Fatal(err)
	}
	f.killWhenBlocked("apply", id, "UPDATE customers", func() { lock.Rollback() })
	if f.snapshot() != before {
		t.Fatal("the killed apply changed customers")
	}
	if im := f.get(id); im.Status != store.ImportApplying || !f.stagingExists(id) {
		t.Fatalf("after the kill: status %s, staging table kept %v", im.Status, f.stagingExists(id))
	}
	if err := f.eng.Apply(f.ctx, id); err != nil { // asynq's retry
		t.Fatal(err)
	}
	if err := f.eng.Apply(f.ctx, id); err != nil { // and a duplicate delivery
		t.Fatal(err)
	}
	im = f.get(id)
	if im.Status != store.ImportDone {
		t.Fatalf("after the retried apply: status %s", im.Status)
	}
	wantCounts(t, "apply after the kill", im.Counts, want)
	if written := f.addressesWritten("beispiel.de"); written != want.Update {
		t.Errorf("%d addresses written, want %d", written, want.Update)
	}
}
