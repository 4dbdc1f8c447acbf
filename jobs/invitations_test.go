package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"portalwerk/jobs/config"
	"portalwerk/jobs/login"
	"portalwerk/jobs/mail"
	"portalwerk/jobs/mail/mailtest"
	"portalwerk/store"
	"portalwerk/store/storetest"
)

var linkRE = regexp.MustCompile(`http://portal\.test/portal/l/([A-Za-z0-9._~-]+)`)

func testKeys(t testing.TB) *login.Keys {
	k := config.LoginKey{ID: "k1"}
	copy(k.Secret[:], "0123456789abcdef0123456789abcdef")
	keys, err := login.NewKeys([]config.LoginKey{k})
	if err != nil {
		panic(err)
	}
	return keys
}

// customer inserts a live customer of the account.
func customer(t testing.TB, db *sqlx.DB, acc store.Account, ext, email string, invited bool, extra string) int64 {
	t.Helper()
	var id int64
	var inv *time.Time
	if invited {
		now := time.Now()
		inv = &now
	}
	var em *string
	if email != "" {
		em = &email
	}
	if err := db.Get(&id, `INSERT INTO customers (tenant_id, account_id, external_id, email, invited_at, last_name, salutation, locale)
		VALUES ($1, $2, $3, $4, $5, 'Muster', 'Frau', NULLIF($6, '')) RETURNING id`, acc.TenantID, acc.ID, ext, em, inv, extra); err != nil {
		t.Fatal(err)
	}
	return id
}

type inviteFixture struct {
	t    testing.TB
	b    *bundle
	acc  store.Account
	sink *mailtest.Sink
	w    *InvitationsWorker
}

func newInviteFixture(t *testing.T) *inviteFixture {
	b := setup(t)
	f := &inviteFixture{t: t, b: b, acc: storetest.Account(t, b.db, "", "huber", ""), sink: mailtest.Start(t)}
	sender, err := mail.New(f.sink.URL(), "Hausverwaltung Müller <noreply@hv-mueller.de>", storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	f.w = &InvitationsWorker{DB: b.db, Mail: sender, Keys: testKeys(t), BaseURL: "http://portal.test",
		Connections: 3, Batch: 4, SelectSlice: 3, Backoff: func(int) time.Duration { return 10 * time.Millisecond }}
	if _, err := b.db.Exec(`UPDATE tenants SET name = 'Hausverwaltung Müller & Söhne' WHERE id = $1`, f.acc.TenantID); err != nil {
		t.Fatal(err)
	}
	return f
}

// run records an invitation batch for sel and returns its task.
func (f *inviteFixture) run(sel store.InvitationSelection) InvitationsSend {
	f.t.Helper()
	params, _ := json.Marshal(sel)
	id := store.NewID()
	a := InvitationsSend{RunID: id, TenantID: f.acc.TenantID}
	if err := f.b.client.CreateRun(context.Background(), f.b.db, store.NewRun{ID: id, TenantID: f.acc.TenantID, AccountID: f.acc.ID,
		CreatedBy: f.acc.ID, Kind: store.RunInvitations, Params: params}, a); err != nil {
		f.t.Fatal(err)
	}
	return a
}

func (f *inviteFixture) work(a InvitationsSend) runResult {
	f.t.Helper()
	res, err := f.w.Work(context.Background(), &Task[InvitationsSend]{Args: a, ID: a.TaskID(), Log: storetest.Logger(f.t)})
	if err != nil {
		f.t.Fatalf("work: %v", err)
	}
	return res.(runResult)
}

// perAddress counts the mails each address received.
func perAddress(mails []mailtest.Mail) map[string]int {
	n := map[string]int{}
	for _, m := range mails {
		n[m.To]++
	}
	return n
}

func TestInvitationBatchMailsEachInviteeOnce(t *testing.T) {
	f := newInviteFixture(t)
	var keys []string
	for i := range 10 {
		ext := fmt.Sprintf("K-%03d", i)
		keys = append(keys, ext)
		customer(t, f.b.db, f.acc, ext, fmt.Sprintf("bewohner%d@example.org", i), false, map[bool]string{true: "en"}[i == 3])
	}
	customer(t, f.b.db, f.acc, "K-100", "", false, "")                             // no e-mail
	customer(t, f.b.db, f.acc, "K-101", "schon@example.org", true, "")             // already invited
	customer(t, f.b.db, f.acc, "K-102", "nicht-ausgewählt@example.org", false, "") // not selected
	keys = append(keys, "K-100", "K-101", "K-999")

	a := f.run(store.InvitationSelection{Customers: keys})
	res := f.work(a)
	want := store.RunCounts{"selected": 12, "sent": 10, "skipped_no_email": 1, "skipped_already_invited": 1, "failed": 0, "not_found": 1}
	if res.Status != store.RunDone || fmt.Sprint(res.Counts) != fmt.Sprint(want) {
		t.Fatalf("result %+v, want done with %v", res, want)
	}
	mails := f.sink.Received()
	if len(mails) != 10 {
		t.Fatalf("%d mails, want 10", len(mails))
	}
	for addr, n := range perAddress(mails) {
		if n != 1 || !strings.HasPrefix(addr, "bewohner") {
			t.Errorf("%s got %d mails", addr, n)
		}
	}
	sessions := f.sink.Sessions()
	if sessions > 3 {
		t.Errorf("%d SMTP sessions for 10 mails over 3 connections: connections not reused", sessions)
	}
	// Each mail: German (one English by the customer's locale), the tenant's name, a link
	// that opens for an invitation of this tenant and customer; HTML escapes the name.
	for _, m := range mails {
		subject, text, html := mailtest.Parts(t, m.Raw)
		en := m.To == "bewohner3@example.org"
		if en != strings.Contains(subject, "invitation") || !strings.Contains(subject, "Hausverwaltung Müller & Söhne") {
			t.Errorf("%s: subject %q", m.To, subject)
		}
		if !strings.Contains(html, "Hausverwaltung Müller &amp; Söhne") || !strings.Contains(text, "Hausverwaltung Müller & Söhne") {
			t.Errorf("%s: tenant name not (escaped) in both parts", m.To)
		}
		if !en && !strings.Contains(text, "Sehr geehrte Frau Muster,") {
			t.Errorf("%s: greeting missing in %q", m.To, text)
		}
		lt, lh := linkRE.FindStringSubmatch(text), linkRE.FindStringSubmatch(html)
		if lt == nil || lh == nil || lt[1] != lh[1] {
			t.Fatalf("%s: no (matching) link in both parts", m.To)
		}
		c, err := f.w.Keys.Open(lt[1], time.Now(), login.PurposeInvite)
		if err != nil || c.Tenant != f.acc.TenantID {
			t.Errorf("%s: link does not open: %+v %v", m.To, c, err)
		}
		if err := store.UseLoginToken(context.Background(), f.b.db, c.TokenID, c.Tenant, c.Identity, c.Customer, string(c.Purpose)); err != nil {
			t.Errorf("%s: token not recorded: %v", m.To, err)
		}
	}
	var invited int
	f.b.db.Get(&invited, `SELECT count(*) FROM customers WHERE account_id = $1 AND invited_at IS NOT NULL`, f.acc.ID)
	if invited != 11 {
		t.Errorf("%d customers invited, want 11 (10 now, 1 before)", invited)
	}
	// The task again (a retry after the end) mails nobody.
	if res := f.work(a); res.Status != store.RunDone {
		t.Errorf("second run: %+v", res)
	}
	if n := len(f.sink.Received()); n != 10 {
		t.Errorf("%d mails after the task ran again, want still 10", n)
	}
	// A second batch of all uninvited picks only the one not selected before.
	f.work(f.run(store.InvitationSelection{AllUninvited: true}))
	if got := perAddress(f.sink.Received()); len(got) != 11 || got["nicht-ausgewählt@example.org"] != 1 {
		t.Errorf("after all_uninvited: %v", got)
	}
}

func TestInvitationTemporaryErrorsRetriedPermanentFailed(t *testing.T) {
	f := newInviteFixture(t)
	for i := range 6 {
		customer(t, f.b.db, f.acc, fmt.Sprintf("K-%d", i), fmt.Sprintf("r%d@example.org", i), false, "")
	}
	f.sink.DeferOnce("r1@example.org")
	f.sink.Reject("r2@example.org")
	a := f.run(store.InvitationSelection{AllUninvited: true})
	res := f.work(a)
	if res.Counts["sent"] != 5 || res.Counts["failed"] != 1 || res.Status != store.RunDone {
		t.Fatalf("result %+v: want 5 sent (one after a 451), 1 failed (550)", res)
	}
	if got := perAddress(f.sink.Received()); len(got) != 5 || got["r1@example.org"] != 1 || got["r2@example.org"] != 0 {
		t.Errorf("received %v", got)
	}
	var rows []struct {
		Email   string  `db:"email"`
		Status  string  `db:"status"`
		Attempt int     `db:"attempt"`
		Error   *string `db:"error"`
	}
	f.b.db.Select(&rows, `SELECT email, status, attempt, error FROM invitation_recipients WHERE run_id = $1 AND email IN ('r1@example.org', 'r2@example.org') ORDER BY email`, a.RunID)
	if len(rows) != 2 || rows[0].Status != "sent" || rows[0].Attempt != 2 || rows[1].Status != "failed" ||
		rows[1].Attempt != 1 || rows[1].Error == nil || !strings.Contains(*rows[1].Error, "550") {
		t.Errorf("recipient rows %+v", rows)
	}
	// A 4xx that never clears counts failed after MaxAttempts tries.
	f.w.MaxAttempts = 3
	customer(t, f.b.db, f.acc, "K-9", "immer@example.org", false, "")
	f.sink.DeferAlways("immer@example.org")
	res = f.work(f.run(store.InvitationSelection{Customers: []string{"K-9"}}))
	if res.Counts["failed"] != 1 || res.Counts["sent"] != 0 {
		t.Errorf("a lasting 451: %+v", res)
	}
}

// A batch stopped in the middle (the worker shuts down: ctx cancelled) and run again
// mails everyone exactly once.
func TestInvitationStoppedAndRetriedMailsNobodyTwice(t *testing.T) {
	f := newInviteFixture(t)
	for i := range 40 {
		customer(t, f.b.db, f.acc, fmt.Sprintf("K-%d", i), fmt.Sprintf("s%d@example.org", i), false, "")
	}
	f.sink.SetDelay(5 * time.Millisecond)
	a := f.run(store.InvitationSelection{AllUninvited: true})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for len(f.sink.Received()) < 10 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	if _, err := f.w.Work(ctx, &Task[InvitationsSend]{Args: a, ID: a.TaskID(), Log: storetest.Logger(t)}); err == nil {
		t.Fatal("a stopped batch reported success")
	}
	first := len(f.sink.Received())
	if first >= 40 {
		t.Fatalf("the batch was not stopped in the middle (%d mails)", first)
	}
	res := f.work(a)
	if res.Counts["sent"] != 40 || res.Counts["failed"] != 0 {
		t.Errorf("after the retry: %+v", res)
	}
	for addr, n := range perAddress(f.sink.Received()) {
		if n != 1 {
			t.Errorf("%s got %d mails", addr, n)
		}
	}
}

// The kill test's child: the invitation worker in a process of its own.
const (
	inviteChildDB   = "PORTALWERK_INVITE_CHILD_DB"
	inviteChildSMTP = "PORTALWERK_INVITE_CHILD_SMTP"
	inviteChildRun  = "PORTALWERK_INVITE_CHILD_RUN"
)

func inviteChild() int {
	ctx := context.Background()
	db, err := store.Open(ctx, os.Getenv(inviteChildDB))
	if err != nil {
		fmt.Fprintln(os.Stderr, "invite child:", err)
		return 1
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sender, err := mail.New(os.Getenv(inviteChildSMTP), "noreply@hv-mueller.de", log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "invite child:", err)
		return 1
	}
	var run store.Run
	run, err = store.RunByID(ctx, db, os.Getenv(inviteChildRun))
	if err != nil {
		fmt.Fprintln(os.Stderr, "invite child:", err)
		return 1
	}
	w := &InvitationsWorker{DB: db, Mail: sender, Keys: testKeys(nil), BaseURL: "http://portal.test", Connections: 3, Batch: 5, SelectSlice: 10}
	a := InvitationsSend{RunID: run.ID, TenantID: run.TenantID}
	if _, err := w.Work(ctx, &Task[InvitationsSend]{Args: a, ID: a.TaskID(), Log: log}); err != nil {
		fmt.Fprintln(os.Stderr, "invite child:", err)
		return 1
	}
	return 0
}

// A worker process SIGKILLed in the middle of a batch, then the task again: nobody gets
// a second mail. The rows the dead worker had claimed but not marked are failed as
// uncertain; everyone else is sent exactly once.
func TestInvitationWorkerKilledMidBatch(t *testing.T) {
	f := newInviteFixture(t)
	const n = 200
	for i := range n {
		customer(t, f.b.db, f.acc, fmt.Sprintf("K-%d", i), fmt.Sprintf("k%d@example.org", i), false, "")
	}
	f.sink.SetDelay(2 * time.Millisecond)
	a := f.run(store.InvitationSelection{AllUninvited: true})

	before := killChildAfter(t, f.b.db, f.sink, 50, inviteChildRun+"="+a.RunID)
	if len(before) >= n {
		t.Fatalf("the child finished before the kill (%d mails)", len(before))
	}

	var selecting bool
	if err := f.b.db.Get(&selecting, `SELECT progress_total IS NULL FROM job_runs WHERE id = $1`, a.RunID); err != nil {
		t.Fatal(err)
	}
	res := f.work(a)
	var uncertain int64
	f.b.db.Get(&uncertain, `SELECT count(*) FROM invitation_recipients WHERE run_id = $1 AND status = 'failed' AND error = $2`, a.RunID, uncertainMessage)
	var sent []string
	f.b.db.Select(&sent, `SELECT email FROM invitation_recipients WHERE run_id = $1 AND status = 'sent'`, a.RunID)
	checkRetryAfterKill(t, res, perAddress(f.sink.Received()), n, uncertain, sent)
	t.Logf("killed after %d mails (selection still running: %v); retry: %d sent in all, %d uncertain (not sent again)",
		len(before), selecting, res.Counts["sent"], uncertain)
}
