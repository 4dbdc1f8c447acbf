package jobs

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/robfig/cron/v3"

	"portalwerk/store"
)

// TypePurgeTrash deletes one tenant's customers that have been in the trash longer than
// TrashRetention. Their appointments and visit reports stay.
const TypePurgeTrash = "customers:purge-trash"

// TrashRetention is how long the trash keeps a customer (the seeds' 14 days): until then
// an import of any account still finds and transfers it.
const TrashRetention = 14 * 24 * time.Hour

// PurgeTrash is enqueued once per tenant and slot by the scheduler's fan-out.
type PurgeTrash struct {
	TenantID int64  `json:"tenant_id"`
	Slot     string `json:"slot"`
}

func (PurgeTrash) TaskType() string { return TypePurgeTrash }
func (PurgeTrash) Queue() string    { return QueuePeriodic }
func (p PurgeTrash) TaskID() string {
	return TypePurgeTrash + ":" + strconv.FormatInt(p.TenantID, 10) + "@" + p.Slot
}
func (p PurgeTrash) Tenant() int64 { return p.TenantID }

// purgeTrashJob runs the trash purge every slot of TRASH_PURGE_CRON (daily), per tenant.
func purgeTrashJob(schedule cron.Schedule) Periodic {
	return Periodic{Name: TypePurgeTrash, Schedule: schedule, PerTenant: func(tenantID int64, slot time.Time) Args {
		return PurgeTrash{TenantID: tenantID, Slot: SlotKey(slot)}
	}}
}

// PurgeTrashWorker empties old trash.
type PurgeTrashWorker struct {
	DB  *sqlx.DB
	Now func() time.Time
}

func (w *PurgeTrashWorker) Work(ctx context.Context, t *Task[PurgeTrash]) (any, error) {
	cutoff := w.Now().Add(-TrashRetention)
	n, err := store.PurgeTrash(ctx, w.DB, t.Args.TenantID, cutoff)
	if err != nil {
		return nil, err
	}
	t.Log.InfoContext(ctx, "purged trash", slog.String("slot", t.Args.Slot), slog.Int64("customers", n), slog.Time("before", cutoff))
	return map[string]any{"customers": n, "before": cutoff}, nil
}
