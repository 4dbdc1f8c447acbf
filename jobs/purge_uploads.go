package jobs

import (
	"context"
	"fmt"
	"log/slog"

	"portalwerk/jobs/importer"
	"portalwerk/store"
)

// TypePurgeUploads deletes stored upload files older than UPLOAD_RETENTION and the
// staging tables no import will apply any more.
const TypePurgeUploads = "uploads:purge"

// PurgeUploads is enqueued by the scheduler once per slot.
type PurgeUploads struct {
	Slot     string `json:"slot"`      // the scheduled time this run belongs to
	TenantID int64  `json:"tenant_id"` // whose uploads and staging tables are purged
}

func (PurgeUploads) TaskType() string { return TypePurgeUploads }
func (PurgeUploads) Queue() string    { return QueuePeriodic }
func (p PurgeUploads) TaskID() string { return TypePurgeUploads + "@" + p.Slot }

func (h *Handlers) purgeUploads(ctx context.Context, p PurgeUploads) error {
	cutoff := h.Now().Add(-h.Config.UploadRetention)
	n, err := store.PurgeUploads(ctx, h.DB, p.TenantID, cutoff)
	if err != nil {
		return fmt.Errorf("purge uploads for slot %s: %w", p.Slot, err)
	}
	tables, err := importer.PurgeStaging(ctx, h.DB, p.TenantID, cutoff)
	if err != nil {
		return fmt.Errorf("purge staging for slot %s: %w", p.Slot, err)
	}
	h.Log.InfoContext(ctx, "purged uploads", slog.String("slot", p.Slot), slog.Int64("files", n),
		slog.Int("staging_tables", tables), slog.Time("before", cutoff))
	return nil
}
