package jobs

import (
	"context"
	"log/slog"
)

// TypeImportApply applies a confirmed import in one transaction.
const TypeImportApply = "import:apply"

// ImportApply is enqueued by the confirm step (or by auto_confirm).
type ImportApply struct {
	ImportID string `json:"import_id"`
	TenantID int64  `json:"tenant_id"`
}

func (ImportApply) TaskType() string { return TypeImportApply }
func (ImportApply) Queue() string    { return QueueImports }
func (p ImportApply) TaskID() string { return "import-apply:" + p.ImportID }

func (h *Handlers) applyImport(ctx context.Context, p ImportApply) error {
	log := h.Log.With(slog.String("import_id", p.ImportID), slog.Int64("tenant", p.TenantID))
	if err := h.engine(log).Apply(ctx, p.ImportID); err != nil {
		return h.importFailed(ctx, log, p.ImportID, err)
	}
	return nil
}
