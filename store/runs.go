package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// RunStatus is where a job run stands: queued → running → done | failed.
type RunStatus string

// Run statuses.
const (
	RunQueued  RunStatus = "queued"
	RunRunning RunStatus = "running"
	RunDone    RunStatus = "done"
	RunFailed  RunStatus = "failed"
)

// RunKind names what a job run does; each kind has its own API path.
type RunKind string

// Run kinds.
const (
	RunInvitations   RunKind = "invitations"
	RunPortalReady   RunKind = "portal-ready"
	RunMeterRequests RunKind = "meter-requests"
	RunReleases      RunKind = "releases"
)

// RunCounts are a run's figures by name (selected, sent, failed, …); each kind has its own.
type RunCounts map[string]int64

// Scan reads RunCounts from jsonb.
func (c *RunCounts) Scan(src any) error { return scanJSON(src, c) }

// Value stores RunCounts as jsonb.
func (c RunCounts) Value() (driver.Value, error) {
	if c == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(c)
}

// Run is one run of a job.
type Run struct {
	ID            string          `db:"id"`
	TenantID      int64           `db:"tenant_id"`
	AccountID     int64           `db:"account_id"`
	CreatedBy     int64           `db:"created_by"`
	Kind          RunKind         `db:"kind"`
	Status        RunStatus       `db:"status"`
	Params        json.RawMessage `db:"params"`
	TaskType      string          `db:"task_type"`
	TaskQueue     string          `db:"task_queue"`
	TaskID        string          `db:"task_id"`
	TaskPayload   json.RawMessage `db:"task_payload"`
	Counts        RunCounts       `db:"counts"`
	ProgressDone  int64           `db:"progress_done"`
	ProgressTotal *int64          `db:"progress_total"`
	Error         *string         `db:"error"`
	CreatedAt     time.Time       `db:"created_at"`
	StartedAt     *time.Time      `db:"started_at"`
	FinishedAt    *time.Time      `db:"finished_at"`
}

// NewRun is what the enqueuer knows when it accepts a job: who asks, for which account,
// with which parameters, and the task that will do it.
type NewRun struct {
	ID          string
	TenantID    int64
	AccountID   int64
	CreatedBy   int64
	Kind        RunKind
	Params      json.RawMessage // nil = {}
	TaskType    string
	TaskQueue   string
	TaskID      string
	TaskPayload json.RawMessage
}

// CreateRun records a queued run.
func CreateRun(ctx context.Context, db sqlx.ExecerContext, n NewRun) error {
	params := n.Params
	if params == nil {
		params = json.RawMessage("{}")
	}
	_, err := db.ExecContext(ctx, `INSERT INTO job_runs
			(id, tenant_id, account_id, created_by, kind, params, task_type, task_queue, task_id, task_payload)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		n.ID, n.TenantID, n.AccountID, n.CreatedBy, n.Kind, []byte(params), n.TaskType, n.TaskQueue, n.TaskID, []byte(n.TaskPayload))
	if err != nil {
		return fmt.Errorf("create %s run: %w", n.Kind, err)
	}
	return nil
}

const runColumns = `id, tenant_id, account_id, created_by, kind, status, params, task_type, task_queue, task_id,
	task_payload, counts, progress_done, progress_total, error, created_at, started_at, finished_at`

// GetRun returns the tenant's run of the given kind; another tenant's run, or a run of
// another kind, is ErrNotFound.
func GetRun(ctx context.Context, db sqlx.QueryerContext, tenantID int64, kind RunKind, id string) (Run, error) {
	if !ValidID(id) {
		return Run{}, ErrNotFound
	}
	return runWhere(ctx, db, `tenant_id = $1 AND kind = $2 AND id = $3`, tenantID, kind, id)
}

// RunByID returns a run for the worker, which acts on the payload's id.
func RunByID(ctx context.Context, db sqlx.QueryerContext, id string) (Run, error) {
	return runWhere(ctx, db, `id = $1`, id)
}

func runWhere(ctx context.Context, db sqlx.QueryerContext, where string, args ...any) (Run, error) {
	return getOne[Run](ctx, db, "get run", `SELECT `+runColumns+` FROM job_runs WHERE `+where, args...)
}

// StartRun moves a queued run to running and returns it. A run already running (its
// task is retried after a crash) stays running; a finished run is ErrConflict, so a task
// that runs again after the end does nothing.
func StartRun(ctx context.Context, db sqlx.QueryerContext, id string) (Run, error) {
	var r Run
	err := sqlx.GetContext(ctx, db, &r, `UPDATE job_runs SET status = 'running', started_at = COALESCE(started_at, now())
		WHERE id = $1 AND status IN ('queued', 'running') RETURNING `+runColumns, id)
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := RunByID(ctx, db, id); err != nil {
			return Run{}, err
		}
		return Run{}, fmt.Errorf("start run %s: %w", id, ErrConflict)
	}
	if err != nil {
		return Run{}, fmt.Errorf("start run %s: %w", id, err)
	}
	return r, nil
}

// SetRunProgress records a running run's figures so far; total nil = not known yet. The
// figures are merged into the run's counts: a count the job records on its own (an
// invitation batch's not_found, written while its mails go out) is kept.
func SetRunProgress(ctx context.Context, db sqlx.ExecerContext, id string, c RunCounts, done int64, total *int64) error {
	return updateRun(ctx, db, id, "progress", `counts = counts || $2, progress_done = $3, progress_total = COALESCE($4, progress_total)`,
		`status = 'running'`, c, done, total)
}

// FinishRun records a running run's final figures and moves it to done.
func FinishRun(ctx context.Context, db sqlx.ExecerContext, id string, c RunCounts) error {
	return updateRun(ctx, db, id, "finish", `status = 'done', counts = $2, finished_at = now()`, `status = 'running'`, c)
}

// FailRun records a failure with a sentence for the user, unless the run is done.
func FailRun(ctx context.Context, db sqlx.ExecerContext, id, message string) error {
	return updateRun(ctx, db, id, "fail", `status = 'failed', error = $2, finished_at = now()`, `status <> 'done'`, message)
}

// updateRun changes a run in the state `from`; ErrConflict when it is not in it.
func updateRun(ctx context.Context, db sqlx.ExecerContext, id, what, set, from string, args ...any) error {
	res, err := db.ExecContext(ctx, `UPDATE job_runs SET `+set+` WHERE id = $1 AND `+from, append([]any{id}, args...)...)
	if err != nil {
		return fmt.Errorf("%s run %s: %w", what, id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%s run %s: %w", what, id, ErrConflict)
	}
	return nil
}

// UnfinishedRuns lists the runs waiting for or in their task, across tenants: the
// worker's sweep makes sure each has its task.
func UnfinishedRuns(ctx context.Context, db sqlx.QueryerContext) ([]Run, error) {
	var out []Run
	err := sqlx.SelectContext(ctx, db, &out, `SELECT `+runColumns+` FROM job_runs
		WHERE status IN ('queued', 'running') ORDER BY created_at`)
	if err != nil {
		return nil, fmt.Errorf("list unfinished runs: %w", err)
	}
	return out, nil
}

// LockRun reads a run and locks its row for the rest of tx, so that two tasks of one
// run cannot do its work at once.
func LockRun(ctx context.Context, tx *sqlx.Tx, id string) (Run, error) {
	return getOne[Run](ctx, tx, "lock run", `SELECT `+runColumns+` FROM job_runs WHERE id = $1 FOR UPDATE`, id)
}
