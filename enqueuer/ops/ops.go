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
	"github.com/hibiken/asynqmon"
	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"
)

// Config holds the settings the operations endpoints use.
type Config struct {
	User     string // OPS_USER
	Password string // OPS_PASSWORD; with none, the dashboard and the metrics stay closed
	ReadOnly bool   // OPS_READONLY: the dashboard only shows, it cannot delete or retry
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
}

// New returns the operations endpoints over db and the queue's Redis; Close releases
// the connections it opens.
func New(log *slog.Logger, db *sqlx.DB, redisOpt asynq.RedisConnOpt, cfg Config) (*Server, error) {
	rdb, ok := redisOpt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, fmt.Errorf("ops: unsupported Redis connection option %T", redisOpt)
	}
	return &Server{
		log:       log,
		db:        db,
		redis:     rdb,
		inspector: asynq.NewInspector(redisOpt),
		dashboard: asynqmon.New(asynqmon.Options{RootPath: "/monitoring", RedisConnOpt: redisOpt, ReadOnly: cfg.ReadOnly}),
		logins:    newLoginThrottle(time.Now),
		cfg:       cfg,
	}, nil
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
	mux.Handle("GET /metrics", s.protect(s.metrics()))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
