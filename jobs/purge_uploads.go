package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/robfig/cron/v3"

	"portalwerk/jobs/importer"
	"portalwerk/store"
)

// TypePurgeUploads deletes one tenant's stored upload files older than UPLOAD_RETENTION
// and the staging tables no import of the tenant will apply any more.
const TypePurgeUploads = "uploads:purge"

// PurgeUploads is enqueued once per tenant and slot by the scheduler's fan-out.
type PurgeUploads struct {
	TenantID int64  `json:"tenant_id"`
	Slot     string `json:"slot"` // the scheduled time this run belongs to
}

func (PurgeUploads) TaskType() string { return TypePurgeUploads }
func (PurgeUploads) Queue() string    { return QueuePeriodic }
func (p PurgeUploads) TaskID() string {
	return TypePurgeUploads + ":" + strconv.FormatInt(p.TenantID, 10) + "@" + p.Slot
}
func (p PurgeUploads) Tenant() int64 { return p.TenantID }

// purgeUploadsJob runs the purge every slot of PURGE_CRON, once per tenant.
func purgeUploadsJob(schedule cron.Schedule) Periodic {
	return Periodic{Name: TypePurgeUploads, Schedule: schedule, PerTenant: func(tenantID int64, slot time.Time) Args {
		return PurgeUploads{TenantID: tenantID, Slot: SlotKey(slot)}
	}}
}

// PurgeUploadsWorker purges old uploads.
type PurgeUploadsWorker struct {
	DB        *sqlx.DB
	Retention time.Duration
	Now       func() time.Time
}

func (w *PurgeUploadsWorker) Work(ctx context.Context, t *Task[PurgeUploads]) (any, error) {
	cutoff := w.Now().Add(-w.Retention)
	files, err := store.PurgeUploads(ctx, w.DB, t.Args.TenantID, cutoff)
	if err != nil {
		return nil, fmt.Errorf("purge uploads for slot %s: %w", t.Args.Slot, err)
	}
	tables, err := importer.PurgeStaging(ctx, w.DB, t.Args.TenantID, cutoff)
	if err != nil {
		return nil, fmt.Errorf("purge staging for slot %s: %w", t.Args.Slot, err)
	}
	t.Log.InfoContext(ctx, "purged uploads", slog.String("slot", t.Args.Slot), slog.Int64("files", files),
		slog.Int("staging_tables", tables), slog.Time("before", cutoff))
	return map[string]any{"files": files, "staging_tables": tables, "before": cutoff}, nil
}
