package jobs

import (
	"context"
	"testing"
	"time"

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
