package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"portalwerk/store"
	"portalwerk/store/storetest"
)

// releaseRun records a release run for the protocol's foreign key.
func releaseRun(t *testing.T, tx sqlx.ExecerContext, acc store.Account) string {
	t.Helper()
	id := store.NewID()
	if err := store.CreateRun(context.Background(), tx, store.NewRun{ID: id, TenantID: acc.TenantID, AccountID: acc.ID, CreatedBy: acc.ID,
		Kind: store.RunReleases, TaskType: "releases:run", TaskQueue: "default", TaskID: "releases:run:" + id, TaskPayload: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	return id
}

func enter(t *testing.T, tx sqlx.QueryerContext, acc store.Account, register int64, value, on string) int64 {
	t.Helper()
	d, _ := time.Parse(time.DateOnly, on)
	id, err := store.EnterReading(context.Background(), tx, store.NewReading{TenantID: acc.TenantID, RegisterID: register,
		Value: value, ReadOn: d, Source: store.SourcePortal, Plausible: true})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func candidates(t *testing.T, tx *sqlx.Tx, s store.ReleaseScope) map[int64]store.ReleaseCandidate {
	t.Helper()
	out := map[int64]store.ReleaseCandidate{}
	var last int64
	if err := store.ReleaseCandidates(context.Background(), tx, s, func(c store.ReleaseCandidate) error {
		if c.ID <= last {
			t.Errorf("candidate %d after %d: not in id order", c.ID, last)
		}
		last = c.ID
		out[c.ID] = c
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// Each candidate comes with its register's released history summed up in date order,
// whatever order the readings were stored in, and only the scope's candidates come.
func TestReleaseCandidatesCarryTheirHistory(t *testing.T) {
	tx := storetest.TestTx(t)
	acc := storetest.Account(t, tx, "", "huber", "")
	other := storetest.Account(t, tx, "", "meier", "")
	spec := storetest.RegisterSpec{Customer: "K-1", Contract: "V-1", Meter: "M-1", Register: "Wärme", Digits: 4, Decimals: 2, Unit: "kWh"}
	heat := storetest.Register(t, tx, acc, spec)
	// Stored out of order; the overflow from 9990.5 to 20.25 adds 10^4.
	storetest.Released(t, tx, acc.TenantID, heat, "20.25", "2026-01-31")
	storetest.Released(t, tx, acc.TenantID, heat, "9900", "2025-12-01")
	storetest.Released(t, tx, acc.TenantID, heat, "9990.5", "2026-01-01")
	spec.Register, spec.Digits, spec.Decimals, spec.Unit = "SW", 6, 0, ""
	bare := storetest.Register(t, tx, acc, spec)
	spec.Contract = "V-2"
	elsewhere := storetest.Register(t, tx, acc, spec)
	foreign := storetest.Register(t, tx, other, storetest.RegisterSpec{Customer: "K-9", Contract: "V-1", Meter: "M-9", Register: "SW"})

	h := enter(t, tx, acc, heat, "140.25", "2026-02-20")
	b := enter(t, tx, acc, bare, "12", "2026-02-20")
	e := enter(t, tx, acc, elsewhere, "13", "2026-02-20")
	enter(t, tx, other, foreign, "14", "2026-02-20")

	got := candidates(t, tx, store.ReleaseScope{TenantID: acc.TenantID, AccountID: acc.ID, Contracts: []string{"V-1"}})
	if len(got) != 2 {
		t.Fatalf("%d candidates of V-1, want 2: %+v", len(got), got)
	}
	d := func(s string) time.Time { t, _ := time.Parse(time.DateOnly, s); return t }
	c := got[h]
	if c.Value != "140.25" || c.Digits != 4 || c.Decimals != 2 || c.Unit != "kWh" || c.Count != 3 || c.Last != "20.25" ||
		!c.FirstOn.Equal(d("2025-12-01")) || !c.LastOn.Equal(d("2026-01-31")) || c.Consumption != "120.25" {
		t.Errorf("heat register's candidate %+v", c)
	}
	c = got[b]
	if c.Value != "12" || c.Count != 0 || c.Last != "" || c.Consumption != "0" || !c.LastOn.Equal(d("2026-02-20")) {
		t.Errorf("candidate without history %+v", c)
	}
	if all := candidates(t, tx, store.ReleaseScope{TenantID: acc.TenantID, AccountID: acc.ID, All: true}); len(all) != 3 || all[e].ID != e {
		t.Errorf("all of the account: %+v", all)
	}
}

// The verdicts are written in one statement: passing readings released, failing ones
// failed with their protocol entry; a reading written since the check (corrected, sent
// again unchanged, released by hand) is left alone. A reading entered after the release is the next
// candidate, with the released one as its history.
func TestApplyReleaseWritesTheVerdicts(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t) // committed: what the customer and the admin write meanwhile are transactions of their own
	acc := storetest.Account(t, db, "", "huber", "")
	reg := func(meter string) int64 {
		return storetest.Register(t, db, acc, storetest.RegisterSpec{Customer: "K-1", Contract: "V-1", Meter: meter, Register: "SW"})
	}
	for _, m := range []string{"M-1", "M-2", "M-3", "M-4", "M-5"} {
		storetest.Released(t, db, acc.TenantID, reg(m), "1000", "2026-01-01")
	}
	passReg := reg("M-1")
	pass := enter(t, db, acc, passReg, "1200", "2026-02-20")
	fail := enter(t, db, acc, reg("M-2"), "9000", "2026-02-20")
	corrected := enter(t, db, acc, reg("M-3"), "1200", "2026-02-20")
	byHand := enter(t, db, acc, reg("M-4"), "1200", "2026-02-20")
	same := enter(t, db, acc, reg("M-5"), "1200", "2026-02-20")

	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback() })

	var v store.ReleaseVerdicts
	for id, c := range candidates(t, tx, store.ReleaseScope{TenantID: acc.TenantID, AccountID: acc.ID, All: true}) {
		r := store.ReleaseResult{ID: id, Version: c.Version, OK: id != fail}
		if !r.OK {
			r.Rule, r.Message = "max_factor", "zu viel"
		}
		v.Add(r)
	}
	// Meanwhile: the customer corrects one, sends another one again unchanged, and an
	// admin releases a third by hand.
	enter(t, db, acc, reg("M-3"), "1250", "2026-02-21")
	enter(t, db, acc, reg("M-5"), "1200", "2026-02-20")
	if err := store.ReleaseReading(ctx, db, acc.TenantID, byHand, acc.ID, "vor Ort geprüft"); err != nil {
		t.Fatal(err)
	}

	run := releaseRun(t, tx, acc)
	released, failed, err := store.ApplyRelease(ctx, tx, run, &v)
	if err != nil || released != 1 || failed != 1 {
		t.Fatalf("released %d, failed %d (%v), want 1 and 1", released, failed, err)
	}
	for id, want := range map[int64]string{pass: "released", fail: "failed", corrected: "entered", same: "entered", byHand: "released"} {
		r, err := store.GetReading(ctx, tx, acc.TenantID, id)
		if err != nil || r.Status != want {
			t.Errorf("reading %d: %s (%v), want %s", id, r.Status, err, want)
		}
		switch id {
		case fail:
			if r.Failure == nil || r.Failure.RunID != run || r.Failure.Rule != "max_factor" || r.Failure.Message != "zu viel" || r.ReleasedAt != nil {
				t.Errorf("failed reading %+v", r)
			}
		case corrected:
			if r.Value != "1250" {
				t.Errorf("corrected reading %+v", r)
			}
		case byHand:
			if r.ReleasedBy == nil || r.ManualReason == nil {
				t.Errorf("reading released by hand %+v", r)
			}
		}
	}
	protocol, err := store.ReleaseProtocol(ctx, tx, run)
	if err != nil || len(protocol) != 1 || protocol[0].ReadingID != fail {
		t.Errorf("protocol %+v (%v)", protocol, err)
	}

	// The same verdicts again change nothing: each reading has a new row version now.
	released, failed, err = store.ApplyRelease(ctx, tx, run, &v)
	if err != nil || released != 0 || failed != 0 {
		t.Errorf("again: released %d, failed %d (%v), want 0 and 0", released, failed, err)
	}
	if p, _ := store.ReleaseProtocol(ctx, tx, run); len(p) != 1 {
		t.Errorf("again: protocol %+v", p)
	}

	next := enter(t, tx, acc, passReg, "1300", "2026-03-20")
	byStatus := func(status string) []int64 {
		rs, err := store.ListReadings(ctx, tx, store.ReadingFilter{TenantID: acc.TenantID, AccountID: acc.ID, Status: status, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, r := range rs {
			ids = append(ids, r.ID)
		}
		return ids
	}
	if got := byStatus("entered"); len(got) != 3 || got[0] != corrected || got[1] != same || got[2] != next {
		t.Errorf("entered readings %v, want %d, %d and %d", got, corrected, same, next)
	}
	if got := byStatus("failed"); len(got) != 1 || got[0] != fail {
		t.Errorf("failed readings %v", got)
	}
	if got := byStatus("released"); len(got) != 7 { // five imported, pass, byHand
		t.Errorf("released readings %v", got)
	}
	c := candidates(t, tx, store.ReleaseScope{TenantID: acc.TenantID, AccountID: acc.ID, All: true})[next]
	if c.Count != 2 || c.Last != "1200" || c.Consumption != "200" {
		t.Errorf("next reading's candidate %+v", c)
	}
}
