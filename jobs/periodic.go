package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"
	"github.com/robfig/cron/v3"

	"portalwerk/jobs/config"
	"portalwerk/store"
)

// Periodic is a job the scheduler enqueues once per slot of its schedule. It is declared
// beside its task; Periodics lists them all.
type Periodic struct {
	Name     string
	Schedule cron.Schedule
	// Slot is the task of one slot, for work across tenants.
	Slot func(slot time.Time) Args
	// PerTenant, set instead of Slot, is the task of one tenant in a slot: the slot's
	// task is then a fan-out that enqueues one such task per tenant. Its task id must be
	// built from the tenant and the slot (or the period the slot falls in), so that two
	// scheduler replicas and a re-run of the fan-out still give one task each.
	PerTenant func(tenantID int64, slot time.Time) Args
}

// Args is the task the scheduler enqueues for a slot.
func (p Periodic) Args(slot time.Time) Args {
	if p.PerTenant != nil {
		return FanOut{Job: p.Name, Slot: SlotKey(slot)}
	}
	return p.Slot(slot)
}

// Periodics lists every periodic job with its schedule.
func Periodics(s config.Schedules) []Periodic {
	return []Periodic{
		purgeUploadsJob(s.PurgeUploads),
		purgeTrashJob(s.PurgeTrash),
		resumeRunsJob(s.ResumeRuns),
		meterRequestsJob(s.MeterRequests),
	}
}

// SlotKey is a slot as task ids and payloads carry it.
func SlotKey(slot time.Time) string { return slot.UTC().Format(time.RFC3339) }

// TypeFanOut enqueues a per-tenant periodic job's task for every tenant.
const TypeFanOut = "tenants:fan-out"

// FanOut is a per-tenant periodic job's task for one slot.
type FanOut struct {
	Job  string `json:"job"`
	Slot string `json:"slot"`
}

func (FanOut) TaskType() string { return TypeFanOut }
func (FanOut) Queue() string    { return QueuePeriodic }
func (f FanOut) TaskID() string { return TypeFanOut + ":" + f.Job + "@" + f.Slot }
func (FanOut) Tenant() int64    { return 0 }

// FanOutWorker enqueues the tenants' tasks of a slot.
type FanOutWorker struct {
	DB     *sqlx.DB
	Client *Client
	Jobs   []Periodic
}

func (w *FanOutWorker) Work(ctx context.Context, t *Task[FanOut]) (any, error) {
	var job *Periodic
	for i := range w.Jobs {
		if w.Jobs[i].Name == t.Args.Job && w.Jobs[i].PerTenant != nil {
			job = &w.Jobs[i]
		}
	}
	if job == nil {
		return nil, fmt.Errorf("fan-out of unknown per-tenant job %q: %w", t.Args.Job, asynq.SkipRetry)
	}
	slot, err := time.Parse(time.RFC3339, t.Args.Slot)
	if err != nil {
		return nil, fmt.Errorf("fan-out of %s: slot %q: %v: %w", t.Args.Job, t.Args.Slot, err, asynq.SkipRetry)
	}
	tenants, err := store.TenantIDs(ctx, w.DB)
	if err != nil {
		return nil, err
	}
	added := 0
	for _, id := range tenants {
		ok, err := w.Client.Enqueue(ctx, job.PerTenant(id, slot))
		if err != nil {
			return nil, fmt.Errorf("fan-out of %s to tenant %d: %w", t.Args.Job, id, err)
		}
		if ok {
			added++
		}
	}
	t.Log.InfoContext(ctx, "fanned out periodic job", slog.String("job", t.Args.Job), slog.String("slot", t.Args.Slot),
		slog.Int("tenants", len(tenants)), slog.Int("enqueued", added))
	return map[string]any{"job": t.Args.Job, "slot": t.Args.Slot, "tenants": len(tenants), "enqueued": added}, nil
}
