package jobs

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"portalwerk/jobs/mail"
	"portalwerk/jobs/mail/mailtest"
	"portalwerk/store"
	"portalwerk/store/storetest"
)

func TestParsePeriod(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"2026-11", "2026-11 2026-11-01..2026-11-30 | 2026-Q4 2026-10-01..2026-12-31 | 2026 2026-01-01..2026-12-31"},
		{"2026-02", "2026-02 2026-02-01..2026-02-28 | 2026-Q1 2026-01-01..2026-03-31 | 2026 2026-01-01..2026-12-31"},
		{"2026-Q2", " | 2026-Q2 2026-04-01..2026-06-30 | "},
		{"2027", " |  | 2027 2027-01-01..2027-12-31"},
		{"2026-13", "error"}, {"2026-Q5", "error"}, {"11/2026", "error"}, {"", "error"},
	} {
		p, err := ParsePeriod(c.in)
		got := "error"
		if err == nil {
			s := func(x store.PeriodSpan) string {
				if x.Key == "" {
					return ""
				}
				return x.Key + " " + x.Start.Format(time.DateOnly) + ".." + x.End.Format(time.DateOnly)
			}
			got = s(p.Monthly) + " | " + s(p.Quarterly) + " | " + s(p.Yearly)
		}
		if got != c.want {
			t.Errorf("ParsePeriod(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestPeriodicMeterRequests: the fan-out gives one task per tenant and slot (two
// replicas enqueue it once), and running the periodic request twice in a period, or a
// second slot of the same month, mails each contact once.
func TestPeriodicMeterRequests(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	acc := storetest.Account(t, b.db, "", "huber", store.RoleAdmin)
	storetest.Register(t, b.db, acc, storetest.RegisterSpec{Customer: "K-1", Contract: "V-1", Meter: "M-1", Register: "Wärme"})
	storetest.Register(t, b.db, acc, storetest.RegisterSpec{Customer: "K-1", Contract: "V-Y", Interval: "yearly", Meter: "M-2", Register: "Wärme"})
	if _, err := b.db.Exec(`WITH p AS (INSERT INTO contacts (tenant_id, customer_id, name, email)
			SELECT DISTINCT tenant_id, customer_id, 'Anna Berg', 'anna@example.de' FROM contracts WHERE tenant_id = $1 RETURNING id, customer_id)
		INSERT INTO contract_contacts SELECT ct.id, p.id FROM p JOIN contracts ct ON ct.customer_id = p.customer_id`, acc.TenantID); err != nil {
		t.Fatal(err)
	}
	s := mailtest.Start(t)
	sender, err := mail.New(s.URL(), "zaehler@example.de", storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	job := meterRequestsJob(nil)
	slot := time.Date(2026, 11, 2, 5, 0, 0, 0, time.UTC) // 06:00 in Berlin
	for range 2 {                                        // two scheduler replicas
		if _, err := b.client.Enqueue(ctx, job.PerTenant(acc.TenantID, slot)); err != nil {
			t.Fatal(err)
		}
	}
	a := job.PerTenant(acc.TenantID, slot).(MeterRequestsPeriodic)
	if got := b.pending(t, QueueMail, a.TaskID()); len(got) != 1 || a.Period != "2026-11" {
		t.Fatalf("pending periodic tasks: %v (period %s)", got, a.Period)
	}
	w := &MeterRequestsPeriodicWorker{&MeterRequestsWorker{DB: b.db, Mail: sender, Keys: testKeys(t), BaseURL: "https://portal.example.de"}}
	work := func(a MeterRequestsPeriodic) store.RunCounts {
		t.Helper()
		sum, err := w.Work(ctx, task(t, a))
		if err != nil {
			t.Fatal(err)
		}
		return sum.(store.RunCounts)
	}
	if c := work(a); c["sent"] != 2 || c["contracts"] != 2 {
		t.Errorf("first slot: %v", c)
	}
	if c := work(a); c["sent"] != 2 { // the same task again: its batch is done
		t.Errorf("the same task again: %v", c)
	}
	next := job.PerTenant(acc.TenantID, slot.AddDate(0, 0, 1)).(MeterRequestsPeriodic)
	if c := work(next); c["contracts"] != 0 || c["sent"] != 0 {
		t.Errorf("next day of the month: %v", c)
	}
	if n := len(s.Received()); n != 2 {
		t.Errorf("%d mails, want 2 (November and 2026 for Anna)", n)
	}
	dec := job.PerTenant(acc.TenantID, time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC)).(MeterRequestsPeriodic)
	if c := work(dec); c["contracts"] != 1 || c["sent"] != 1 {
		t.Errorf("December: %v", c)
	}
}

// meterChildRun names the meter-request kill test's run; the child reads the database
// and the SMTP sink from the invitation child's variables.
const meterChildRun = "PORTALWERK_METER_CHILD_RUN"

func meterChild() int {
	ctx := context.Background()
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "meter child:", err)
		return 1
	}
	db, err := store.Open(ctx, os.Getenv(inviteChildDB))
	if err != nil {
		return fail(err)
	}
	log := slog.New(slog.DiscardHandler)
	sender, err := mail.New(os.Getenv(inviteChildSMTP), "zaehler@example.de", log)
	if err != nil {
		return fail(err)
	}
	run, err := store.RunByID(ctx, db, os.Getenv(meterChildRun))
	if err != nil {
		return fail(err)
	}
	w := &MeterRequestsWorker{DB: db, Mail: sender, Keys: testKeys(nil), BaseURL: "http://portal.test", Connections: 3, Batch: 5}
	a := MeterRequests{RunID: run.ID, TenantID: run.TenantID}
	if _, err := w.Work(ctx, &Task[MeterRequests]{Args: a, ID: a.TaskID(), Log: log}); err != nil {
		return fail(err)
	}
	return 0
}

// A worker process SIGKILLed in the middle of a meter request, then the task again: no
// contact gets a second mail for the period. The rows the dead worker had claimed but
// not marked are failed as uncertain; every other contact is mailed exactly once.
func TestMeterRequestWorkerKilledMidBatch(t *testing.T) {
	b := setup(t)
	acc := storetest.Account(t, b.db, "", "huber", store.RoleAdmin)
	const n = 200
	for _, q := range []string{
		`INSERT INTO customers (tenant_id, account_id, external_id) SELECT $1, $2, 'K-' || i FROM generate_series(1, 200) i`,
		`INSERT INTO contracts (tenant_id, customer_id, number, reporting, "interval")
			SELECT $1, id, 'V-' || external_id, 'portal', 'monthly' FROM customers WHERE account_id = $2`,
		`INSERT INTO meters (tenant_id, contract_id, number) SELECT $1, id, 'M-' || number FROM contracts WHERE tenant_id = $1 AND $2 > 0`,
		`INSERT INTO registers (tenant_id, meter_id, name, unit, digits, decimals)
			SELECT $1, id, 'Wärme', 'kWh', 6, 0 FROM meters WHERE tenant_id = $1 AND $2 > 0`,
		`INSERT INTO contacts (tenant_id, customer_id, name, email)
			SELECT $1, id, 'Kontakt ' || external_id, lower(external_id) || '@example.de' FROM customers WHERE account_id = $2`,
		`INSERT INTO contract_contacts SELECT ct.id, p.id FROM contracts ct JOIN contacts p ON p.customer_id = ct.customer_id
			WHERE ct.tenant_id = $1 AND $2 > 0`,
	} {
		if _, err := b.db.Exec(q, acc.TenantID, acc.ID); err != nil {
			t.Fatalf("%.50s: %v", q, err)
		}
	}
	sink := mailtest.Start(t)
	sink.SetDelay(2 * time.Millisecond)
	id := store.NewID()
	a := MeterRequests{RunID: id, TenantID: acc.TenantID}
	if err := b.client.CreateRun(context.Background(), b.db, store.NewRun{ID: id, TenantID: acc.TenantID, AccountID: acc.ID,
		CreatedBy: acc.ID, Kind: store.RunMeterRequests, Params: json.RawMessage(`{"period":"2026-11","all":true}`)}, a); err != nil {
		t.Fatal(err)
	}

	before := killChildAfter(t, b.db, sink, 50, meterChildRun+"="+id)
	if len(before) >= n {
		t.Fatalf("the child finished before the kill (%d mails)", len(before))
	}

	sender, err := mail.New(sink.URL(), "zaehler@example.de", storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	w := &MeterRequestsWorker{DB: b.db, Mail: sender, Keys: testKeys(t), BaseURL: "http://portal.test", Connections: 3, Batch: 5}
	sum, err := w.Work(context.Background(), task(t, a))
	if err != nil {
		t.Fatal(err)
	}
	res := sum.(runResult)
	var uncertain int64
	b.db.Get(&uncertain, `SELECT count(*) FROM meter_request_recipients WHERE batch = $1 AND status = 'failed' AND error = $2`, id, meterUncertainMessage)
	var sent []string
	b.db.Select(&sent, `SELECT email FROM meter_request_recipients WHERE batch = $1 AND status = 'sent' AND token_id IS NOT NULL`, id)
	if int64(len(sent)) != res.Counts["sent"] {
		t.Errorf("%d rows sent with their link's token, %d counted sent", len(sent), res.Counts["sent"])
	}
	checkRetryAfterKill(t, res, perAddress(sink.Received()), n, uncertain, sent)
	t.Logf("killed after %d mails; retry: %d sent in all, %d uncertain (not sent again)", len(before), res.Counts["sent"], uncertain)
}

// checkRetryAfterKill asserts what the retry of a killed batch of n recipients must
// show: nobody got two mails, every recipient is sent or failed, at most the rows in
// flight (3 connections × Batch 5) failed, all of them as uncertain (uncertain rows),
// and every address marked sent received its mail.
func checkRetryAfterKill(t *testing.T, res runResult, after map[string]int, n int, uncertain int64, sent []string) {
	t.Helper()
	for addr, c := range after {
		if c != 1 {
			t.Errorf("%s got %d mails", addr, c)
		}
	}
	if res.Status != store.RunDone || res.Counts["sent"]+res.Counts["failed"] != int64(n) {
		t.Errorf("result %+v: want every one of %d sent or failed", res, n)
	}
	if res.Counts["failed"] > 15 {
		t.Errorf("%d recipients failed as uncertain, want at most 15", res.Counts["failed"])
	}
	if uncertain != res.Counts["failed"] {
		t.Errorf("%d failed, %d of them as uncertain", res.Counts["failed"], uncertain)
	}
	for _, e := range sent {
		if after[e] != 1 {
			t.Errorf("%s marked sent, received %d", e, after[e])
		}
	}
}

// killChildAfter runs this test binary as a worker process (env selects which child),
// SIGKILLs it once the sink has received atLeast mails, waits until PostgreSQL has ended
// its sessions, and returns the mails per address received until then.
func killChildAfter(t *testing.T, db *sqlx.DB, sink *mailtest.Sink, atLeast int, env ...string) map[string]int {
	t.Helper()
	app := "kill-child-" + strings.ToLower(rand.Text()[:12])
	u, err := url.Parse(storetest.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), inviteChildDB+"="+u.String(), inviteChildSMTP+"="+sink.URL()), env...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for len(sink.Received()) < atLeast {
		select {
		case err := <-exited:
			t.Fatalf("the child ended before it was killed: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the child sent fewer than %d mails in 30 s", atLeast)
		}
		time.Sleep(time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	// A statement the child had sent may still finish after the kill.
	for {
		var alive bool
		if err := db.Get(&alive, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = $1)`, app); err != nil {
			t.Fatal(err)
		}
		if !alive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the killed child's database sessions did not end")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return perAddress(sink.Received())
}
