package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"portalwerk/jobs"
	"portalwerk/store"
)

// createRelease is POST /v1/releases {"contracts":[…]} or {"all":true} (optional
// "account"): a job run that checks every entered reading of those contracts again and
// releases the passing ones.
func (s *Server) createRelease(w http.ResponseWriter, r *http.Request, caller store.Account) error {
	var body struct {
		Contracts []string `json:"contracts"`
		All       bool     `json:"all"`
		Account   string   `json:"account"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.All == (len(body.Contracts) > 0) {
		return BadRequest("Bitte nennen Sie entweder „contracts“ (Vertragsnummern) oder „all“: true.")
	}
	if len(body.Contracts) > 10000 {
		return BadRequest("Höchstens 10000 Verträge je Freigabe; für alle Verträge gibt es „all“: true.")
	}
	for i, c := range body.Contracts {
		v, err := text("contracts", c, 200)
		if err != nil {
			return err
		}
		if v == "" {
			return BadRequest("„contracts“ enthält eine leere Vertragsnummer.")
		}
		body.Contracts[i] = v
	}
	target, err := s.targetAccount(r, caller, body.Account)
	if err != nil {
		return err
	}
	params, err := json.Marshal(jobs.ReleaseParams{All: body.All, Contracts: body.Contracts})
	if err != nil {
		return err
	}
	id := store.NewID()
	ctx := r.Context()
	err = s.queue.CreateRun(ctx, s.db, store.NewRun{ID: id, TenantID: caller.TenantID, AccountID: target.ID, CreatedBy: caller.ID,
		Kind: store.RunReleases, Params: params}, jobs.Release{RunID: id, TenantID: caller.TenantID})
	if err != nil {
		if _, gerr := store.GetRun(ctx, s.db, caller.TenantID, store.RunReleases, id); gerr != nil {
			return err // not even recorded
		}
		// Recorded: the resume sweep enqueues the task within a minute.
		s.log.WarnContext(ctx, "enqueue release", slog.Int64("tenant_id", caller.TenantID), slog.String("run_id", id), slog.Any("err", err))
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"id": id, "status": string(store.RunQueued)})
	return nil
}

// getRelease is GET /v1/releases/{id}: the run's status, its counts and its protocol.
func (s *Server) getRelease(w http.ResponseWriter, r *http.Request, caller store.Account) error {
	ctx := r.Context()
	run, err := store.GetRun(ctx, s.db, caller.TenantID, store.RunReleases, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) || err == nil && !visible(caller, run.AccountID) {
		return NotFound("Diese Freigabe gibt es nicht.")
	}
	if err != nil {
		return err
	}
	protocol, err := store.ReleaseProtocol(ctx, s.db, run.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, runAnswer(run, []string{"checked", "released", "failed"}, map[string]any{"protocol": protocol}))
	return nil
}
