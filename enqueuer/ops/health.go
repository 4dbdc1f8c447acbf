package ops

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// healthz says the process is up.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 only while PostgreSQL and Redis both answer.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	status := map[string]string{"postgres": "ok", "redis": "ok"}
	code := http.StatusOK
	probe := s.cfg.Probe
	if probe == nil {
		probe = s.db
	}
	if err := probe.PingContext(ctx); err != nil {
		s.log.WarnContext(ctx, "readyz: PostgreSQL unreachable", slog.Any("err", err))
		status["postgres"], code = "unreachable", http.StatusServiceUnavailable
	}
	if err := s.redis.Ping(ctx).Err(); err != nil {
		s.log.WarnContext(ctx, "readyz: Redis unreachable", slog.Any("err", err))
		status["redis"], code = "unreachable", http.StatusServiceUnavailable
	}
	writeJSON(w, code, status)
}
