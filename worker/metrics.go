package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the worker's own figures, on its own registry (never the global
// default): tasks by type, and the mails its tasks send. The mail counters are handed
// to the tasks that send mail (invitations, meter requests).
type metrics struct {
	reg          *prometheus.Registry
	taskDuration *prometheus.HistogramVec
	processed    *prometheus.CounterVec
	failed       *prometheus.CounterVec
	mailsSent    prometheus.Counter
	mailsFailed  prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		taskDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portalwerk_task_duration_seconds",
			Help:    "Task run durations by task type (failed runs included).",
			Buckets: []float64{.01, .05, .1, .5, 1, 5, 10, 30, 60, 120, 300, 600, 1800},
		}, []string{"type"}),
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portalwerk_tasks_processed_total",
			Help: "Task runs by task type, failed or not.",
		}, []string{"type"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portalwerk_tasks_failed_total",
			Help: "Task runs that returned an error (asynq retries or archives them), by task type.",
		}, []string{"type"}),
		mailsSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "portalwerk_mails_sent_total",
			Help: "Mails handed to the mail transport.",
		}),
		mailsFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "portalwerk_mails_failed_total",
			Help: "Mails the transport refused.",
		}),
	}
	m.reg.MustRegister(m.taskDuration, m.processed, m.failed, m.mailsSent, m.mailsFailed,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// middleware times and counts every task by its type.
func (m *metrics) middleware(h asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		start := time.Now()
		err := h.ProcessTask(ctx, t)
		m.taskDuration.WithLabelValues(t.Type()).Observe(time.Since(start).Seconds())
		m.processed.WithLabelValues(t.Type()).Inc()
		if err != nil {
			m.failed.WithLabelValues(t.Type()).Inc()
		}
		return err
	})
}

// handler serves the metrics behind basic auth (OPS_USER/OPS_PASSWORD, as the
// enqueuer's); without a password nobody gets in.
func (m *metrics) handler(user, password string) http.Handler {
	wantUser, wantPass := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(password))
	metrics := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		gotUser, gotPass := sha256.Sum256([]byte(u)), sha256.Sum256([]byte(p))
		match := subtle.ConstantTimeCompare(gotUser[:], wantUser[:]) & subtle.ConstantTimeCompare(gotPass[:], wantPass[:])
		if !ok || password == "" || match != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="portalwerk worker", charset="UTF-8"`)
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		metrics.ServeHTTP(w, r)
	}))
	return mux
}

// serveMetrics serves /metrics on addr until ctx ends.
func serveMetrics(ctx context.Context, addr string, h http.Handler, log *slog.Logger) error {
	hs := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- hs.ListenAndServe() }()
	log.Info("worker metrics listening", slog.String("addr", addr))
	select {
	case err := <-errc:
		return fmt.Errorf("worker metrics: listen %s: %w", addr, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("worker metrics: shutdown: %w", err)
	}
	return nil
}
