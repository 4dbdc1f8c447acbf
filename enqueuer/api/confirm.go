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

	"github.com/jmoiron/sqlx"

	"portalwerk/jobs"
	"portalwerk/jobs/importer"
	"portalwerk/store"
)

// maxBodyBytes bounds the body of an endpoint that takes no file (confirm, cancel).
const maxBodyBytes = 64 << 10

// confirmImport is the warning-and-confirm step: from previewed only; with row errors
// only when the caller says skip_invalid_rows=true; a sync that would trash more than
// half of the account's live customers only with allow_mass_delete=true.
func (s *Server) confirmImport(w http.ResponseWriter, r *http.Request, caller store.Account) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	body, err := confirmFields(r)
	if err != nil {
		return err
	}
	skip, allowMass := body["skip_invalid_rows"], body["allow_mass_delete"]
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
	if im.Warnings.Has(store.WarningMassDelete) && !allowMass {
		return Conflict(fmt.Sprintf("Dieser Abgleich würde %d Kunden in den Papierkorb verschieben, mehr als die Hälfte der Kunden des Benutzerkontos %s. Prüfen Sie, ob die Datei vollständig ist, und bestätigen Sie dann mit allow_mass_delete=true.",
			im.Counts.Delete, im.Account))
	}
	err = store.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		if err := store.AllowMassDelete(ctx, tx, im.ID, allowMass); err != nil {
			return err
		}
		return store.ConfirmImport(ctx, tx, im.ID, skip)
	})
	if errors.Is(err, store.ErrConflict) {
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
		slog.Int64("tenant_id", caller.TenantID), slog.String("tenant", caller.Tenant), slog.Bool("skip_invalid_rows", skip), slog.Bool("allow_mass_delete", allowMass))
	im, err = store.GetImport(ctx, s.db, caller.TenantID, im.ID)
	if err != nil {
		return err
	}
	return s.answerImport(ctx, w, caller, im, http.StatusAccepted, apply.TaskID())
}

// confirmFlags are the confirm body's switches.
var confirmFlags = []string{"skip_invalid_rows", "allow_mass_delete"}

// confirmFields reads the confirm body's switches from JSON or a form (true or "true");
// a missing one is false.
func confirmFields(r *http.Request) (map[string]bool, error) {
	out := map[string]bool{}
	raw := map[string]string{}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		var body map[string]json.RawMessage
		err := json.NewDecoder(r.Body).Decode(&body)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, BadRequest("Der Rumpf ist kein gültiges JSON-Objekt.")
		}
		for _, f := range confirmFlags {
			if v, ok := body[f]; ok {
				raw[f] = strings.Trim(string(v), `"`)
			}
		}
	} else {
		for _, f := range confirmFlags {
			raw[f] = r.FormValue(f)
		}
	}
	for _, f := range confirmFlags {
		if raw[f] == "" {
			continue
		}
		v, err := strconv.ParseBool(raw[f])
		if err != nil {
			return nil, BadRequest(f + " muss true oder false sein.")
		}
		out[f] = v
	}
	return out, nil
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
	return s.answerImport(ctx, w, caller, im, http.StatusOK, "")
}
