package jobs

import (
	"context"
	"log/slog"

	"github.com/jmoiron/sqlx"

	"portalwerk/jobs/importer"
	"portalwerk/store"
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
func (p ImportApply) Tenant() int64  { return p.TenantID }

// ImportApplyWorker applies confirmed imports.
type ImportApplyWorker struct {
	DB *sqlx.DB
}

func (w *ImportApplyWorker) Work(ctx context.Context, t *Task[ImportApply]) (any, error) {
	log := t.Log.With(slog.String("import_id", t.Args.ImportID))
	if err := (&importer.Engine{DB: w.DB, Log: log}).Apply(ctx, t.Args.ImportID); err != nil {
		return importFailed(ctx, w.DB, log, t.Args.ImportID, err)
	}
	im, err := store.ImportByID(ctx, w.DB, t.Args.ImportID)
	if err != nil {
		return nil, err
	}
	return resultOf(im), nil
}
