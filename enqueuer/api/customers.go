package api

import (
	"net/http"

	"portalwerk/store"
)

func (s *Server) listCustomers(w http.ResponseWriter, r *http.Request, caller store.Account) error {
	q := r.URL.Query()
	target, err := s.targetAccount(r, caller, q.Get("account"))
	if err != nil {
		return err
	}
	f := store.CustomerFilter{AccountID: target.ID, ExternalID: q.Get("external_id"), Trash: q.Get("trash") == "true", Limit: 100}
	if f.Limit, f.After, err = keysetPage(q, "eine portal_id"); err != nil {
		return err
	}
	list, err := store.ListCustomers(r.Context(), s.db, f)
	if err != nil {
		return err
	}
	var next *int64
	if len(list) == f.Limit {
		next = &list[len(list)-1].PortalID
	}
	writeJSON(w, http.StatusOK, map[string]any{"customers": list, "next_after": next})
	return nil
}

func (s *Server) getCustomer(w http.ResponseWriter, r *http.Request, caller store.Account) error {
	c, err := s.loadCustomer(r, caller)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}
