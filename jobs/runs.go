package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jmoiron/sqlx"

	"portalwerk/store"
)

// CreateRun records a job run with the task a that does it, then enqueues the task. The
// run is committed before the enqueue (the worker must find it), so db is the pool, not
// a transaction. When the enqueue fails the run stays queued and the resume sweep
// enqueues its task within a minute: the caller may still answer 202, and gets the
// error to log.
func (c *Client) CreateRun(ctx context.Context, db *sqlx.DB, n store.NewRun, a Args) error {
	if !c.known[a.TaskType()] {
		return &UnknownTaskTypeError{Type: a.TaskType()}
	}
	payload, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode %s payload: %w", a.TaskType(), err)
	}
	n.TaskType, n.TaskQueue, n.TaskID, n.TaskPayload = a.TaskType(), a.Queue(), a.TaskID(), payload
	if err := store.CreateRun(ctx, db, n); err != nil {
		return err
	}
	if _, err := c.enqueue(ctx, n.TaskType, n.TaskQueue, n.TaskID, payload); err != nil {
		return fmt.Errorf("%w (the resume sweep enqueues it later)", err)
	}
	return nil
}

// RunError is a job run's failure the user can act on (nothing selected, a template
// missing): the run ends failed with the sentence and the task completes.
type RunError struct{ Message string }

func (e *RunError) Error() string { return e.Message }

// runResult is a job run task's summary.
type runResult struct {
	RunID  string          `json:"run_id"`
	Kind   store.RunKind   `json:"kind"`
	Status store.RunStatus `json:"status"`
	Counts store.RunCounts `json:"counts,omitempty"`
}

// runJob is what every job run's task does around its work: move the run to running,
// let work do the job (reporting progress with store.SetRunProgress) and record the
// outcome. A run that has already finished is left alone, so a task that runs again
// after a crash does nothing twice.
func runJob(ctx context.Context, db *sqlx.DB, log *slog.Logger, runID string,
	work func(ctx context.Context, run store.Run) (store.RunCounts, error)) (any, error) {
	log = log.With(slog.String("run_id", runID))
	run, err := store.StartRun(ctx, db, runID)
	if errors.Is(err, store.ErrConflict) {
		run, err = store.RunByID(ctx, db, runID)
		if err != nil {
			return nil, err
		}
		log.InfoContext(ctx, "job run already finished", slog.String("status", string(run.Status)))
		return runResult{RunID: run.ID, Kind: run.Kind, Status: run.Status, Counts: run.Counts}, nil
	}
	if err != nil {
		return nil, err
	}
	counts, err := work(ctx, run)
	var uerr *RunError
	switch {
	case errors.As(err, &uerr):
		log.WarnContext(ctx, "job run refused", slog.String("kind", string(run.Kind)), slog.String("reason", uerr.Message))
		if err := store.FailRun(ctx, db, runID, uerr.Message); err != nil {
			return nil, err
		}
		return runResult{RunID: run.ID, Kind: run.Kind, Status: store.RunFailed}, nil
	case err != nil:
		if lastAttempt(ctx) {
			if ferr := store.FailRun(context.WithoutCancel(ctx), db, runID,
				"Der Auftrag konnte wiederholt nicht ausgeführt werden. Bitte versuchen Sie es später erneut oder wenden Sie sich an den Support."); ferr != nil {
				log.ErrorContext(ctx, "record job run failure", slog.Any("err", ferr))
			}
		}
		return nil, err
	}
	if err := store.FinishRun(ctx, db, runID, counts); err != nil {
		return nil, err
	}
	log.InfoContext(ctx, "job run done", slog.String("kind", string(run.Kind)), slog.Any("counts", counts))
	return runResult{RunID: run.ID, Kind: run.Kind, Status: store.RunDone, Counts: counts}, nil
}
