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
	"portalwerk/jobs/mail"
	"portalwerk/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := config.Load(os.Getenv)
	if err == nil {
		log := cfg.Logger()
		if len(os.Args) > 1 && os.Args[1] == "scheduler" {
			err = runScheduler(ctx, cfg, log)
		} else if len(os.Args) > 1 {
			err = fmt.Errorf("unknown command %q (want no argument or scheduler)", os.Args[1])
		} else {
			err = runWorker(ctx, cfg, log)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

// runWorker serves two asynq servers from one process: one with its own slots for the
// long import tasks, one for mail, portal and periodic work, so that large imports can
// never starve the mail.
func runWorker(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	redisOpt, err := asynq.ParseRedisURI(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	sender, err := mail.New(cfg.MailURL, cfg.MailFrom)
	if err != nil {
		return fmt.Errorf("MAIL_URL: %w", err)
	}
	client := asynq.NewClient(redisOpt)
	defer client.Close()
	mux := jobs.NewHandlers(jobs.Deps{DB: db, Queue: client, Mail: sender, Config: cfg, Log: log}).Mux()

	servers := []*asynq.Server{
		newServer(redisOpt, log, cfg.ImportConcurrency, map[string]int{jobs.QueueImports: 1}),
		newServer(redisOpt, log, cfg.WorkerConcurrency, map[string]int{jobs.QueueMail: 6, jobs.QueueDefault: 3, jobs.QueuePeriodic: 1}),
	}
	for _, s := range servers {
		if err := s.Start(mux); err != nil {
			return fmt.Errorf("start asynq server: %w", err)
		}
	}
	log.Info("worker started", slog.Int("import_slots", cfg.ImportConcurrency), slog.Int("slots", cfg.WorkerConcurrency))
	<-ctx.Done()
	log.Info("worker stopping: running tasks finish or go back to the queue")
	for _, s := range servers {
		s.Shutdown()
	}
	return nil
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

// errorHandler logs every failed task with its id, type and tenant.
func errorHandler(log *slog.Logger) asynq.ErrorHandler {
	return asynq.ErrorHandlerFunc(func(ctx context.Context, task *asynq.Task, err error) {
		id, _ := asynq.GetTaskID(ctx)
		retry, _ := asynq.GetRetryCount(ctx)
		var p struct {
			TenantID int64 `json:"tenant_id"`
		}
		json.Unmarshal(task.Payload(), &p) // the tenant is a nicety of the log line
		log.ErrorContext(ctx, "task failed",
			slog.String("task_id", id), slog.String("type", task.Type()), slog.Int64("tenant", p.TenantID),
			slog.Int("retry", retry), slog.Bool("final", errors.Is(err, asynq.SkipRetry)), slog.Any("err", err))
	})
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
