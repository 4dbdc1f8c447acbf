// Package ops serves what operators use: /healthz, /readyz, the Prometheus /metrics and
// the asynq dashboard under /monitoring/, the last two behind basic auth.
package ops

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynq/x/metrics"
	"github.com/hibiken/asynqmon"
	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
)

// Config holds the settings the operations endpoints use.
type Config struct {
	User     string // OPS_USER
	Password string // OPS_PASSWORD; with none, the dashboard and the metrics stay closed
	ReadOnly bool   // OPS_READONLY: the dashboard only shows, it cannot delete or retry
	// Probe is the pool /readyz pings PostgreSQL through: one of its own, so that a busy
	// main pool (every connection in use) does not make the enqueuer look down. Nil: db.
	Probe *sqlx.DB
}

// Server serves the operations endpoints.
type Server struct {
	log       *slog.Logger
	db        *sqlx.DB
	redis     redis.UniversalClient
	inspector *asynq.Inspector
	dashboard *asynqmon.HTTPHandler
	logins    *loginThrottle
	cfg       Config
	reg       *prometheus.Registry // this server's metrics; never the global default
	http      httpMetrics
}

// New returns the operations endpoints over db and the queue's Redis; Close releases
// the connections it opens.
func New(log *slog.Logger, db *sqlx.DB, redisOpt asynq.RedisConnOpt, cfg Config) (*Server, error) {
	rdb, ok := redisOpt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, fmt.Errorf("ops: unsupported Redis connection option %T", redisOpt)
	}
	reg := prometheus.NewRegistry()
	s := &Server{
		log:       log,
		db:        db,
		redis:     rdb,
		inspector: asynq.NewInspector(redisOpt),
		dashboard: asynqmon.New(asynqmon.Options{RootPath: "/monitoring", RedisConnOpt: redisOpt, ReadOnly: cfg.ReadOnly}),
		logins:    newLoginThrottle(time.Now),
		cfg:       cfg,
		reg:       reg,
		http:      newHTTPMetrics(reg),
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		metrics.NewQueueMetricsCollector(s.inspector),
		&storeCollector{log: log, db: db},
	)
	return s, nil
}

// Close closes the Redis connections.
func (s *Server) Close() error {
	return errors.Join(s.dashboard.Close(), s.inspector.Close(), s.redis.Close())
}

// Mount registers the operations routes on mux.
func (s *Server) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("/monitoring/", s.protect(s.dashboard))
	mux.Handle("GET /metrics", s.protect(promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{})))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
