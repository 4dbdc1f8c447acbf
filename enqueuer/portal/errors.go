package portal

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// pageError is a refusal: status, the keys of the page's title and of the sentence for
// the person (templates/portal/text.json) and the sentence's arguments.
type pageError struct {
	status     int
	title      string
	message    string
	args       []any
	loginLink  bool
	retryAfter time.Duration
}

func (e *pageError) Error() string { return e.message }

// errLink is the one answer to every link that does not open: tampered, expired,
// revoked, another purpose, unknown key. Its language is the browser's, never the
// token's, so the page is the same whatever is wrong with the link.
var errLink = &pageError{status: http.StatusUnauthorized, title: "err.link.title", message: "err.link", loginLink: true}

var errNoSession = &pageError{status: http.StatusUnauthorized, title: "err.session.title", message: "err.session", loginLink: true}

var errChangePassword = &pageError{status: http.StatusForbidden, title: "password.title", message: "err.change_password"}

// writeError answers err as a page or as {"error":"…"} by Accept, in the page's
// language; anything but a *pageError is logged and answered with a generic sentence.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, p *page, err error) {
	var e *pageError
	if !errors.As(err, &e) {
		s.log.ErrorContext(r.Context(), "portal request failed", slog.String("method", r.Method),
			slog.String("route", r.Pattern), slog.Any("err", err))
		e = &pageError{status: http.StatusInternalServerError, title: "err.internal.title", message: "err.internal"}
	}
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(e.retryAfter.Seconds())+1))
	}
	message := s.say(r, p, e.message, e.args...)
	if wantsJSON(r) {
		writeJSON(w, e.status, map[string]string{"error": message})
		return
	}
	s.render(w, r, p, e.status, "error", map[string]any{"Title": e.title, "Message": message, "LoginLink": e.loginLink})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
