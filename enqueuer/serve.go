package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/hibiken/asynq"

	"portalwerk/enqueuer/api"
	"portalwerk/enqueuer/ops"
	"portalwerk/enqueuer/portal"
	"portalwerk/jobs"
	"portalwerk/jobs/config"
	"portalwerk/jobs/login"
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
	queue := asynq.NewClient(redisOpt)
	defer queue.Close()
	probe, err := store.OpenProbe(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer probe.Close()
	opsSrv, err := ops.New(log, db, redisOpt, ops.Config{User: cfg.OpsUser, Password: cfg.OpsPassword, ReadOnly: cfg.OpsReadOnly, Probe: probe})
	if err != nil {
		return err
	}
	defer opsSrv.Close()
	client := jobs.NewClient(queue)
	apiSrv := api.New(log, db, client, api.Config{UploadMaxBytes: cfg.UploadMaxBytes})
	keys, err := login.NewKeys(cfg.LoginKeys)
	if err != nil {
		log.Warn("LOGIN_KEYS is not set: every portal login link is refused")
		keys = nil
	}
	portalSrv, err := portal.New(log, db, client, portal.Config{PublicBaseURL: cfg.PublicBaseURL, Keys: keys})
	if err != nil {
		return err
	}

	ln, err := listen(cfg.HTTPAddr, defaultLimits)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hs := newHTTPServer(routes(opsSrv, apiSrv, portalSrv), defaultLimits)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
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
