// Command worker runs Portalwerk's asynq workers; `worker scheduler` runs the scheduler
// that enqueues the periodic jobs.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hibiken/asynq"

	"portalwerk/jobs"
	"portalwerk/jobs/config"
	"portalwerk/jobs/login"
	"portalwerk/jobs/mail"
	"portalwerk/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

const usage = `usage: worker [scheduler]

  worker            run the asynq workers (imports on their own slots)
  worker scheduler  enqueue the periodic jobs (safe to run more than once)

Both read their settings from the environment (see the README).`

func run(ctx context.Context, args []string, getenv func(string) string) error {
	cmd := ""
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(os.Stderr, usage)
		return nil
	case "", "scheduler":
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	log := cfg.Logger()
	redisOpt, err := asynq.ParseRedisURI(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	if cmd == "scheduler" {
		return runScheduler(ctx, redisOpt, jobs.Periodics(cfg.Schedules), log)
	}
	return runWorker(ctx, cfg, redisOpt, log)
}

// runWorker serves two asynq servers from one process: one with its own slots for the
// long import tasks, one for mail, portal and periodic work, so that large imports can
// never starve the mail.
func runWorker(ctx context.Context, cfg config.Config, redisOpt asynq.RedisConnOpt, log *slog.Logger) error {
	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	q := asynq.NewClient(redisOpt)
	defer q.Close()
	sender, err := mail.New(cfg.MailURL, cfg.MailFrom, log.With(slog.String("component", "mail")))
	if err != nil {
		return err
	}
	keys, err := login.NewKeys(cfg.LoginKeys)
	if err != nil {
		// Only invitations and password mails need keys; they fail with a sentence saying so.
		log.Warn("LOGIN_KEYS is not set: invitation batches and password mails cannot be sent")
		keys = nil
	}
	reg, err := jobs.NewRegistry(jobs.Tasks(jobs.Deps{
		DB: db, Client: jobs.NewClient(q), Retention: cfg.UploadRetention, Schedules: cfg.Schedules,
		Mail: sender, LoginKeys: keys, BaseURL: cfg.PublicBaseURL, MailConns: cfg.MailConnections,
	})...)
	if err != nil {
		return err
	}
	mux := reg.Mux(log)
	m := newMetrics()
	mux.Use(m.middleware)
	metricsDone := make(chan error, 1)
	if cfg.WorkerMetricsAddr != "" {
		mctx, stopMetrics := context.WithCancel(ctx)
		defer stopMetrics()
		go func() {
			metricsDone <- serveMetrics(mctx, cfg.WorkerMetricsAddr, m.handler(cfg.OpsUser, cfg.OpsPassword), log)
		}()
	}
	servers := []*asynq.Server{
		newServer(redisOpt, log, cfg.ImportConcurrency, map[string]int{jobs.QueueImports: 1}),
		newServer(redisOpt, log, cfg.WorkerConcurrency, map[string]int{jobs.QueueMail: 6, jobs.QueueDefault: 3, jobs.QueuePeriodic: 1}),
	}
	for _, s := range servers {
		if err := s.Start(mux); err != nil {
			return fmt.Errorf("start asynq server: %w", err)
		}
	}
	log.Info("worker started", slog.Int("import_slots", cfg.ImportConcurrency), slog.Int("slots", cfg.WorkerConcurrency),
		slog.Any("task_types", reg.Types()))
	err = nil
	select {
	case <-ctx.Done():
	case err = <-metricsDone: // the metrics address could not be served
	}
	log.Info("worker stopping: running tasks finish or go back to the queue")
	for _, s := range servers {
		s.Shutdown()
	}
	return err
}

func newServer(redisOpt asynq.RedisConnOpt, log *slog.Logger, concurrency int, queues map[string]int) *asynq.Server {
	return asynq.NewServer(redisOpt, asynq.Config{
		Concurrency:     concurrency,
		Queues:          queues,
		Logger:          slogAdapter{log: log.With(slog.String("component", "asynq"))},
		ErrorHandler:    errorHandler(log),
		ShutdownTimeout: 25 * time.Second,
	})
}

// errorHandler logs every failed task with its id, type and tenant; only a final
// failure, after which asynq archives the task, is an error.
func errorHandler(log *slog.Logger) asynq.ErrorHandler {
	return asynq.ErrorHandlerFunc(func(ctx context.Context, task *asynq.Task, err error) {
		id, _ := asynq.GetTaskID(ctx)
		retry, _ := asynq.GetRetryCount(ctx)
		maxRetry, _ := asynq.GetMaxRetry(ctx)
		var p struct {
			TenantID int64 `json:"tenant_id"`
		}
		json.Unmarshal(task.Payload(), &p) // the tenant is a nicety of the log line
		final := isFinal(err, retry, maxRetry)
		level := slog.LevelWarn
		if final {
			level = slog.LevelError
		}
		log.Log(ctx, level, "task failed",
			slog.String("task_id", id), slog.String("task_type", task.Type()), slog.Int64("tenant_id", p.TenantID),
			slog.Int("retry", retry), slog.Int("max_retry", maxRetry), slog.Bool("final", final), slog.Any("err", err))
	})
}

// isFinal says whether asynq gives the task up after this failure: it never retries a
// SkipRetry error, and retries others until the retry count reaches the maximum.
func isFinal(err error, retry, maxRetry int) bool {
	return errors.Is(err, asynq.SkipRetry) || retry >= maxRetry
}

// slogAdapter lets asynq log through slog; asynq's Logger is not *slog.Logger.
type slogAdapter struct{ log *slog.Logger }

func (a slogAdapter) Debug(args ...any) { a.log.Debug(fmt.Sprint(args...)) }
func (a slogAdapter) Info(args ...any)  { a.log.Info(fmt.Sprint(args...)) }
func (a slogAdapter) Warn(args ...any)  { a.log.Warn(fmt.Sprint(args...)) }
func (a slogAdapter) Error(args ...any) { a.log.Error(fmt.Sprint(args...)) }
func (a slogAdapter) Fatal(args ...any) {
	a.log.Error(fmt.Sprint(args...))
	os.Exit(1)
}
