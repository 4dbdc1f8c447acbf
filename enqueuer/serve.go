package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/jmoiron/sqlx"

	"portalwerk/jobs"
	"portalwerk/jobs/config"
	"portalwerk/store"
)

func migrate(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := store.Migrate(ctx, db); err != nil {
		return err
	}
	log.Info("database migrated")
	return nil
}

func serve(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if cfg.Development {
		if err := store.Migrate(ctx, db); err != nil {
			return err
		}
	}
	redisOpt, err := asynq.ParseRedisURI(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	srv := newServer(cfg, log, db, redisOpt)
	defer srv.Close()

	hs := &http.Server{
		Addr:              cfg.HTTPAddr,
		Handler:           srv.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.ListenAndServe() }()
	log.Info("enqueuer listening", slog.String("addr", cfg.HTTPAddr))
	select {
	case err := <-errc:
		return fmt.Errorf("listen: %w", err)
	case <-ctx.Done():
	}
	log.Info("enqueuer shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// server holds what the HTTP handlers need.
type server struct {
	cfg       config.Config
	log       *slog.Logger
	db        *sqlx.DB
	redisOpt  asynq.RedisConnOpt
	queue     *asynq.Client
	jobs      *jobs.Client
	inspector *asynq.Inspector
	dashboard *asynqmon.HTTPHandler
}

func newServer(cfg config.Config, log *slog.Logger, db *sqlx.DB, redisOpt asynq.RedisConnOpt) *server {
	q := asynq.NewClient(redisOpt)
	return &server{
		cfg:       cfg,
		log:       log,
		db:        db,
		redisOpt:  redisOpt,
		queue:     q,
		jobs:      jobs.NewClient(q),
		inspector: asynq.NewInspector(redisOpt),
		// The asynq dashboard, read-only unless OPS_READONLY=false.
		dashboard: asynqmon.New(asynqmon.Options{RootPath: "/monitoring", RedisConnOpt: redisOpt, ReadOnly: cfg.OpsReadOnly}),
	}
}

func (s *server) Close() {
	s.queue.Close()
	s.inspector.Close()
	s.dashboard.Close()
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("/monitoring/", s.opsAuth(s.dashboard))
	mux.Handle("GET /metrics", s.opsAuth(s.metrics()))

	mux.Handle("POST /v1/imports", s.auth(s.createImport))
	mux.Handle("GET /v1/imports/{id}", s.auth(s.getImport))
	mux.Handle("POST /v1/imports/{id}/confirm", s.auth(s.confirmImport))
	mux.Handle("POST /v1/imports/{id}/cancel", s.auth(s.cancelImport))
	mux.Handle("GET /v1/imports/{id}/errors", s.auth(s.importErrors))
	mux.Handle("GET /v1/customers", s.auth(s.listCustomers))
	mux.Handle("GET /v1/customers/{portal_id}", s.auth(s.getCustomer))
	return mux
}
