package api

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"portalwerk/jobs"
	"portalwerk/store"
)

// maxInvitationKeys bounds the external ids one request may name.
const maxInvitationKeys = 5000

type invitationRequest struct {
	Customers    []string `json:"customers"`
	ImportID     string   `json:"import_id"`
	AllUninvited *bool    `json:"all_uninvited"`
	Account      string   `json:"account"`
}

// createInvitations accepts an invitation batch: 202 {"id","status":"queued"}.
func (s *Server) createInvitations(w http.ResponseWriter, r *http.Request, caller store.Account) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	var req invitationRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return &Error{http.StatusRequestEntityTooLarge, "Die Anfrage ist zu groß (höchstens 64 KiB)."}
		}
		if errors.Is(err, io.EOF) {
			return BadRequest(`Bitte geben Sie an, wer eingeladen wird: {"customers":[…]}, {"import_id":"…"} oder {"all_uninvited":true}.`)
		}
		return BadRequest("Die Anfrage ist kein gültiges JSON-Objekt mit customers, import_id, all_uninvited und account: " + jsonProblem(err))
	}
	sel := store.InvitationSelection{Customers: req.Customers, ImportID: req.ImportID, AllUninvited: req.AllUninvited != nil && *req.AllUninvited}
	given := 0
	if req.Customers != nil {
		given++
	}
	if req.ImportID != "" {
		given++
	}
	if req.AllUninvited != nil {
		given++
	}
	switch {
	case given != 1:
		return BadRequest("Geben Sie genau eines an: customers, import_id oder all_uninvited.")
	case req.AllUninvited != nil && !*req.AllUninvited:
		return BadRequest("all_uninvited muss true sein.")
	case req.Customers != nil && len(req.Customers) == 0:
		return BadRequest("customers ist leer: nennen Sie mindestens eine externe ID.")
	case len(req.Customers) > maxInvitationKeys:
		return BadRequest("customers nennt zu viele Kunden (höchstens 5000 je Auftrag).")
	}
	for i, k := range req.Customers {
		k = strings.TrimSpace(k)
		if k == "" || !cleanText(k) {
			return BadRequest("customers: Eintrag " + strconv.Itoa(i+1) + " ist keine gültige externe ID.")
		}
		sel.Customers[i] = k
	}
	if !cleanText(req.Account) {
		return BadRequest("account enthält unzulässige Zeichen.")
	}
	target, err := s.targetAccount(r, caller, req.Account)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if sel.ImportID != "" {
		im, err := store.GetImport(ctx, s.db, caller.TenantID, sel.ImportID)
		if errors.Is(err, store.ErrNotFound) {
			return NotFound("Diesen Import gibt es nicht.")
		}
		if err != nil {
			return err
		}
		if req.Account == "" {
			if target, err = store.AccountByID(ctx, s.db, caller.TenantID, im.AccountID); err != nil {
				return err
			}
		} else if im.AccountID != target.ID {
			return NotFound("Diesen Import gibt es im Benutzerkonto „" + target.Name + "“ nicht.")
		}
		if im.Status != store.ImportDone {
			return Conflict("Einladen lassen sich nur die Kunden eines abgeschlossenen Imports (Status „done“); dieser ist „" + string(im.Status) + "“.")
		}
	}
	params, err := json.Marshal(sel)
	if err != nil {
		return err
	}
	id := store.NewID()
	task := jobs.InvitationsSend{RunID: id, TenantID: caller.TenantID}
	err = s.queue.CreateRun(ctx, s.db, store.NewRun{ID: id, TenantID: caller.TenantID, AccountID: target.ID,
		CreatedBy: caller.ID, Kind: store.RunInvitations, Params: params}, task)
	if err != nil {
		if _, getErr := store.GetRun(ctx, s.db, caller.TenantID, store.RunInvitations, id); getErr != nil {
			return err // not recorded: nothing will happen
		}
		// Recorded; the resume sweep enqueues the task.
		s.log.WarnContext(ctx, "invitation batch recorded, enqueue deferred", slog.String("run_id", id),
			slog.Int64("tenant_id", caller.TenantID), slog.Any("err", err))
	}
	s.log.InfoContext(ctx, "invitation batch accepted", slog.String("run_id", id), slog.Int64("tenant_id", caller.TenantID),
		slog.String("tenant", caller.Tenant), slog.String("account", target.Name))
	writeJSON(w, http.StatusAccepted, map[string]string{"id": id, "status": string(store.RunQueued)})
	return nil
}

type invitationJSON struct {
	ID         string                 `json:"id"`
	Status     store.RunStatus        `json:"status"`
	Account    string                 `json:"account"`
	Counts     map[string]int64       `json:"counts"`
	Progress   map[string]*int64      `json:"progress"`
	Failures   []store.RecipientError `json:"failures"`
	Error      *string                `json:"error"`
	CreatedAt  time.Time              `json:"created_at"`
	StartedAt  *time.Time             `json:"started_at"`
	FinishedAt *time.Time             `json:"finished_at"`
}

// getInvitations shows a batch: status, counts, the first failures with their errors.
func (s *Server) getInvitations(w http.ResponseWriter, r *http.Request, caller store.Account) error {
	ctx := r.Context()
	run, err := store.GetRun(ctx, s.db, caller.TenantID, store.RunInvitations, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) || err == nil && !visible(caller, run.AccountID) {
		return NotFound("Diesen Einladungsauftrag gibt es nicht.")
	}
	if err != nil {
		return err
	}
	acc, err := store.AccountByID(ctx, s.db, caller.TenantID, run.AccountID)
	if err != nil {
		return err
	}
	p, err := store.GetInvitationProgress(ctx, s.db, run.ID)
	if err != nil {
		return err
	}
	failures, err := store.InvitationFailures(ctx, s.db, run.ID, 100)
	if err != nil {
		return err
	}
	done := p.Counts["selected"] - p.Open
	writeJSON(w, http.StatusOK, invitationJSON{ID: run.ID, Status: run.Status, Account: acc.Name, Counts: p.Counts,
		Progress: map[string]*int64{"done": &done, "total": run.ProgressTotal}, Failures: failures, Error: run.Error,
		CreatedAt: run.CreatedAt, StartedAt: run.StartedAt, FinishedAt: run.FinishedAt})
	return nil
}

// cleanText says whether s is valid UTF-8 without control characters.
func cleanText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// jsonProblem names what is wrong with a JSON body without echoing it.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return "das Feld „" + typeErr.Field + "“ hat den falschen Typ."
	}
	if strings.HasPrefix(err.Error(), "json: unknown field ") {
		return "unbekanntes Feld " + strings.TrimPrefix(err.Error(), "json: unknown field ") + "."
	}
	return "es ist nicht lesbar."
}
