package ops

import (
	"context"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"

	"portalwerk/store"
)

// The imports' figures are read from PostgreSQL at scrape time, so that every
// process's work is counted once.
var (
	importRowsDesc = prometheus.NewDesc("portalwerk_import_rows_read_total",
		"Rows read by import previews (rate() gives rows per second).", nil, nil)
	importsDesc = prometheus.NewDesc("portalwerk_imports",
		"Imports by status.", []string{"status"}, nil)
)

// storeCollector reports the imports' figures from store.ImportStats.
type storeCollector struct {
	log *slog.Logger
	db  sqlx.QueryerContext
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- importRowsDesc
	ch <- importsDesc
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stats, err := store.ImportStats(ctx, c.db)
	if err != nil {
		c.log.WarnContext(ctx, "metrics: read imports", slog.Any("err", err))
		return
	}
	var read int64
	for _, st := range stats {
		read += st.RowsRead
		ch <- prometheus.MustNewConstMetric(importsDesc, prometheus.GaugeValue, float64(st.Imports), string(st.Status))
	}
	ch <- prometheus.MustNewConstMetric(importRowsDesc, prometheus.CounterValue, float64(read))
}
