package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"portalwerk/jobs"
	"portalwerk/store"
)

// releaseDB is the release benchmark's own database.
const releaseDB = "portalwerk_bench_release"

// minReleaseRate is the release's target: readings checked and written per second.
const minReleaseRate = 50000.0

// runRelease measures a release of 2 × contracts entered readings: contracts customers
// with one contract, one meter and two registers each, every register with two released
// readings (so that every rule has its data) and one entered reading, one in twenty of
// them implausible.
func runRelease(ctx context.Context, adminURL string, contracts, rounds int, keep bool) error {
	db, _, drop, err := benchDatabase(ctx, adminURL, releaseDB, keep)
	if err != nil {
		return err
	}
	defer drop()
	acc, err := benchAccount(ctx, db)
	if err != nil {
		return err
	}
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	w := &jobs.ReleaseWorker{DB: db, Now: func() time.Time { return now }}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	fmt.Printf("release: %d contracts × 2 registers = %d entered readings, %d rounds\n", contracts, 2*contracts, rounds)
	var secs []float64
	for round := 1; round <= rounds; round++ {
		t := time.Now()
		if err := seedReadings(ctx, db, acc, contracts, round); err != nil {
			return fmt.Errorf("seed readings: %w", err)
		}
		note("round %d: seeded in %.1fs", round, time.Since(t).Seconds())
		id := store.NewID()
		a := jobs.Release{RunID: id, TenantID: acc.TenantID}
		payload, _ := json.Marshal(a)
		if err := store.CreateRun(ctx, db, store.NewRun{ID: id, TenantID: acc.TenantID, AccountID: acc.ID, CreatedBy: acc.ID,
			Kind: store.RunReleases, Params: json.RawMessage(`{"all":true}`), TaskType: a.TaskType(), TaskQueue: a.Queue(),
			TaskID: a.TaskID(), TaskPayload: payload}); err != nil {
			return err
		}
		t = time.Now()
		if _, err := w.Work(ctx, &jobs.Task[jobs.Release]{Args: a, ID: a.TaskID(), Log: log}); err != nil {
			return err
		}
		sec := time.Since(t).Seconds()
		run, err := store.RunByID(ctx, db, id)
		if err != nil {
			return err
		}
		if run.Status != store.RunDone || run.Counts["checked"] != int64(2*contracts) {
			return fmt.Errorf("release run %s: %s %v", id, run.Status, run.Counts)
		}
		secs = append(secs, sec)
		fmt.Printf("  round %d: %.2f s, %.0f readings/s (checked %d, released %d, failed %d)\n", round, sec,
			float64(run.Counts["checked"])/sec, run.Counts["checked"], run.Counts["released"], run.Counts["failed"])
	}
	med := median(secs)
	rate := float64(2*contracts) / med
	fmt.Printf("release median: %.2f s, %.0f readings/s (target ≥ %.0f readings/s: %s)\n", med, rate, minReleaseRate, verdict(rate >= minReleaseRate))
	return nil
}

// seedReadings builds the master data in the first round and, in every round, the
// readings afresh: two released ones a month apart on every register (10 units a day
// expected) and an entered one 20 days later, every twentieth of them implausible.
func seedReadings(ctx context.Context, db *sqlx.DB, acc store.Account, contracts, round int) error {
	var steps []string
	if round == 1 {
		steps = append(steps, meterMasterData...)
	}
	steps = append(steps,
		`TRUNCATE release_protocol, readings`,
		`INSERT INTO readings (tenant_id, register_id, value, read_on, status, source, released_at)
			SELECT $1, id, 1000 + id % 500, date '2026-01-01', 'released', 'import', now() FROM registers WHERE tenant_id = $1
			UNION ALL
			SELECT $1, id, 1300 + id % 500, date '2026-01-31', 'released', 'import', now() FROM registers WHERE tenant_id = $1`,
		`INSERT INTO readings (tenant_id, register_id, value, read_on, source)
			SELECT $1, id, 1300 + id % 500 + CASE WHEN id % 20 = 0 THEN 5000 ELSE 200 END, '2026-02-20', 'portal'
			FROM registers WHERE tenant_id = $1`,
		`ANALYZE`)
	if err := seedSQL(ctx, db, acc, contracts, steps); err != nil {
		return err
	}
	return nil
}

// meterMasterData seeds $3 portal contracts (monthly) of the account $2, one per
// customer, each with one meter of two registers.
var meterMasterData = []string{
	`INSERT INTO customers (tenant_id, account_id, external_id) SELECT $1, $2, 'K-' || i FROM generate_series(1, $3) i`,
	`INSERT INTO contracts (tenant_id, customer_id, number, reporting, "interval")
		SELECT $1, id, 'V-' || external_id, 'portal', 'monthly' FROM customers WHERE account_id = $2`,
	`INSERT INTO meters (tenant_id, contract_id, number) SELECT $1, id, 'M-' || number FROM contracts WHERE tenant_id = $1`,
	`INSERT INTO registers (tenant_id, meter_id, name, unit, digits, decimals)
		SELECT $1, m.id, n, 'Seiten', 7, 0 FROM meters m, unnest(ARRAY['Schwarz/Weiß', 'Farbe']) n WHERE m.tenant_id = $1`,
}

// seedSQL runs the statements in order, each with the arguments it uses: $1 the
// tenant, $2 the account, $3 the number of contracts.
func seedSQL(ctx context.Context, db *sqlx.DB, acc store.Account, contracts int, steps []string) error {
	for _, q := range steps {
		var args []any
		switch {
		case strings.Contains(q, "$3"):
			args = []any{acc.TenantID, acc.ID, contracts}
		case strings.Contains(q, "$2"):
			args = []any{acc.TenantID, acc.ID}
		case strings.Contains(q, "$1"):
			args = []any{acc.TenantID}
		}
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("%.60s: %w", q, err)
		}
	}
	return nil
}
