package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"portalwerk/store"
)

// authedHandler is an API handler that knows its caller.
type authedHandler func(w http.ResponseWriter, r *http.Request, caller store.Account)

// auth resolves the bearer key to the calling account; every API query is then scoped
// to that account's tenant.
func (s *server) auth(h authedHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || strings.TrimSpace(key) == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="portalwerk"`)
			writeError(w, http.StatusUnauthorized, "Bitte melden Sie sich mit Ihrem API-Schlüssel an (Authorization: Bearer …).")
			return
		}
		acc, err := store.AccountByKey(r.Context(), s.db, strings.TrimSpace(key))
		if errors.Is(err, store.ErrNotFound) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="portalwerk", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "Der API-Schlüssel ist ungültig.")
			return
		}
		if err != nil {
			s.internal(w, r, err)
			return
		}
		h(w, r, acc)
	})
}

// targetAccount resolves an `account` parameter: the caller's own when empty; another
// account of the tenant only for admins; anything outside the tenant is not found.
func (s *server) targetAccount(r *http.Request, caller store.Account, name string) (store.Account, error) {
	if name == "" || name == caller.Name {
		return caller, nil
	}
	acc, err := store.AccountByName(r.Context(), s.db, caller.TenantID, name)
	if errors.Is(err, store.ErrNotFound) {
		return store.Account{}, &answer{http.StatusNotFound, "Das Benutzerkonto „" + name + "“ gibt es nicht."}
	}
	if err != nil {
		return store.Account{}, err
	}
	if !caller.IsAdmin() {
		return store.Account{}, &answer{http.StatusForbidden, "Nur Administratoren dürfen mit anderen Benutzerkonten arbeiten."}
	}
	return acc, nil
}

// answer is a refusal with the status and the sentence the caller gets; code deep in a
// handler returns it as an error and the handler writes it.
type answer struct {
	status int
	msg    string
}

func (a *answer) Error() string { return a.msg }

// writeFailure answers err: as itself when it is an answer, else as an internal error.
func (s *server) writeFailure(w http.ResponseWriter, r *http.Request, err error) {
	var a *answer
	if errors.As(err, &a) {
		writeError(w, a.status, a.msg)
		return
	}
	s.internal(w, r, err)
}

// opsAuth guards the dashboard and the metrics with OPS_USER/OPS_PASSWORD; with no
// password configured they stay closed.
func (s *server) opsAuth(h http.Handler) http.Handler {
	wantUser := sha256.Sum256([]byte(s.cfg.OpsUser))
	wantPass := sha256.Sum256([]byte(s.cfg.OpsPassword))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		gotUser := sha256.Sum256([]byte(user))
		gotPass := sha256.Sum256([]byte(pass))
		if !ok || s.cfg.OpsPassword == "" ||
			subtle.ConstantTimeCompare(gotUser[:], wantUser[:])&subtle.ConstantTimeCompare(gotPass[:], wantPass[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="portalwerk operations", charset="UTF-8"`)
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// internal answers 500 without leaking the cause and logs it.
func (s *server) internal(w http.ResponseWriter, r *http.Request, err error) {
	s.log.ErrorContext(r.Context(), "request failed", slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("err", err))
	writeError(w, http.StatusInternalServerError, "Ein interner Fehler ist aufgetreten. Bitte versuchen Sie es später erneut.")
}
