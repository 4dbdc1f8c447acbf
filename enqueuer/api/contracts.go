package api

import (
	"net/http"

	"portalwerk/store"
)

// listContracts answers GET /v1/contracts?customer=<external_id>: the customer's
// contracts (in the target account) with their contacts and registers.
func (s *Server) listContracts(w http.ResponseWriter, r *http.Request, caller store.Account) error {
	q := r.URL.Query()
	ext, err := text("customer", q.Get("customer"), 200)
	if err != nil {
		return err
	}
	if ext == "" {
		return BadRequest("Der Parameter „customer“ fehlt: die externe ID des Kunden (…/v1/contracts?customer=K-1001).")
	}
	target, err := s.targetAccount(r, caller, q.Get("account"))
	if err != nil {
		return err
	}
	found, err := store.ListCustomers(r.Context(), s.db, store.CustomerFilter{AccountID: target.ID, ExternalID: ext, Limit: 1})
	if err != nil {
		return err
	}
	if len(found) == 0 {
		return NotFound("Einen Kunden mit der externen ID „" + ext + "“ gibt es in diesem Benutzerkonto nicht.")
	}
	contracts, err := store.ContractsOfCustomer(r.Context(), s.db, caller.TenantID, found[0].PortalID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"customer": ext, "contracts": contracts})
	return nil
}
