package jobs

import (
	"context"
	"errors"
	"testing"

	"github.com/hibiken/asynq"

	"portalwerk/store"
	"portalwerk/store/storetest"
)

// countArgs is the task of a test job run: its worker counts what it was asked to.
type countArgs struct {
	RunID    string `json:"run_id"`
	TenantID int64  `json:"tenant_id"`
}

func (countArgs) TaskType() string { return "test:count" }
func (countArgs) Queue() string    { return QueueDefault }
func (a countArgs) TaskID() string { return "test-count:" + a.RunID }
func (a countArgs) Tenant() int64  { return a.TenantID }

type countWorker struct {
	b     *bundle
	calls int
	fail  error
}

func (w *countWorker) Work(ctx context.Context, t *Task[countArgs]) (any, error) {
	return runJob(ctx, w.b.db, t.Log, t.Args.RunID, func(ctx context.Context, run store.Run) (store.RunCounts, error) {
		w.calls++
		if w.fail != nil {
			return nil, w.fail
		}
		if err := store.SetRunProgress(ctx, w.b.db, run.ID, store.RunCounts{"sent": 1}, 1, nil); err != nil {
			return nil, err
		}
		return store.RunCounts{"selected": 2, "sent": 2}, nil
	})
}

func newRun(t *testing.T, b *bundle, acc store.Account) (string, countArgs) {
	t.Helper()
	id := store.NewID()
	a := countArgs{RunID: id, TenantID: acc.TenantID}
	client := &Client{q: b.client.q, known: map[string]bool{"test:count": true}}
	if err := client.CreateRun(context.Background(), b.db, store.NewRun{ID: id, TenantID: acc.TenantID,
		AccountID: acc.ID, CreatedBy: acc.ID, Kind: store.RunInvitations}, a); err != nil {
		t.Fatal(err)
	}
	return id, a
}

// A run goes queued → running → done with its counts; its task running again afterwards
// (a retry after a crash) does not do the work twice.
func TestRunGoesFromQueuedToDoneOnce(t *testing.T) {
	ctx := context.Background()
	b := setup(t)
	acc := storetest.Account(t, b.db, "", "huber", "")
	id, a := newRun(t, b, acc)
	run, err := store.GetRun(ctx, b.db, acc.TenantID, store.RunInvitations, id)
	if err != nil || run.Status != store.RunQueued || run.TaskID != a.TaskID() || run.TaskType != "test:count" {
		t.Fatalf("created run %+v: %v", run, err)
	}
	info, err := b.insp.GetTaskInfo(QueueDefault, a.TaskID())
	if err != nil || info.Type != "test:count" {
		t.Fatalf("the run's task is not on the queue: %v %v", info, err)
	}
	w := &countWorker{b: b}
	for range 2 {
		res, err := w.Work(ctx, task(t, a))
		if err != nil {
			t.Fatal(err)
		}
		if r := res.(runResult); r.Status != store.RunDone || r.Counts["sent"] != 2 {
			t.Errorf("summary %+v", r)
		}
	}
	if w.calls != 1 {
		t.Errorf("work ran %d times, want once", w.calls)
	}
	run, err = store.GetRun(ctx, b.db, acc.TenantID, store.RunInvitations, id)
	if err != nil || run.Status != store.RunDone || run.Counts["selected"] != 2 || run.ProgressDone != 1 ||
		run.StartedAt == nil || run.FinishedAt == nil || run.Error != nil {
		t.Errorf("finished run %+v: %v", run, err)
	}
	// Another tenant, or another kind, does not see the run.
	if _, err := store.GetRun(ctx, b.db, storetest.Account(t, b.db, "", "huber", "").TenantID, store.RunInvitations, id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another tenant's GetRun: %v", err)
	}
	if _, err := store.GetRun(ctx, b.db, acc.TenantID, store.RunReleases, id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRun of another kind: %v", err)
	}
}

// A user's mistake ends the run failed with its sentence; the task completes. Any other
// error is the task's: it is retried and the run stays running.
func TestRunFailures(t *testing.T) {
	ctx := context.Background()
	b := setup(t)
	acc := storetest.Account(t, b.db, "", "huber", "")

	id, a := newRun(t, b, acc)
	w := &countWorker{b: b, fail: &RunError{Message: "Es wurden keine Kunden ausgewählt."}}
	res, err := w.Work(ctx, task(t, a))
	if err != nil || res.(runResult).Status != store.RunFailed {
		t.Fatalf("user mistake: %v %v", res, err)
	}
	run, _ := store.RunByID(ctx, b.db, id)
	if run.Status != store.RunFailed || run.Error == nil || *run.Error != "Es wurden keine Kunden ausgewählt." || run.FinishedAt == nil {
		t.Errorf("failed run %+v", run)
	}

	id, a = newRun(t, b, acc)
	boom := errors.New("connection reset")
	w = &countWorker{b: b, fail: boom}
	if _, err := w.Work(ctx, task(t, a)); !errors.Is(err, boom) || errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("internal error: %v, want it returned for a retry", err)
	}
	run, _ = store.RunByID(ctx, b.db, id)
	if run.Status != store.RunRunning || run.Error != nil {
		t.Errorf("run after a retryable error %+v", run)
	}
	// The retry succeeds.
	w.fail = nil
	if _, err := w.Work(ctx, task(t, a)); err != nil {
		t.Fatal(err)
	}
	if run, _ = store.RunByID(ctx, b.db, id); run.Status != store.RunDone {
		t.Errorf("run after the retry: %s", run.Status)
	}
	// A run of a task type no worker knows is not created.
	err = b.client.CreateRun(ctx, b.db, store.NewRun{ID: store.NewID(), TenantID: acc.TenantID, AccountID: acc.ID,
		CreatedBy: acc.ID, Kind: store.RunInvitations}, countArgs{RunID: "x"})
	var unknown *UnknownTaskTypeError
	if !errors.As(err, &unknown) {
		t.Errorf("run of an unregistered type: %v", err)
	}
}
