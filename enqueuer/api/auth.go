package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"portalwerk/enqueuer/ops"
	"portalwerk/store"
)

// auth resolves the bearer key (the scheme name in any case) to the calling account and
// answers whatever h returns; every API query is then scoped to that account's tenant.
func (s *Server) auth(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, err := s.authenticate(w, r)
		if err == nil {
			err = checkParams(r)
		}
		if err == nil {
			ops.NoteTenant(r.Context(), caller.TenantID)
			err = h(w, r, caller)
		}
		if err != nil {
			s.writeError(w, r, caller, err)
		}
	})
}

func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (store.Account, error) {
	scheme, key, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	key = strings.TrimSpace(key)
	if !strings.EqualFold(scheme, "Bearer") || key == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="portalwerk"`)
		return store.Account{}, &Error{http.StatusUnauthorized, "Bitte melden Sie sich mit Ihrem API-Schlüssel an (Authorization: Bearer …)."}
	}
	// The key check is the first database work of every request: it may wait for a
	// connection of the pool only so long, and a busy pool is answered, not queued behind.
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.KeyLookupTimeout)
	defer cancel()
	acc, err := store.AccountByKey(ctx, s.db, key)
	if errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil {
		s.log.WarnContext(r.Context(), "key check waited too long for a database connection",
			slog.Int("in_use", s.db.Stats().InUse), slog.Int64("wait_count", s.db.Stats().WaitCount))
		return store.Account{}, retryLater(w, http.StatusServiceUnavailable, 5*time.Second, busyMessage)
	}
	if errors.Is(err, store.ErrNotFound) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="portalwerk", error="invalid_token"`)
		return store.Account{}, &Error{http.StatusUnauthorized, "Der API-Schlüssel ist ungültig."}
	}
	if err != nil {
		return store.Account{}, err // never the key: the store's error does not carry it
	}
	return acc, nil
}

// busyMessage answers a request the database cannot take in time.
const busyMessage = "Der Dienst ist gerade ausgelastet. Bitte versuchen Sie es in einigen Sekunden erneut."

// checkParams refuses a path or query parameter that is not valid UTF-8 or holds a
// control character (a NUL would reach PostgreSQL as a driver error).
func checkParams(r *http.Request) error {
	if !cleanText(r.URL.Path) {
		return BadRequest("Der Pfad der Anfrage enthält ungültige Zeichen (Steuerzeichen oder kein UTF-8).")
	}
	for name, values := range r.URL.Query() {
		if !cleanText(name) {
			return BadRequest("Ein Parametername enthält ungültige Zeichen (Steuerzeichen oder kein UTF-8).")
		}
		for _, v := range values {
			if !cleanText(v) {
				return BadRequest("Der Parameter „" + name + "“ enthält ungültige Zeichen (Steuerzeichen oder kein UTF-8).")
			}
		}
	}
	return nil
}

// admin lets only admins through to h, before h looks anything up or reads the body;
// action completes "Nur Administratoren dürfen …".
func (s *Server) admin(action string, h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, caller store.Account) error {
		if !caller.IsAdmin() {
			return Forbidden("Nur Administratoren dürfen " + action + ".")
		}
		return h(w, r, caller)
	}
}

// targetAccount resolves an `account` parameter: the caller's own when empty; another
// account of the tenant only for admins (a member is refused whether the account exists
// or not); anything outside the tenant is not found.
func (s *Server) targetAccount(r *http.Request, caller store.Account, name string) (store.Account, error) {
	if name == "" || name == caller.Name {
		return caller, nil
	}
	if !caller.IsAdmin() {
		return store.Account{}, Forbidden("Nur Administratoren dürfen mit anderen Benutzerkonten arbeiten.")
	}
	acc, err := store.AccountByName(r.Context(), s.db, caller.TenantID, name)
	if errors.Is(err, store.ErrNotFound) {
		return store.Account{}, NotFound("Das Benutzerkonto „" + name + "“ gibt es nicht.")
	}
	if err != nil {
		return store.Account{}, err
	}
	return acc, nil
}

// visible says whether the caller may read what belongs to the account: an admin
// everything of its tenant, a member only its own account's.
func visible(caller store.Account, accountID int64) bool {
	return caller.IsAdmin() || accountID == caller.ID
}
