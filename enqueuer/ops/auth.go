package ops

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// protect puts h behind basic auth with throttled failures, refuses cross-site writes
// and keeps it out of other sites' frames.
func (s *Server) protect(h http.Handler) http.Handler {
	return noFraming(sameOriginWrites(s.basicAuth(h)))
}

// basicAuth lets through only user:password, compared in constant time; with no
// password configured nobody gets through. An address with too many failed logins is
// answered 429 until its block ends, whatever it sends.
func (s *Server) basicAuth(h http.Handler) http.Handler {
	wantUser := sha256.Sum256([]byte(s.cfg.User))
	wantPass := sha256.Sum256([]byte(s.cfg.Password))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip := clientIP(r)
		if wait := s.logins.blocked(ip); wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
			http.Error(w, "Too many failed logins; try again later.", http.StatusTooManyRequests)
			return
		}
		u, p, ok := r.BasicAuth()
		gotUser := sha256.Sum256([]byte(u))
		gotPass := sha256.Sum256([]byte(p))
		match := subtle.ConstantTimeCompare(gotUser[:], wantUser[:]) & subtle.ConstantTimeCompare(gotPass[:], wantPass[:])
		if !ok || s.cfg.Password == "" || match != 1 {
			if ok {
				// A browser's first request carries no credentials: only a wrong password counts.
				s.logins.failed(ip)
			}
			w.Header().Set("WWW-Authenticate", `Basic realm="portalwerk operations", charset="UTF-8"`)
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		s.logins.succeeded(ip)
		h.ServeHTTP(w, r)
	})
}

// clientIP is the connection's address. X-Forwarded-For is not trusted: anyone could
// send one to escape the throttle.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// sameOriginWrites refuses a request that changes something (the dashboard's delete,
// retry, pause with OPS_READONLY=false) when the browser says it comes from another
// site: a cross-site form would otherwise ride the browser's cached basic-auth login.
func sameOriginWrites(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
				http.Error(w, "Cross-site request refused.", http.StatusForbidden)
				return
			}
			if origin := r.Header.Get("Origin"); origin != "" {
				u, err := url.Parse(origin)
				if err != nil || u.Host != r.Host {
					http.Error(w, "Cross-site request refused.", http.StatusForbidden)
					return
				}
			}
		}
		h.ServeHTTP(w, r)
	})
}

// noFraming forbids framing (clickjacking of the dashboard's buttons) and MIME sniffing.
func noFraming(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Content-Security-Policy", "frame-ancestors 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

// Failed-login throttle: an address with maxFailures wrong passwords within
// failureWindow of its first one is blocked for failureWindow after the last one.
const (
	maxFailures   = 10
	failureWindow = 10 * time.Minute
	// maxTracked bounds the throttle's memory; past it, expired entries are dropped (at
	// most once a minute) and, when none has expired, new addresses are not tracked.
	maxTracked = 10000
)

type loginThrottle struct {
	mu    sync.Mutex
	now   func() time.Time
	fails map[string]*failures
	swept time.Time
}

type failures struct {
	n           int
	first, last time.Time
}

func newLoginThrottle(now func() time.Time) *loginThrottle {
	return &loginThrottle{now: now, fails: map[string]*failures{}}
}

// blocked returns how long ip still has to wait; 0 when it may try.
func (l *loginThrottle) blocked(ip string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.fails[ip]
	if f == nil || f.n < maxFailures {
		return 0
	}
	wait := f.last.Add(failureWindow).Sub(l.now())
	if wait <= 0 {
		delete(l.fails, ip)
		return 0
	}
	return wait
}

func (l *loginThrottle) failed(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f := l.fails[ip]
	if f == nil {
		if len(l.fails) >= maxTracked && now.Sub(l.swept) > time.Minute {
			l.swept = now
			for k, v := range l.fails {
				if now.Sub(v.last) > failureWindow {
					delete(l.fails, k)
				}
			}
		}
		if len(l.fails) >= maxTracked {
			return
		}
		f = &failures{first: now}
		l.fails[ip] = f
	}
	if now.Sub(f.first) > failureWindow && f.n < maxFailures {
		f.n, f.first = 0, now
	}
	f.n++
	f.last = now
}

func (l *loginThrottle) succeeded(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, ip)
}
