package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"portalwerk/jobs"
	"portalwerk/store"
)

// maxListedResults bounds the contracts a run's answer lists.
const maxListedResults = 10000

type contractRequest struct {
	Period    string   `json:"period"`
	Contracts []string `json:"contracts"`
	All       bool     `json:"all"`
	Account   string   `json:"account"`
}

// contractSelection reads {"contracts":[…]} or {"all":true} (optional "account"; with
// period, a meter request's "period") and the target account.
func (s *Server) contractSelection(w http.ResponseWriter, r *http.Request, caller store.Account, withPeriod bool) (contractRequest, store.Account, error) {
	var body contractRequest
	if err := decodeJSON(w, r, &body); err != nil {
		return body, store.Account{}, err
	}
	if body.Period != "" && !withPeriod {
		return body, store.Account{}, BadRequest("„period“ gibt es nur bei Zählerstandsanforderungen.")
	}
	if withPeriod {
		if body.Period == "" {
			return body, store.Account{}, BadRequest("Bitte nennen Sie „period“: einen Monat (2026-11), ein Quartal (2026-Q4) oder ein Jahr (2026).")
		}
		if _, err := jobs.ParsePeriod(body.Period); err != nil {
			return body, store.Account{}, BadRequest("„period“: " + err.Error() + ".")
		}
	}
	if body.All == (len(body.Contracts) > 0) {
		return body, store.Account{}, BadRequest("Bitte nennen Sie entweder „contracts“ (Vertragsnummern) oder „all“: true.")
	}
	if len(body.Contracts) > 10000 {
		return body, store.Account{}, BadRequest("Höchstens 10000 Verträge je Auftrag; für alle Verträge gibt es „all“: true.")
	}
	for i, c := range body.Contracts {
		v, err := text("contracts", c, 200)
		if err != nil {
			return body, store.Account{}, err
		}
		if v == "" {
			return body, store.Account{}, BadRequest("„contracts“ enthält eine leere Vertragsnummer.")
		}
		body.Contracts[i] = v
	}
	if !cleanText(body.Account) {
		return body, store.Account{}, BadRequest("account enthält unzulässige Zeichen.")
	}
	target, err := s.targetAccount(r, caller, body.Account)
	return body, target, err
}

// startRun records a job run and answers 202 {"id","status":"queued"}.
func (s *Server) startRun(w http.ResponseWriter, r *http.Request, n store.NewRun, a jobs.Args) error {
	ctx := r.Context()
	if err := s.queue.CreateRun(ctx, s.db, n, a); err != nil {
		if _, gerr := store.GetRun(ctx, s.db, n.TenantID, n.Kind, n.ID); gerr != nil {
			return err // not even recorded
		}
		s.log.WarnContext(ctx, "enqueue job run", slog.Int64("tenant_id", n.TenantID), slog.String("run_id", n.ID), slog.Any("err", err))
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"id": n.ID, "status": string(store.RunQueued)})
	return nil
}

// createPortalReady is POST /v1/portal-ready {"contracts":[…]} or {"all":true}.
func (s *Server) createPortalReady(w http.ResponseWriter, r *http.Request, caller store.Account) error {
	body, target, err := s.contractSelection(w, r, caller, false)
	if err != nil {
		return err
	}
	params, err := json.Marshal(jobs.ContractSelection{All: body.All, Contracts: body.Contracts})
	if err != nil {
		return err
	}
	id := store.NewID()
	return s.startRun(w, r, store.NewRun{ID: id, TenantID: caller.TenantID, AccountID: target.ID, CreatedBy: caller.ID,
		Kind: store.RunPortalReady, Params: params}, jobs.PortalReady{RunID: id, TenantID: caller.TenantID})
}

// visibleRun returns the caller's run of kind, 404 for anything else.
func (s *Server) visibleRun(r *http.Request, caller store.Account, kind store.RunKind, notFound string) (store.Run, error) {
	run, err := store.GetRun(r.Context(), s.db, caller.TenantID, kind, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) || err == nil && !visible(caller, run.AccountID) {
		return run, NotFound(notFound)
	}
	return run, err
}

// runAnswer is a job run as its GET answers it: id, status, error, timestamps, the
// counts with every name of counted present (0 until counted), and the kind's own fields.
func runAnswer(run store.Run, counted []string, fields map[string]any) map[string]any {
	counts := map[string]int64{}
	for _, k := range counted {
		counts[k] = 0
	}
	for k, v := range run.Counts {
		counts[k] = v
	}
	out := map[string]any{"id": run.ID, "status": run.Status, "counts": counts,
		"error": run.Error, "created_at": run.CreatedAt, "finished_at": run.FinishedAt}
	for k, v := range fields {
		out[k] = v
	}
	return out
}

// getPortalReady is GET /v1/portal-ready/{id}: per contract ok or its problems.
func (s *Server) getPortalReady(w http.ResponseWriter, r *http.Request, caller store.Account) error {
	run, err := s.visibleRun(r, caller, store.RunPortalReady, "Diese Prüfung gibt es nicht.")
	if err != nil {
		return err
	}
	results, err := store.ReadyResults(r.Context(), s.db, caller.TenantID, run.ID, false, maxListedResults)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, runAnswer(run, []string{"contracts", "ok", "not_ready"}, map[string]any{"contracts": results}))
	return nil
}

// createMeterRequests is POST /v1/meter-requests {"period":"2026-11","contracts":[…]}
// or {"period":…,"all":true}.
func (s *Server) createMeterRequests(w http.ResponseWriter, r *http.Request, caller store.Account) error {
	body, target, err := s.contractSelection(w, r, caller, true)
	if err != nil {
		return err
	}
	params, err := json.Marshal(jobs.MeterRequestParams{Period: body.Period, ContractSelection: jobs.ContractSelection{All: body.All, Contracts: body.Contracts}})
	if err != nil {
		return err
	}
	id := store.NewID()
	return s.startRun(w, r, store.NewRun{ID: id, TenantID: caller.TenantID, AccountID: target.ID, CreatedBy: caller.ID,
		Kind: store.RunMeterRequests, Params: params}, jobs.MeterRequests{RunID: id, TenantID: caller.TenantID})
}

// getMeterRequests is GET /v1/meter-requests/{id}: status, counts and the contracts
// that were not ready with their problems.
func (s *Server) getMeterRequests(w http.ResponseWriter, r *http.Request, caller store.Account) error {
	run, err := s.visibleRun(r, caller, store.RunMeterRequests, "Diese Zählerstandsanforderung gibt es nicht.")
	if err != nil {
		return err
	}
	results, err := store.ReadyResults(r.Context(), s.db, caller.TenantID, run.ID, true, maxListedResults)
	if err != nil {
		return err
	}
	type notReady struct {
		Contract string   `json:"contract"`
		Customer *string  `json:"customer"`
		Problems []string `json:"problems"`
	}
	list := make([]notReady, len(results))
	for i, x := range results {
		list[i] = notReady{Contract: x.Contract, Customer: x.Customer, Problems: x.Problems}
	}
	var params jobs.MeterRequestParams
	json.Unmarshal(run.Params, &params)
	writeJSON(w, http.StatusOK, runAnswer(run, []string{"contracts", "not_ready", "sent", "failed"},
		map[string]any{"period": params.Period, "not_ready": list}))
	return nil
}
