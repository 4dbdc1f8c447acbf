package portal

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"

	"portalwerk/store"
	"portalwerk/templates"
)

// cookieName is the session cookie; under https the __Host- prefix pins it to this host,
// Secure and Path=/.
func (s *Server) cookieName() string {
	if s.secure {
		return "__Host-portal_session"
	}
	return "portal_session"
}

func newSessionID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) setCookie(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: id, Path: "/", HttpOnly: true, Secure: s.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(s.cfg.Lifetime.Seconds())})
}

func (s *Server) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: "", Path: "/", HttpOnly: true, Secure: s.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// cookieID is the session id the request carries, or "".
func (s *Server) cookieID(r *http.Request) string {
	c, err := r.Cookie(s.cookieName())
	if err != nil {
		return ""
	}
	return c.Value
}

// startSession ends the request's old session, if any, and starts a new one with a
// fresh id (rotation on login).
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, n store.NewSession) error {
	ctx := r.Context()
	if old := s.cookieID(r); old != "" {
		if err := store.DeleteSession(ctx, s.db, store.HashSessionID(old)); err != nil {
			return err
		}
	}
	id := newSessionID()
	n.IDHash, n.Lifetime = store.HashSessionID(id), s.cfg.Lifetime
	if err := store.CreateSession(ctx, s.db, n); err != nil {
		return err
	}
	s.setCookie(w, id)
	return nil
}

// sessionHandler is a handler of a logged-in person; p is in the person's language.
type sessionHandler func(w http.ResponseWriter, r *http.Request, p *page, sess store.Session, id string) error

// withSession lets only requests with a live session through; until the password is
// set, only the password page (passwordPage) is open.
func (s *Server) withSession(passwordPage bool, h sessionHandler) handler {
	return func(w http.ResponseWriter, r *http.Request, p *page) error {
		id := s.cookieID(r)
		if id == "" {
			return s.noSession(w, r)
		}
		sess, err := store.TouchSession(r.Context(), s.db, store.HashSessionID(id), s.cfg.IdleTimeout)
		if errors.Is(err, store.ErrNotFound) {
			s.clearCookie(w)
			return s.noSession(w, r)
		}
		if err != nil {
			return err
		}
		if err := s.personal(r.Context(), p, sess.TenantID, sess.CustomerID); err != nil {
			return err
		}
		if sess.MustChangePassword && !passwordPage {
			return errChangePassword
		}
		return h(w, r, p, sess, id)
	}
}

// personal writes p in the customer's language (its locale, else the tenant's, as the
// mails are) and names the tenant in the header.
func (s *Server) personal(ctx context.Context, p *page, tenantID, customerID int64) error {
	info, err := store.GetPortalPage(ctx, s.db, tenantID, customerID)
	if err != nil {
		return err
	}
	p.lang, p.tenant = templates.Lang(info.Locale), info.TenantName
	return nil
}

// noSession sends a browser asking for a page to the login form; everything else is 401.
func (s *Server) noSession(w http.ResponseWriter, r *http.Request) error {
	if r.Method == http.MethodGet && !wantsJSON(r) {
		http.Redirect(w, r, "/portal/login", http.StatusSeeOther)
		return nil
	}
	return errNoSession
}
