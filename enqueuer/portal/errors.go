package portal

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// pageError is a refusal: status, the page's title and a sentence for the person.
type pageError struct {
	status     int
	title      string
	message    string
	loginLink  bool
	retryAfter time.Duration
}

func (e *pageError) Error() string { return e.message }

// errLink is the one answer to every link that does not open: tampered, expired,
// revoked, another purpose, unknown key.
var errLink = &pageError{status: http.StatusUnauthorized, title: "Link ungültig",
	message:   "Dieser Link ist ungültig oder abgelaufen. Melden Sie sich mit Ihrem Passwort an oder fordern Sie über „Passwort vergessen?“ einen neuen Link an.",
	loginLink: true}

var errNoSession = &pageError{status: http.StatusUnauthorized, title: "Bitte anmelden",
	message: "Bitte melden Sie sich an.", loginLink: true}

var errChangePassword = &pageError{status: http.StatusForbidden, title: "Passwort festlegen",
	message: "Bitte legen Sie zuerst Ihr Passwort fest: /portal/password"}

const internalMessage = "Ein interner Fehler ist aufgetreten. Bitte versuchen Sie es später erneut."

// writeError answers err as a page or as {"error":"…"} by Accept; anything but a
// *pageError is logged and answered with a generic sentence.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *pageError
	if !errors.As(err, &e) {
		s.log.ErrorContext(r.Context(), "portal request failed", slog.String("method", r.Method),
			slog.String("route", r.Pattern), slog.Any("err", err))
		e = &pageError{status: http.StatusInternalServerError, title: "Fehler", message: internalMessage}
	}
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(e.retryAfter.Seconds())+1))
	}
	if wantsJSON(r) {
		writeJSON(w, e.status, map[string]string{"error": e.message})
		return
	}
	s.render(w, r, e.status, "error", map[string]any{"Title": e.title, "Message": e.message, "LoginLink": e.loginLink})
}

// render writes page with data (a map holding at least Title).
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, data map[string]any) {
	var buf bytes.Buffer
	if err := s.pages[page].ExecuteTemplate(&buf, "layout", data); err != nil {
		s.log.ErrorContext(r.Context(), "render portal page", slog.String("page", page), slog.Any("err", err))
		http.Error(w, internalMessage, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
