package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"portalwerk/jobs"
	"portalwerk/store"
)

// confirmImport is the warning-and-confirm step: from previewed only; with row errors
// only when the caller says skip_invalid_rows=true.
func (s *server) confirmImport(w http.ResponseWriter, r *http.Request, caller store.Account) {
	if !caller.IsAdmin() {
		writeError(w, http.StatusForbidden, "Nur Administratoren dürfen Importe bestätigen.")
		return
	}
	skip, err := skipInvalidRows(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "skip_invalid_rows muss true oder false sein.")
		return
	}
	ctx := r.Context()
	im, ok := s.loadImport(w, r, caller)
	if !ok {
		return
	}
	if im.Status != store.ImportPreviewed {
		writeError(w, http.StatusConflict, "Nur ein Import im Status „previewed“ kann bestätigt werden; dieser ist „"+string(im.Status)+"“.")
		return
	}
	if im.Counts != nil && im.Counts.Errors > 0 && !skip {
		writeError(w, http.StatusConflict, "Die Vorschau hat "+strconv.FormatInt(im.Counts.Errors, 10)+
			" fehlerhafte Zeilen gefunden. Korrigieren Sie die Datei oder bestätigen Sie mit skip_invalid_rows=true, um nur die gültigen Zeilen zu übernehmen.")
		return
	}
	if err := store.ConfirmImport(ctx, s.db, im.ID, skip); errors.Is(err, store.ErrConflict) {
		writeError(w, http.StatusConflict, "Der Import wurde inzwischen geändert; bitte laden Sie ihn neu.")
		return
	} else if err != nil {
		s.internal(w, r, err)
		return
	}
	apply := jobs.ImportApply{ImportID: im.ID, TenantID: caller.TenantID}
	if _, err := jobs.Enqueue(ctx, s.queue, apply); err != nil {
		// Hand the import back so the user can confirm again once the queue is reachable.
		store.MoveImport(context.WithoutCancel(ctx), s.db, im.ID, store.ImportPreviewed, store.ImportApplying)
		s.internal(w, r, err)
		return
	}
	im, err = store.GetImport(ctx, s.db, caller.TenantID, im.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := toImportJSON(im)
	out.TaskID = apply.TaskID()
	writeJSON(w, http.StatusAccepted, out)
}

// skipInvalidRows reads skip_invalid_rows from a JSON or form body (true or "true").
func skipInvalidRows(r *http.Request) (bool, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		var body struct {
			Skip json.RawMessage `json:"skip_invalid_rows"`
		}
		err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&body)
		if errors.Is(err, io.EOF) || len(body.Skip) == 0 {
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

func (s *server) cancelImport(w http.ResponseWriter, r *http.Request, caller store.Account) {
	if !caller.IsAdmin() {
		writeError(w, http.StatusForbidden, "Nur Administratoren dürfen Importe abbrechen.")
		return
	}
	ctx := r.Context()
	im, ok := s.loadImport(w, r, caller)
	if !ok {
		return
	}
	err := store.MoveImport(ctx, s.db, im.ID, store.ImportCancelled, store.ImportQueued, store.ImportPreviewing, store.ImportPreviewed)
	if errors.Is(err, store.ErrConflict) {
		writeError(w, http.StatusConflict, "Ein Import im Status „"+string(im.Status)+"“ kann nicht mehr abgebrochen werden.")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	im, err = store.GetImport(ctx, s.db, caller.TenantID, im.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toImportJSON(im))
}

// importErrors lists the row errors, as JSON or as formula-safe CSV.
func (s *server) importErrors(w http.ResponseWriter, r *http.Request, caller store.Account) {
	ctx := r.Context()
	im, ok := s.loadImport(w, r, caller)
	if !ok {
		return
	}
	rows, err := store.ImportErrors(ctx, s.db, im.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if r.URL.Query().Get("format") != "csv" {
		writeJSON(w, http.StatusOK, rows)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="import-`+im.ID+`-fehler.csv"`)
	cw := csv.NewWriter(w)
	cw.Write([]string{"row", "column", "value", "code", "message"})
	for _, e := range rows {
		cw.Write([]string{strconv.Itoa(e.Row), safeCell(e.Column), safeCell(e.Value), e.Code, safeCell(e.Message)})
	}
	cw.Flush()
}

// safeCell neutralises a cell a spreadsheet would run as a formula.
func safeCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
