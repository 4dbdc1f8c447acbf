package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"portalwerk/jobs"
	"portalwerk/jobs/importer"
	"portalwerk/store"
)

// maxBodyBytes bounds the body of an endpoint that takes no file (confirm, cancel).
const maxBodyBytes = 64 << 10

// confirmImport is the warning-and-confirm step: from previewed only; with row errors
// only when the caller says skip_invalid_rows=true.
func (s *Server) confirmImport(w http.ResponseWriter, r *http.Request, caller store.Account) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	skip, err := skipInvalidRows(r)
	if err != nil {
		return BadRequest("skip_invalid_rows muss true oder false sein.")
	}
	ctx := r.Context()
	im, err := s.loadImport(r, caller)
	if err != nil {
		return err
	}
	if im.Status != store.ImportPreviewed {
		return Conflict("Nur ein Import im Status " + inStatus(store.ImportPreviewed) + " kann bestätigt werden; dieser ist im Status " + inStatus(im.Status) + ".")
	}
	if im.Counts != nil && im.Counts.Errors > 0 && !skip {
		return Conflict("Die Vorschau hat " + plural(im.Counts.Errors, "fehlerhafte Zeile", "fehlerhafte Zeilen") +
			" gefunden. Korrigieren Sie die Datei oder bestätigen Sie mit skip_invalid_rows=true, um nur die gültigen Zeilen zu übernehmen.")
	}
	if err := store.ConfirmImport(ctx, s.db, im.ID, skip); errors.Is(err, store.ErrConflict) {
		return Conflict("Der Import wurde inzwischen geändert; bitte laden Sie ihn neu.")
	} else if err != nil {
		return err
	}
	apply := jobs.ImportApply{ImportID: im.ID, TenantID: caller.TenantID}
	if _, err := s.queue.Enqueue(ctx, apply); err != nil {
		// Hand the import back so the user can confirm again once the queue is reachable.
		if merr := store.MoveImport(context.WithoutCancel(ctx), s.db, im.ID, store.ImportPreviewed, store.ImportApplying); merr != nil {
			err = errors.Join(err, merr)
		}
		return fmt.Errorf("import %s: %w", im.ID, err)
	}
	s.log.InfoContext(ctx, "import confirmed", slog.String("import_id", im.ID),
		slog.Int64("tenant_id", caller.TenantID), slog.String("tenant", caller.Tenant), slog.Bool("skip_invalid_rows", skip))
	im, err = store.GetImport(ctx, s.db, caller.TenantID, im.ID)
	if err != nil {
		return err
	}
	list, err := s.importsJSON(ctx, caller, im)
	if err != nil {
		return err
	}
	out := list[0]
	out.TaskID = apply.TaskID()
	writeJSON(w, http.StatusAccepted, out)
	return nil
}

// skipInvalidRows reads skip_invalid_rows from a JSON or form body (true or "true").
func skipInvalidRows(r *http.Request) (bool, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		var body struct {
			Skip json.RawMessage `json:"skip_invalid_rows"`
		}
		err := json.NewDecoder(r.Body).Decode(&body)
		if errors.Is(err, io.EOF) || err == nil && len(body.Skip) == 0 {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return strconv.ParseBool(strings.Trim(string(body.Skip), `"`))
	}
	v := r.FormValue("skip_invalid_rows")
	if v == "" {
		return false, nil
	}
	return strconv.ParseBool(v)
}

func (s *Server) cancelImport(w http.ResponseWriter, r *http.Request, caller store.Account) error {
	ctx := r.Context()
	im, err := s.loadImport(r, caller)
	if err != nil {
		return err
	}
	err = store.MoveImport(ctx, s.db, im.ID, store.ImportCancelled, store.ImportQueued, store.ImportPreviewing, store.ImportPreviewed)
	if errors.Is(err, store.ErrConflict) {
		return Conflict("Ein Import im Status " + inStatus(im.Status) + " kann nicht mehr abgebrochen werden.")
	}
	if err != nil {
		return err
	}
	// The staging table of a preview can go at once (a preview still running has not
	// committed one: it notices the cancel and rolls back). Should the drop not get
	// through, the hourly purge takes the table.
	if err := importer.DropStaging(ctx, s.db, im.ID); err != nil {
		s.log.WarnContext(ctx, "staging table of a cancelled import stays until the purge", slog.String("import_id", im.ID),
			slog.Int64("tenant_id", caller.TenantID), slog.Any("err", err))
	}
	s.log.InfoContext(ctx, "import cancelled", slog.String("import_id", im.ID),
		slog.Int64("tenant_id", caller.TenantID), slog.String("tenant", caller.Tenant))
	im, err = store.GetImport(ctx, s.db, caller.TenantID, im.ID)
	if err != nil {
		return err
	}
	out, err := s.importsJSON(ctx, caller, im)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out[0])
	return nil
}
