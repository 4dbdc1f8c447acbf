// Package portal serves the customer-facing pages under /portal: login links, password,
// login and logout, forgotten passwords and the switch between a person's customers.
// Pages are plain server-rendered HTML that works without JavaScript, in German or
// English (pages.go); every route also answers JSON for Accept: application/json. Sessions live in PostgreSQL (random ids,
// stored hashed); POSTs are guarded by the SameSite cookie and an Origin check.
package portal

import (
	"context"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"golang.org/x/text/language"

	"portalwerk/jobs"
	"portalwerk/jobs/login"
)

// Config holds the settings the portal uses.
type Config struct {
	PublicBaseURL string        // PUBLIC_BASE_URL: the portal's own origin; https makes cookies Secure
	Keys          *login.Keys   // LOGIN_KEYS; nil: every link is refused
	IdleTimeout   time.Duration // a session unused this long ends; 0 = 30 min
	Lifetime      time.Duration // a session ends this long after login at the latest; 0 = 12 h
}

// Queue enqueues the password-reset mails (a *jobs.Client).
type Queue interface {
	Enqueue(ctx context.Context, a jobs.Args) (bool, error)
}

// Server serves the portal.
type Server struct {
	log     *slog.Logger
	db      *sqlx.DB
	queue   Queue
	cfg     Config
	origin  string // scheme://host[:port] of PublicBaseURL
	secure  bool
	pages   map[string]map[string]*template.Template // by language, then page
	text    catalog
	matcher language.Matcher // Accept-Language to one of langs
	limits  *limiter
	rates   rates
	now     func() time.Time
}

// New returns the portal over db.
func New(log *slog.Logger, db *sqlx.DB, queue Queue, cfg Config) (*Server, error) {
	u, err := url.Parse(cfg.PublicBaseURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("portal: PUBLIC_BASE_URL %q is not an absolute URL", cfg.PublicBaseURL)
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Minute
	}
	if cfg.Lifetime <= 0 {
		cfg.Lifetime = 12 * time.Hour
	}
	s := &Server{log: log, db: db, queue: queue, cfg: cfg, origin: u.Scheme + "://" + u.Host, secure: u.Scheme == "https",
		limits: newLimiter(maxLimiterKeys), rates: defaultRates, now: time.Now}
	if s.text, err = loadCatalog(); err != nil {
		return nil, err
	}
	if s.pages, err = parsePages(s.text, pageNames); err != nil {
		return nil, err
	}
	tags := make([]language.Tag, len(langs))
	for i, l := range langs {
		tags[i] = language.Make(l)
	}
	s.matcher = language.NewMatcher(tags)
	return s, nil
}

// pageNames are the page templates under templates/portal (each with layout.html).
var pageNames = []string{"landing", "password", "login", "home", "error", "readings", "history"}

// Mount registers the portal's routes on mux.
func (s *Server) Mount(mux *http.ServeMux) {
	mux.Handle("GET /portal/{$}", s.wrap(s.withSession(false, s.home)))
	mux.Handle("GET /portal/l/{token}", s.wrap(s.landing))
	mux.Handle("POST /portal/l/{token}", s.wrap(s.openLink))
	mux.Handle("GET /portal/password", s.wrap(s.withSession(true, s.passwordForm)))
	mux.Handle("POST /portal/password", s.wrap(s.withSession(true, s.setPassword)))
	mux.Handle("GET /portal/login", s.wrap(s.loginForm))
	mux.Handle("POST /portal/login", s.wrap(s.login))
	mux.Handle("POST /portal/logout", s.wrap(s.logout))
	mux.Handle("POST /portal/forgot", s.wrap(s.forgot))
	mux.Handle("GET /portal/companies", s.wrap(s.withSession(false, s.companies)))
	mux.Handle("POST /portal/switch", s.wrap(s.withSession(false, s.switchCustomer)))
	mux.Handle("GET /portal/readings", s.wrap(s.withSession(false, s.readingsPage)))
	mux.Handle("POST /portal/readings", s.wrap(s.withSession(false, s.enterReading)))
	mux.Handle("GET /portal/history", s.wrap(s.withSession(false, s.historyPage)))
	mux.Handle("/portal/", s.wrap(func(w http.ResponseWriter, r *http.Request, _ *page) error {
		return &pageError{status: http.StatusNotFound, title: "err.not_found.title", message: "err.not_found"}
	}))
}

// handler is a portal handler; a refusal is a *pageError. p starts in the browser's
// language; withSession sets the person's.
type handler func(w http.ResponseWriter, r *http.Request, p *page) error

// wrap sets the headers every portal answer carries, refuses cross-site POSTs and
// writes the handler's error.
func (s *Server) wrap(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Add("Vary", "Accept")
		hd.Add("Vary", "Accept-Language")
		p := &page{lang: s.acceptLang(r)}
		var err error
		if r.Method == http.MethodPost && !s.sameOrigin(r) {
			err = &pageError{status: http.StatusForbidden, title: "err.cross_site.title", message: "err.cross_site"}
		} else {
			err = h(w, r, p)
		}
		if err != nil {
			s.writeError(w, r, p, err)
		}
	})
}

// sameOrigin refuses a request whose Origin (or, without one, Sec-Fetch-Site) names
// another site. A request without either (curl, a JSON client) passes: the SameSite
// cookie already keeps other sites' forms from carrying the session.
//
// Under Referrer-Policy: no-referrer, which every portal page sends, browsers send
// "Origin: null" with the page's own form POSTs (Fetch: a request's origin is serialised
// as null under that policy). Such a request passes only when the browser's
// Sec-Fetch-Site, which no page can set, says it came from this origin.
func (s *Server) sameOrigin(r *http.Request) bool {
	site := r.Header.Get("Sec-Fetch-Site")
	if o := r.Header.Get("Origin"); o != "" {
		if o == "null" {
			return site == "same-origin"
		}
		return strings.EqualFold(o, s.origin)
	}
	return site == "" || site == "same-origin" || site == "none"
}

// wantsJSON says whether the client asked for JSON.
func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}
