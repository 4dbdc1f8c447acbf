package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jmoiron/sqlx"

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
func (p ImportPreview) Tenant() int64  { return p.TenantID }

// ImportPreviewWorker previews imports and, with auto_confirm, enqueues the apply.
type ImportPreviewWorker struct {
	DB     *sqlx.DB
	Client *Client
}

// importResult is an import task's summary.
type importResult struct {
	ImportID string `json:"import_id"`
	Status   string `json:"status"`
	Rows     int64  `json:"rows,omitempty"`
	Errors   int64  `json:"errors,omitempty"`
	Code     string `json:"code,omitempty"`
	Next     string `json:"next_task_id,omitempty"`
}

func resultOf(im store.Import) importResult {
	r := importResult{ImportID: im.ID, Status: string(im.Status), Rows: im.RowsRead}
	if im.Counts != nil {
		r.Errors = im.Counts.Errors
	}
	return r
}

func (w *ImportPreviewWorker) Work(ctx context.Context, t *Task[ImportPreview]) (any, error) {
	log := t.Log.With(slog.String("import_id", t.Args.ImportID))
	im, err := (&importer.Engine{DB: w.DB, Log: log}).Preview(ctx, t.Args.ImportID)
	if err != nil {
		return importFailed(ctx, w.DB, log, t.Args.ImportID, err)
	}
	res := resultOf(im)
	if im.Status == store.ImportPreviewed && im.Options["auto_confirm"] == "true" && im.Counts != nil && im.Counts.Errors == 0 {
		if err := store.ConfirmImport(ctx, w.DB, im.ID, false); err != nil {
			return nil, fmt.Errorf("auto-confirm import %s: %w", im.ID, err)
		}
		apply := ImportApply{ImportID: im.ID, TenantID: im.TenantID}
		if _, err := w.Client.Enqueue(ctx, apply); err != nil {
			return nil, err
		}
		res.Status, res.Next = string(store.ImportApplying), apply.TaskID()
	}
	return res, nil
}

// importFailed records a failure the user can act on at once: the import ends failed
// with its sentence and the task completes, as a user's mistake is not a task failure.
// Other errors are retried and recorded only when asynq gives up.
func importFailed(ctx context.Context, db *sqlx.DB, log *slog.Logger, id string, err error) (any, error) {
	var ferr *importer.FileError
	if errors.As(err, &ferr) {
		log.WarnContext(ctx, "import rejected", slog.String("code", ferr.Code), slog.Any("err", errors.Unwrap(ferr)))
		if err := store.FailImport(ctx, db, id, ferr.Message); err != nil {
			return nil, err
		}
		return importResult{ImportID: id, Status: string(store.ImportFailed), Code: ferr.Code}, nil
	}
	if errors.Is(err, importer.ErrCancelled) {
		log.InfoContext(ctx, "import cancelled while running")
		return importResult{ImportID: id, Status: string(store.ImportCancelled)}, nil
	}
	if lastAttempt(ctx) {
		if ferr := store.FailImport(context.WithoutCancel(ctx), db, id,
			"Die Datei konnte wiederholt nicht verarbeitet werden. Bitte versuchen Sie es später erneut oder wenden Sie sich an den Support."); ferr != nil {
			log.ErrorContext(ctx, "record import failure", slog.Any("err", ferr))
		}
	}
	return nil, err
}
