package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"

	"portalwerk/jobs/plausibility"
	"portalwerk/store"
)

// TypeRelease releases the entered readings of a release run: every one is checked
// again with the plausibility rules and the data as it is now; passing readings are
// released, failing ones get a protocol entry.
const TypeRelease = "releases:run"

// Release is the task of one release run.
type Release struct {
	RunID    string `json:"run_id"`
	TenantID int64  `json:"tenant_id"`
}

func (Release) TaskType() string { return TypeRelease }
func (Release) Queue() string    { return QueueDefault }
func (a Release) TaskID() string { return TypeRelease + ":" + a.RunID }
func (a Release) Tenant() int64  { return a.TenantID }

// ReleaseParams are what a release run was asked for (the run's params).
type ReleaseParams struct {
	All       bool     `json:"all,omitempty"`
	Contracts []string `json:"contracts,omitempty"`
}

// ReleaseWorker does release runs.
type ReleaseWorker struct {
	DB  *sqlx.DB
	Now func() time.Time
}

func (w *ReleaseWorker) Work(ctx context.Context, t *Task[Release]) (any, error) {
	return runJob(ctx, w.DB, t.Log, t.Args.RunID, func(ctx context.Context, run store.Run) (store.RunCounts, error) {
		var p ReleaseParams
		if err := json.Unmarshal(run.Params, &p); err != nil {
			return nil, &RunError{Message: "Der Freigabeauftrag ist unvollständig. Bitte starten Sie die Freigabe erneut."}
		}
		raw, err := store.PlausibilityOverrides(ctx, w.DB, run.TenantID)
		if err != nil {
			return nil, err
		}
		engine, err := plausibility.ForTenant(raw)
		if err != nil {
			return nil, err
		}
		today, err := plausibility.Today(w.Now())
		if err != nil {
			return nil, err
		}
		var counts store.RunCounts
		start := time.Now()
		err = store.InTx(ctx, w.DB, func(tx *sqlx.Tx) error {
			if err := store.LockReleases(ctx, tx, run.TenantID); err != nil {
				return err
			}
			// A retry after the release committed (the worker died before the run was
			// finished) finds its figures and changes nothing twice.
			locked, err := store.LockRun(ctx, tx, run.ID)
			if err != nil {
				return err
			}
			if _, done := locked.Counts["checked"]; done {
				counts = locked.Counts
				return nil
			}
			loadStart := time.Now()
			var verdicts store.ReleaseVerdicts
			err = check(ctx, tx, &verdicts, store.ReleaseScope{TenantID: run.TenantID, AccountID: run.AccountID,
				All: p.All, Contracts: p.Contracts}, engine, today)
			if err != nil {
				return err
			}
			writeStart := time.Now()
			released, failed, err := store.ApplyRelease(ctx, tx, run.ID, &verdicts)
			if err != nil {
				return err
			}
			// Meter-entry links stay usable until their period's readings are released.
			if _, err := store.RevokeReleasedMeterLinks(ctx, tx, run.TenantID); err != nil {
				return err
			}
			t.Log.DebugContext(ctx, "release timing", slog.String("run_id", run.ID), slog.Duration("load_and_check", writeStart.Sub(loadStart)),
				slog.Duration("write", time.Since(writeStart)))
			checked := int64(verdicts.Len())
			counts = store.RunCounts{"checked": checked, "released": released, "failed": failed}
			return store.SetRunProgress(ctx, tx, run.ID, counts, checked, &checked)
		})
		if err != nil {
			return nil, fmt.Errorf("release run %s: %w", run.ID, err)
		}
		t.Log.InfoContext(ctx, "readings released", slog.String("run_id", run.ID), slog.Int64("checked", counts["checked"]),
			slog.Int64("released", counts["released"]), slog.Int64("failed", counts["failed"]), slog.Duration("took", time.Since(start)))
		return counts, nil
	})
}

// releaseBatch is how many candidates go from the reader to the rules at a time: large
// enough that the hand-over costs nothing per reading.
const releaseBatch = 1024

// check runs every candidate of the scope through the rules into v. The candidates
// are read and decoded in a goroutine of their own, so that the rules run side by side
// with lib/pq's decoding of the next ones.
func check(ctx context.Context, tx *sqlx.Tx, v *store.ReleaseVerdicts, scope store.ReleaseScope, engine *plausibility.Engine, today time.Time) error {
	batches := make(chan []store.ReleaseCandidate, 4)
	readErr := make(chan error, 1)
	go func() {
		defer close(batches)
		batch := make([]store.ReleaseCandidate, 0, releaseBatch)
		err := store.ReleaseCandidates(ctx, tx, scope, func(c store.ReleaseCandidate) error {
			if batch = append(batch, c); len(batch) == releaseBatch {
				batches <- batch // never blocks for good: the loop below takes every batch
				batch = make([]store.ReleaseCandidate, 0, releaseBatch)
			}
			return nil
		})
		if err == nil && len(batch) > 0 {
			batches <- batch
		}
		readErr <- err
	}()
	for batch := range batches {
		for _, c := range batch {
			f, bad := engine.Decide(plausibility.Register{Digits: c.Digits, Decimals: c.Decimals, Unit: c.Unit},
				plausibility.History{Count: c.Count, Last: c.Last, LastOn: c.LastOn, FirstOn: c.FirstOn, Consumption: c.Consumption},
				plausibility.Reading{Value: c.Value, ReadOn: c.ReadOn}, today)
			r := store.ReleaseResult{ID: c.ID, Version: c.Version, OK: true}
			if bad {
				r.OK, r.Rule, r.Message = false, string(f.Rule), f.Message
			}
			v.Add(r)
		}
	}
	return <-readErr
}
