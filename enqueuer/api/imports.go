package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"portalwerk/jobs"
	"portalwerk/jobs/importer"
	"portalwerk/store"
)

// importJSON is the import object of the API.
type importJSON struct {
	ID              string           `json:"id"`
	Profile         string           `json:"profile"`
	Account         string           `json:"account"`
	Status          string           `json:"status"`
	Filename        string           `json:"filename"`
	Options         store.Options    `json:"options"`
	Progress        progressJSON     `json:"progress"`
	Counts          *store.Counts    `json:"counts"`
	TransferSources store.Sources    `json:"transfer_sources"`
	ErrorsByCode    map[string]int64 `json:"errors_by_code"`
	Warnings        store.Warnings   `json:"warnings"`
	Error           *string          `json:"error"`
	CreatedAt       time.Time        `json:"created_at"`
	FinishedAt      *time.Time       `json:"finished_at"`
	TaskID          string           `json:"task_id,omitempty"`

	// Detected is what the preview found in the file (SPEC §3).
	Detected *store.Detected `json:"detected"`
}

type progressJSON struct {
	RowsRead int64 `json:"rows_read"`
}

func toImportJSON(im store.Import) importJSON {
	out := importJSON{
		ID: im.ID, Profile: im.Profile, Account: im.Account, Status: string(im.Status), Filename: im.Filename,
		Options: im.Options, Progress: progressJSON{RowsRead: im.RowsRead}, Counts: im.Counts,
		TransferSources: store.Sources{}, ErrorsByCode: map[string]int64{}, Error: im.Error, CreatedAt: im.CreatedAt, FinishedAt: im.FinishedAt,
	}
	if im.Sources != nil {
		out.TransferSources = *im.Sources
	}
	out.Detected = im.Detected
	out.Warnings = im.Warnings
	if out.Warnings == nil {
		out.Warnings = store.Warnings{}
	}
	return out
}

// createImport spools the upload first, holding no database connection while the client
// sends it, and only once the whole body is in stores the file and the import in one
// transaction, so a file over the limit, a bad option or a broken connection leaves
// nothing behind.
func (s *Server) createImport(w http.ResponseWriter, r *http.Request, caller store.Account) error {
	if !s.uploads.acquire(caller.TenantID) {
		return s.refuseUpload(w, r, caller, retryLater(w, http.StatusTooManyRequests, 30*time.Second, fmt.Sprintf(
			"Ihr Mandant lädt schon %d Dateien zugleich hoch. Bitte warten Sie, bis eine davon angekommen ist.", s.cfg.UploadsPerTenant)))
	}
	defer s.uploads.release(caller.TenantID)
	ctx := r.Context()
	sp, err := s.spoolUpload(w, r)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			s.log.InfoContext(ctx, "upload refused", slog.Int64("tenant_id", caller.TenantID),
				slog.String("tenant", caller.Tenant), slog.Int("status", e.Status))
		}
		return s.refuseUpload(w, r, caller, err)
	}
	defer sp.Close()

	ext := strings.ToLower(filepath.Ext(sp.filename))
	if ext != ".xlsx" && ext != ".csv" {
		return BadRequest("Bitte laden Sie eine .xlsx- oder .csv-Datei hoch.")
	}
	fields := sp.fields
	profile, accountName := fields["profile"], fields["account"]
	delete(fields, "profile")
	delete(fields, "account")
	if profile == "" {
		return BadRequest("Das Feld „profile“ fehlt (emails, customers oder contracts).")
	}
	opts, err := importer.Options(profile, fields)
	var oerr *importer.OptionError
	if errors.As(err, &oerr) {
		return BadRequest(oerr.Message)
	}
	if err != nil {
		return err
	}
	if t := opts["transfer"]; t != "" && t != "none" && !caller.CanTransfer {
		return Forbidden(noTransferPermission)
	}
	target, err := s.targetAccount(r, caller, accountName)
	if err != nil {
		return err
	}
	importID, uploadID := store.NewID(), store.NewID()
	err = store.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		if _, err := store.SaveUpload(ctx, tx, uploadID, caller.TenantID, sp.filename, sp.file, s.cfg.UploadMaxBytes); err != nil {
			return err
		}
		return store.CreateImport(ctx, tx, store.NewImport{
			ID: importID, TenantID: caller.TenantID, AccountID: target.ID, CreatedBy: caller.ID,
			UploadID: uploadID, Profile: profile, Filename: sp.filename, Options: opts,
		})
	})
	if errors.Is(err, store.ErrTooLarge) {
		return s.tooLarge()
	}
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "upload stored", slog.String("import_id", importID),
		slog.Int64("tenant_id", caller.TenantID), slog.String("tenant", caller.Tenant), slog.Int64("bytes", sp.size))

	preview := jobs.ImportPreview{ImportID: importID, TenantID: caller.TenantID}
	if _, err := s.queue.Enqueue(ctx, preview); err != nil {
		if ferr := store.FailImport(context.WithoutCancel(ctx), s.db, importID, "Die Datei konnte nicht zur Verarbeitung eingereiht werden. Bitte laden Sie sie erneut hoch."); ferr != nil {
			err = errors.Join(err, ferr)
		}
		return fmt.Errorf("import %s: %w", importID, err)
	}
	im, err := store.GetImport(ctx, s.db, caller.TenantID, importID)
	if err != nil {
		return err
	}
	return s.answerImport(ctx, w, caller, im, http.StatusAccepted, preview.TaskID())
}

func (s *Server) getImport(w http.ResponseWriter, r *http.Request, caller store.Account) error {
	im, err := s.loadImport(r, caller)
	if err != nil {
		return err
	}
	return s.answerImport(r.Context(), w, caller, im, http.StatusOK, "")
}

// answerImport writes the import object with status; taskID names the task just
// enqueued for it, if any.
func (s *Server) answerImport(ctx context.Context, w http.ResponseWriter, caller store.Account, im store.Import, status int, taskID string) error {
	out, err := s.importsJSON(ctx, caller, im)
	if err != nil {
		return err
	}
	out[0].TaskID = taskID
	writeJSON(w, status, out[0])
	return nil
}

// importsJSON gives imports their API form, with their errors counted by code in one
// query.
func (s *Server) importsJSON(ctx context.Context, caller store.Account, list ...store.Import) ([]importJSON, error) {
	ids := make([]string, len(list))
	for i, im := range list {
		ids[i] = im.ID
	}
	byCode, err := store.ErrorsByCode(ctx, s.db, caller.TenantID, ids)
	if err != nil {
		return nil, err
	}
	out := make([]importJSON, len(list))
	for i, im := range list {
		out[i] = toImportJSON(im)
		if c := byCode[im.ID]; c != nil {
			out[i].ErrorsByCode = c
		}
	}
	return out, nil
}

// importStatuses are the values of GET /v1/imports?status=.
var importStatuses = []store.ImportStatus{store.ImportQueued, store.ImportPreviewing, store.ImportPreviewed,
	store.ImportApplying, store.ImportDone, store.ImportFailed, store.ImportCancelled}

// listImports lists the tenant's imports newest first (a member's: its own account's),
// paged by the id of the last import seen.
func (s *Server) listImports(w http.ResponseWriter, r *http.Request, caller store.Account) error {
	q := r.URL.Query()
	f := store.ImportFilter{TenantID: caller.TenantID, Status: store.ImportStatus(q.Get("status")),
		Profile: q.Get("profile"), After: q.Get("after"), Limit: 50}
	if f.Status != "" && !slices.Contains(importStatuses, f.Status) {
		return BadRequest("status muss queued, previewing, previewed, applying, done, failed oder cancelled sein.")
	}
	if f.Profile != "" && !slices.Contains([]string{importer.ProfileEmails, importer.ProfileCustomers, importer.ProfileContracts}, f.Profile) {
		return BadRequest("profile muss emails, customers oder contracts sein.")
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return BadRequest("limit muss eine Zahl von 1 bis 500 sein.")
		}
		f.Limit = n
	}
	switch name := q.Get("account"); {
	case name != "":
		target, err := s.targetAccount(r, caller, name)
		if err != nil {
			return err
		}
		f.AccountID = target.ID
	case !caller.IsAdmin():
		f.AccountID = caller.ID
	}
	list, err := store.ListImports(r.Context(), s.db, f)
	if errors.Is(err, store.ErrNotFound) {
		return BadRequest("after muss die id eines Imports sein (next_after der vorigen Seite).")
	}
	if err != nil {
		return err
	}
	out, err := s.importsJSON(r.Context(), caller, list...)
	if err != nil {
		return err
	}
	var next *string
	if len(list) == f.Limit {
		next = &list[len(list)-1].ID
	}
	writeJSON(w, http.StatusOK, map[string]any{"imports": out, "next_after": next})
	return nil
}

// loadImport reads the import named in the path, scoped to the caller's tenant (and, for
// a member, to its own account): another tenant's import is not found, exactly as one
// that does not exist.
func (s *Server) loadImport(r *http.Request, caller store.Account) (store.Import, error) {
	im, err := store.GetImport(r.Context(), s.db, caller.TenantID, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) || err == nil && !visible(caller, im.AccountID) {
		return store.Import{}, NotFound("Diesen Import gibt es nicht.")
	}
	return im, err
}
