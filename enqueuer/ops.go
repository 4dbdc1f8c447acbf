package main

import (
	"context"
	"net/http"
	"time"

	"github.com/hibiken/asynq/x/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 only while PostgreSQL and Redis both answer.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	status := map[string]string{"postgres": "ok", "redis": "ok"}
	code := http.StatusOK
	if err := s.db.PingContext(ctx); err != nil {
		status["postgres"], code = "unreachable", http.StatusServiceUnavailable
	}
	if s.queue.Ping() != nil {
		status["redis"], code = "unreachable", http.StatusServiceUnavailable
	}
	writeJSON(w, code, status)
}

// metrics serves asynq's queue metrics and Portalwerk's own figures, read from
// PostgreSQL at scrape time so that every process's work is counted once.
func (s *server) metrics() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		metrics.NewQueueMetricsCollector(s.inspector),
		&storeCollector{s: s},
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

var (
	importRowsDesc = prometheus.NewDesc("portalwerk_import_rows_read_total",
		"Rows read by import previews (rate() gives rows per second).", nil, nil)
	importsDesc = prometheus.NewDesc("portalwerk_imports",
		"Imports by status.", []string{"status"}, nil)
)

type storeCollector struct{ s *server }

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- importRowsDesc
	ch <- importsDesc
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var rows []struct {
		Status string `db:"status"`
		N      int64  `db:"n"`
		Read   int64  `db:"read"`
	}
	if err := c.s.db.SelectContext(ctx, &rows, `SELECT status, count(*) AS n, COALESCE(sum(rows_read), 0) AS read FROM imports GROUP BY status`); err != nil {
		c.s.log.Warn("metrics: read imports", "err", err)
		return
	}
	var read int64
	for _, r := range rows {
		read += r.Read
		ch <- prometheus.MustNewConstMetric(importsDesc, prometheus.GaugeValue, float64(r.N), r.Status)
	}
	ch <- prometheus.MustNewConstMetric(importRowsDesc, prometheus.CounterValue, float64(read))
}
