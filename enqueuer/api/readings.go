package api

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"portalwerk/store"
)

// listReadings answers GET /v1/readings?status=entered|failed|released (limit, after,
// account): the target account's readings by id. failed are those the last release
// that checked them did not release, with its rule and message.
func (s *Server) listReadings(w http.ResponseWriter, r *http.Request, caller store.Account) error {
	q := r.URL.Query()
	status := q.Get("status")
	switch status {
	case "", store.ReadingEntered, store.ReadingFailed, store.ReadingReleased:
	default:
		return BadRequest("„status“ muss entered, failed oder released sein.")
	}
	target, err := s.targetAccount(r, caller, q.Get("account"))
	if err != nil {
		return err
	}
	f := store.ReadingFilter{TenantID: caller.TenantID, AccountID: target.ID, Status: status, Limit: 100}
	if f.Limit, f.After, err = keysetPage(q, "eine reading_id"); err != nil {
		return err
	}
	list, err := store.ListReadings(r.Context(), s.db, f)
	if err != nil {
		return err
	}
	var next *int64
	if len(list) == f.Limit {
		next = &list[len(list)-1].ID
	}
	writeJSON(w, http.StatusOK, map[string]any{"readings": list, "next_after": next})
	return nil
}

// releaseReading is POST /v1/readings/{id}/release: an admin releases one reading by
// hand with a reason (a reading the release refused, after checking it), recorded with
// who and when.
func (s *Server) releaseReading(w http.ResponseWriter, r *http.Request, caller store.Account) error {
	var body struct {
		Reason string `json:"reason"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	reason, err := text("reason", body.Reason, 1000)
	if err != nil {
		return err
	}
	if reason == "" {
		return BadRequest("„reason“ fehlt: Bitte begründen Sie die manuelle Freigabe.")
	}
	notFound := NotFound("Diesen Zählerstand gibt es nicht.")
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return notFound
	}
	ctx := r.Context()
	rd, err := store.GetReading(ctx, s.db, caller.TenantID, id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound
	}
	if err != nil {
		return err
	}
	if rd.Status == store.ReadingReleased {
		return Conflict("Dieser Zählerstand ist bereits freigegeben.")
	}
	err = store.ReleaseReading(ctx, s.db, caller.TenantID, id, caller.ID, reason)
	if errors.Is(err, store.ErrConflict) {
		return Conflict("Dieser Zählerstand ist bereits freigegeben.")
	}
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "reading released by hand", slog.Int64("tenant_id", caller.TenantID), slog.Int64("reading_id", id),
		slog.String("account", caller.Name))
	if rd, err = store.GetReading(ctx, s.db, caller.TenantID, id); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rd)
	return nil
}
