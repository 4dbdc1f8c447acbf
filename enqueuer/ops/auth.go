package ops

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
)

// protect puts h behind basic auth and keeps it out of other sites' frames.
func (s *Server) protect(h http.Handler) http.Handler {
	return noFraming(basicAuth(s.cfg.User, s.cfg.Password, h))
}

// basicAuth lets through only user:password, compared in constant time; with no
// password configured nobody gets through.
func basicAuth(user, password string, h http.Handler) http.Handler {
	wantUser := sha256.Sum256([]byte(user))
	wantPass := sha256.Sum256([]byte(password))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		gotUser := sha256.Sum256([]byte(u))
		gotPass := sha256.Sum256([]byte(p))
		match := subtle.ConstantTimeCompare(gotUser[:], wantUser[:]) & subtle.ConstantTimeCompare(gotPass[:], wantPass[:])
		if !ok || password == "" || match != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="portalwerk operations", charset="UTF-8"`)
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
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
