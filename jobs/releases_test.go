package jobs

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"portalwerk/store"
	"portalwerk/store/storetest"
)

// releaseBundle is a tenant with registers whose released history expects 10 units a
// day (1000 on 1 January, 1300 on 31 January).
type releaseBundle struct {
	*bundle
	acc store.Account
	now time.Time
}

func newReleaseBundle(t *testing.T) *releaseBundle {
	b := &releaseBundle{bundle: setup(t), now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	b.acc = storetest.Account(t, b.db, "", "huber", "")
	return b
}

func (b *releaseBundle) register(t *testing.T, contract, meter string, history ...string) int64 {
	t.Helper()
	id := storetest.Register(t, b.db, b.acc, storetest.RegisterSpec{Customer: "K-1", Contract: contract, Meter: meter, Register: "SW", Unit: "Seiten"})
	for i := 0; i+1 < len(history); i += 2 {
		storetest.Released(t, b.db, b.acc.TenantID, id, history[i], history[i+1])
	}
	return id
}

func (b *releaseBundle) enter(t *testing.T, register int64, value, on string) int64 {
	t.Helper()
	d, _ := time.Parse(time.DateOnly, on)
	id, err := store.EnterReading(context.Background(), b.db, store.NewReading{TenantID: b.acc.TenantID, RegisterID: register,
		Value: value, ReadOn: d, Source: store.SourcePortal, Plausible: true})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// release creates a release run as the API does and runs its task.
func (b *releaseBundle) release(t *testing.T, p ReleaseParams) (Release, store.Run) {
	t.Helper()
	ctx := context.Background()
	id := store.NewID()
	params, _ := json.Marshal(p)
	a := Release{RunID: id, TenantID: b.acc.TenantID}
	if err := b.client.CreateRun(ctx, b.db, store.NewRun{ID: id, TenantID: b.acc.TenantID, AccountID: b.acc.ID, CreatedBy: b.acc.ID,
		Kind: store.RunReleases, Params: params}, a); err != nil {
		t.Fatal(err)
	}
	return a, b.work(t, a)
}

func (b *releaseBundle) work(t *testing.T, a Release) store.Run {
	t.Helper()
	w := &ReleaseWorker{DB: b.db, Now: func() time.Time { return b.now }}
	if _, err := w.Work(context.Background(), task(t, a)); err != nil {
		t.Fatal(err)
	}
	run, err := store.RunByID(context.Background(), b.db, a.RunID)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

func (b *releaseBundle) status(t *testing.T, id int64) string {
	t.Helper()
	r, err := store.GetReading(context.Background(), b.db, b.acc.TenantID, id)
	if err != nil {
		t.Fatal(err)
	}
	return r.Status
}

func TestReleaseChecksEveryEnteredReading(t *testing.T) {
	b := newReleaseBundle(t)
	ctx := context.Background()
	hist := []string{"1000", "2026-01-01", "1300", "2026-01-31"}
	ok := b.enter(t, b.register(t, "V-1", "M-1", hist...), "1500", "2026-02-20")                 // 200 as expected
	tooMuch := b.enter(t, b.register(t, "V-1", "M-2", hist...), "2500", "2026-02-20")            // 1200: more than 3 × 200
	oneOnly := b.enter(t, b.register(t, "V-1", "M-3", "700", "2026-01-31"), "900", "2026-02-20") // no expected consumption
	future := b.enter(t, b.register(t, "V-1", "M-4", hist...), "1500", "2026-03-02")
	otherContract := b.enter(t, b.register(t, "V-2", "M-5", hist...), "1500", "2026-02-20")

	a, run := b.release(t, ReleaseParams{Contracts: []string{"V-1"}})
	if run.Status != store.RunDone {
		t.Fatalf("run %s: %v", run.Status, run.Error)
	}
	want := store.RunCounts{"checked": 4, "released": 2, "failed": 2}
	if !equalCounts(run.Counts, want) {
		t.Errorf("counts %v, want %v", run.Counts, want)
	}
	for id, st := range map[int64]string{ok: "released", oneOnly: "released", tooMuch: "failed", future: "failed", otherContract: "entered"} {
		if got := b.status(t, id); got != st {
			t.Errorf("reading %d: %s, want %s", id, got, st)
		}
	}
	protocol, err := store.ReleaseProtocol(ctx, b.db, a.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if len(protocol) != 2 || protocol[0].ReadingID != tooMuch || protocol[0].Rule != "max_factor" || protocol[0].Meter != "M-2" ||
		protocol[0].Contract != "V-1" || protocol[1].ReadingID != future || protocol[1].Rule != "format" {
		t.Errorf("protocol %+v", protocol)
	}

	// The task running again (a retry after a crash) changes nothing twice.
	again := b.work(t, a)
	if !equalCounts(again.Counts, want) {
		t.Errorf("counts after a rerun %v", again.Counts)
	}
	if p, _ := store.ReleaseProtocol(ctx, b.db, a.RunID); len(p) != 2 {
		t.Errorf("rerun: protocol of %d entries", len(p))
	}

	// The released reading is the next one's base: 1450 is below it.
	next := b.enter(t, b.register(t, "V-1", "M-1"), "1450", "2026-02-25")
	_, run = b.release(t, ReleaseParams{All: true})
	want = store.RunCounts{"checked": 4, "released": 1, "failed": 3} // the two failed again, next; otherContract passes
	if !equalCounts(run.Counts, want) {
		t.Errorf("second release: counts %v, want %v", run.Counts, want)
	}
	r, err := store.GetReading(ctx, b.db, b.acc.TenantID, next)
	if err != nil || r.Status != "failed" || r.Failure == nil || r.Failure.Rule != "monotonic" {
		t.Errorf("reading below the released one: %+v %v", r, err)
	}

	// A manual release is recorded and the release leaves it alone afterwards.
	if err := store.ReleaseReading(ctx, b.db, b.acc.TenantID, tooMuch, b.acc.ID, "Zähler getauscht"); err != nil {
		t.Fatal(err)
	}
	if err := store.ReleaseReading(ctx, b.db, b.acc.TenantID, tooMuch, b.acc.ID, "noch einmal"); err == nil {
		t.Error("a released reading was released again")
	}
	r, _ = store.GetReading(ctx, b.db, b.acc.TenantID, tooMuch)
	if r.Status != "released" || r.ReleasedBy == nil || *r.ReleasedBy != "huber" || r.ManualReason == nil || r.ReleasedAt == nil {
		t.Errorf("manual release recorded as %+v", r)
	}
}

// The release uses the tenant's parameters: zero as a warning does not block.
func TestReleaseUsesTheTenantsParameters(t *testing.T) {
	b := newReleaseBundle(t)
	ctx := context.Background()
	hist := []string{"1000", "2026-01-01", "1300", "2026-01-31"}
	id := b.enter(t, b.register(t, "V-1", "M-1", hist...), "1300", "2026-02-10") // zero consumption
	if err := store.SetPlausibilityOverrides(ctx, b.db, b.acc.TenantID, json.RawMessage(`{"severity":{"zero":"warning","tolerance":"warning"}}`)); err != nil {
		t.Fatal(err)
	}
	_, run := b.release(t, ReleaseParams{All: true})
	if run.Counts["released"] != 1 || b.status(t, id) != "released" {
		t.Errorf("zero as a warning: %v, %s", run.Counts, b.status(t, id))
	}
}

func equalCounts(a, b store.RunCounts) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}
