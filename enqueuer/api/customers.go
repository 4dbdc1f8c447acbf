package api

import (
	"net/http"
	"strconv"

	"portalwerk/store"
)

func (s *Server) listCustomers(w http.ResponseWriter, r *http.Request, caller store.Account) error {
	q := r.URL.Query()
	target, err := s.targetAccount(r, caller, q.Get("account"))
	if err != nil {
		return err
	}
	f := store.CustomerFilter{AccountID: target.ID, ExternalID: q.Get("external_id"), Trash: q.Get("trash") == "true", Limit: 100}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return BadRequest("limit muss eine Zahl von 1 bis 1000 sein.")
		}
		f.Limit = n
	}
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return BadRequest("after muss eine portal_id sein.")
		}
		f.After = n
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
