package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"portalwerk/store"
)

// Error is a refusal: the status and the sentence the caller gets. Anything else a
// handler returns is an internal error, logged and answered with a generic sentence.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

// BadRequest is a 400 answer.
func BadRequest(msg string) *Error { return &Error{http.StatusBadRequest, msg} }

// Forbidden is a 403 answer.
func Forbidden(msg string) *Error { return &Error{http.StatusForbidden, msg} }

// NotFound is a 404 answer.
func NotFound(msg string) *Error { return &Error{http.StatusNotFound, msg} }

// Conflict is a 409 answer.
func Conflict(msg string) *Error { return &Error{http.StatusConflict, msg} }

// internalMessage is all a caller learns of a failure of ours.
const internalMessage = "Ein interner Fehler ist aufgetreten. Bitte versuchen Sie es später erneut."

// writeError answers err as {"error":"…"}: an *Error with its status and sentence,
// anything else as a logged 500 that never shows the cause. caller is the zero Account
// before authentication.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, caller store.Account, err error) {
	var e *Error
	if errors.As(err, &e) {
		writeJSON(w, e.Status, map[string]string{"error": e.Message})
		return
	}
	attrs := []any{slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("err", err)}
	if caller.ID != 0 {
		attrs = append(attrs, slog.Int64("tenant_id", caller.TenantID), slog.String("tenant", caller.Tenant))
	}
	if r.Context().Err() != nil {
		// The client went away (a cancelled upload, a closed tab): nobody reads an
		// answer, and nothing of ours failed.
		s.log.InfoContext(r.Context(), "client went away", attrs...)
		return
	}
	s.log.ErrorContext(r.Context(), "request failed", attrs...)
	writeJSON(w, http.StatusInternalServerError, map[string]string{"error": internalMessage})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
