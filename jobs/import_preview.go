package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/hibiken/asynq"

	"portalwerk/jobs/importer"
	"portalwerk/store"
)

// TypeImportPreview reads an uploaded file once, validates and stages its rows and
// forecasts the counts.
const TypeImportPreview = "import:preview"

// ImportPreview is enqueued by the upload.
type ImportPreview struct {
	ImportID string `json:"import_id"`
	TenantID int64  `json:"tenant_id"`
}

func (ImportPreview) TaskType() string { return TypeImportPreview }
func (ImportPreview) Queue() string    { return QueueImports }
func (p ImportPreview) TaskID() string { return "import-preview:" + p.ImportID }

func (h *Handlers) previewImport(ctx context.Context, p ImportPreview) error {
	log := h.Log.With(slog.String("import_id", p.ImportID), slog.Int64("tenant", p.TenantID))
	im, err := h.engine(log).Preview(ctx, p.ImportID)
	if err != nil {
		return h.importFailed(ctx, log, p.ImportID, err)
	}
	if im.Status == store.ImportPreviewed && im.Options["auto_confirm"] == "true" && im.Counts != nil && im.Counts.Errors == 0 {
		if err := store.ConfirmImport(ctx, h.DB, im.ID, false); err != nil {
			return fmt.Errorf("auto-confirm import %s: %w", im.ID, err)
		}
		if _, err := Enqueue(ctx, h.Queue, ImportApply{ImportID: im.ID, TenantID: im.TenantID}); err != nil {
			return err
		}
	}
	return nil
}

func (h *Handlers) engine(log *slog.Logger) *importer.Engine {
	return &importer.Engine{DB: h.DB, Log: log}
}

// importFailed records a failure the user can act on at once; other errors are retried
// and recorded only when asynq gives up.
func (h *Handlers) importFailed(ctx context.Context, log *slog.Logger, id string, err error) error {
	var ferr *importer.FileError
	if errors.As(err, &ferr) {
		log.InfoContext(ctx, "import rejected", slog.String("code", ferr.Code))
		if err := store.FailImport(ctx, h.DB, id, ferr.Message); err != nil {
			return err
		}
		return fmt.Errorf("import %s: %s: %w", id, ferr.Code, asynq.SkipRetry)
	}
	if errors.Is(err, importer.ErrCancelled) {
		log.InfoContext(ctx, "import cancelled while running")
		return nil
	}
	if lastAttempt(ctx) {
		if ferr := store.FailImport(context.WithoutCancel(ctx), h.DB, id,
			"Die Datei konnte wiederholt nicht verarbeitet werden. Bitte versuchen Sie es später erneut oder wenden Sie sich an den Support."); ferr != nil {
			log.ErrorContext(ctx, "record import failure", slog.Any("err", ferr))
		}
	}
	return err
}
