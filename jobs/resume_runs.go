package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/robfig/cron/v3"

	"portalwerk/store"
)

// TypeResumeRuns gives every unfinished import and job run its task again. The enqueuer
// commits an import or a run before it enqueues the task, and Redis may lose its queues
// (a restart without persistence): either way the work would wait forever. Task ids make
// this harmless while the task still exists, pending, running, retrying or retained
// after it ran.
const TypeResumeRuns = "runs:resume"

// ResumeRuns is enqueued by the scheduler once per slot of RESUME_CRON.
type ResumeRuns struct {
	Slot string `json:"slot"`
}

func (ResumeRuns) TaskType() string { return TypeResumeRuns }
func (ResumeRuns) Queue() string    { return QueuePeriodic }
func (p ResumeRuns) TaskID() string { return TypeResumeRuns + "@" + p.Slot }
func (ResumeRuns) Tenant() int64    { return 0 }

func resumeRunsJob(schedule cron.Schedule) Periodic {
	return Periodic{Name: TypeResumeRuns, Schedule: schedule, Slot: func(slot time.Time) Args {
		return ResumeRuns{Slot: SlotKey(slot)}
	}}
}

// ResumeRunsWorker is the sweep.
type ResumeRunsWorker struct {
	DB     *sqlx.DB
	Client *Client
}

func (w *ResumeRunsWorker) Work(ctx context.Context, t *Task[ResumeRuns]) (any, error) {
	imports, err := store.UnfinishedImports(ctx, w.DB)
	if err != nil {
		return nil, err
	}
	resumedImports := 0
	for _, im := range imports {
		var a Args = ImportPreview{ImportID: im.ID, TenantID: im.TenantID}
		if im.Status == store.ImportApplying {
			a = ImportApply{ImportID: im.ID, TenantID: im.TenantID}
		}
		added, err := w.Client.Enqueue(ctx, a)
		if err != nil {
			return nil, fmt.Errorf("resume import %s: %w", im.ID, err)
		}
		if added {
			resumedImports++
			t.Log.WarnContext(ctx, "import had no task; enqueued it again", slog.String("import_id", im.ID),
				slog.Int64("tenant_id", im.TenantID), slog.String("status", string(im.Status)))
		}
	}
	runs, err := store.UnfinishedRuns(ctx, w.DB)
	if err != nil {
		return nil, err
	}
	resumedRuns := 0
	for _, r := range runs {
		added, err := w.Client.enqueue(ctx, r.TaskType, r.TaskQueue, r.TaskID, r.TaskPayload)
		if err != nil {
			return nil, fmt.Errorf("resume %s run %s: %w", r.Kind, r.ID, err)
		}
		if added {
			resumedRuns++
			t.Log.WarnContext(ctx, "job run had no task; enqueued it again", slog.String("run_id", r.ID),
				slog.String("kind", string(r.Kind)), slog.Int64("tenant_id", r.TenantID), slog.String("status", string(r.Status)))
		}
	}
	t.Log.InfoContext(ctx, "checked unfinished work", slog.String("slot", t.Args.Slot),
		slog.Int("imports", len(imports)), slog.Int("resumed_imports", resumedImports),
		slog.Int("runs", len(runs)), slog.Int("resumed_runs", resumedRuns))
	return map[string]int{"imports": len(imports), "resumed_imports": resumedImports,
		"runs": len(runs), "resumed_runs": resumedRuns}, nil
}
