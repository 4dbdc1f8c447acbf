package main

import (
	"errors"
	"net/http"
	"strconv"

	"portalwerk/store"
)

func (s *server) listCustomers(w http.ResponseWriter, r *http.Request, caller store.Account) {
	q := r.URL.Query()
	target, err := s.targetAccount(r, caller, q.Get("account"))
	if err != nil {
		s.writeFailure(w, r, err)
		return
	}
	f := store.CustomerFilter{AccountID: target.ID, ExternalID: q.Get("external_id"), Trash: q.Get("trash") == "true", Limit: 100}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, "limit muss eine Zahl von 1 bis 1000 sein.")
			return
		}
		f.Limit = n
	}
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "after muss eine portal_id sein.")
			return
		}
		f.After = n
	}
	list, err := store.ListCustomers(r.Context(), s.db, f)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	var next *int64
	if len(list) == f.Limit {
		next = &list[len(list)-1].PortalID
	}
	writeJSON(w, http.StatusOK, map[string]any{"customers": list, "next_after": next})
}

func (s *server) getCustomer(w http.ResponseWriter, r *http.Request, caller store.Account) {
	id, err := strconv.ParseInt(r.PathValue("portal_id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, "Diesen Kunden gibt es nicht.")
		return
	}
	c, err := store.GetCustomer(r.Context(), s.db, caller.TenantID, id)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "Diesen Kunden gibt es nicht.")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}
