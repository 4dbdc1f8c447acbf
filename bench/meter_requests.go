package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"

	"portalwerk/jobs"
	"portalwerk/jobs/config"
	"portalwerk/jobs/login"
	"portalwerk/jobs/mail"
	"portalwerk/store"
)

// The meter-request run's mail rate, at least this share of the invitation batch's.
const minMeterRatio = 0.8

// meterRequestRate runs a meter request of every contract for period through w and
// returns its mails/s (the portal-ready check and the recipients included).
func meterRequestRate(ctx context.Context, db *sqlx.DB, acc store.Account, sink *discardSink, w *jobs.MeterRequestsWorker, period string, contracts int) (float64, error) {
	a := jobs.MeterRequests{RunID: store.NewID(), TenantID: acc.TenantID}
	return mailRunRate(ctx, db, acc, sink, store.RunMeterRequests, `{"period":"`+period+`","all":true}`, a.RunID, a, contracts, func() error {
		_, err := w.Work(ctx, &jobs.Task[jobs.MeterRequests]{Args: a, ID: a.TaskID(), Log: slog.New(slog.DiscardHandler)})
		return err
	})
}

// defaultBenchConns is the connections both mail runs use (the workers' default).
const defaultBenchConns = 4

// meterRequestsDB is the meter-request benchmark's own database.
const meterRequestsDB = "portalwerk_bench_meter_requests"

// runMeterRequests measures one meter-request run over contracts portal contracts with
// two registers and one contact each: the portal-ready check, the recipients and one
// mail per contact to an SMTP sink on loopback; then, in the same database and against
// the same sink, an invitation batch of as many customers (the contacts' addresses), so
// the two mail rates are compared in one run.
func runMeterRequests(ctx context.Context, adminURL string, contracts, rounds int, keep bool) error {
	db, _, drop, err := benchDatabase(ctx, adminURL, meterRequestsDB, keep)
	if err != nil {
		return err
	}
	defer drop()
	acc, err := benchAccount(ctx, db)
	if err != nil {
		return err
	}
	t := time.Now()
	steps := append(slices.Clone(meterMasterData),
		`INSERT INTO contacts (tenant_id, customer_id, name, email)
			SELECT $1, id, 'Kontakt ' || external_id, lower(external_id) || '@example.de' FROM customers WHERE account_id = $2`,
		`INSERT INTO contract_contacts SELECT ct.id, p.id FROM contracts ct JOIN contacts p ON p.customer_id = ct.customer_id WHERE ct.tenant_id = $1`,
		`ANALYZE`)
	if err := seedSQL(ctx, db, acc, contracts, steps); err != nil {
		return err
	}
	note("meter requests: seeded %d contracts in %.1fs", contracts, time.Since(t).Seconds())

	sink, stop, err := startDiscardSink()
	if err != nil {
		return err
	}
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sender, err := mail.New("smtp://"+sink.addr, "zaehler@example.de", log)
	if err != nil {
		return err
	}
	k := config.LoginKey{ID: "bench"}
	copy(k.Secret[:], "0123456789abcdef0123456789abcdef")
	keys, err := login.NewKeys([]config.LoginKey{k})
	if err != nil {
		return err
	}
	w := &jobs.MeterRequestsWorker{DB: db, Mail: sender, Keys: keys, BaseURL: "http://localhost:8080", Connections: defaultBenchConns}
	iw := &jobs.InvitationsWorker{DB: db, Mail: sender, Keys: keys, BaseURL: "http://localhost:8080", Connections: defaultBenchConns}
	// The invitations go to the contacts' addresses.
	if _, err := db.ExecContext(ctx, `UPDATE customers c SET email = p.email FROM contacts p WHERE p.customer_id = c.id AND c.account_id = $1`, acc.ID); err != nil {
		return err
	}
	fmt.Printf("meter requests: %d contracts × 2 registers, one contact each, %d SMTP connections, %d rounds (a new month each) against an invitation batch of as many customers\n",
		contracts, defaultBenchConns, rounds)
	var meterRates, inviteRates, ratios []float64
	for round := range rounds {
		period := time.Date(2026, time.Month(11+round), 1, 0, 0, 0, 0, time.UTC).Format("2006-01")
		mr, err := meterRequestRate(ctx, db, acc, sink, w, period, contracts)
		if err != nil {
			return err
		}
		if _, err := db.ExecContext(ctx, `UPDATE customers SET invited_at = NULL WHERE account_id = $1`, acc.ID); err != nil {
			return err
		}
		if _, err := db.ExecContext(ctx, `VACUUM (ANALYZE) customers`); err != nil {
			return err
		}
		ir, err := inviteRate(ctx, db, acc, sink, iw, contracts)
		if err != nil {
			return fmt.Errorf("invitations: %w", err)
		}
		meterRates, inviteRates, ratios = append(meterRates, mr), append(inviteRates, ir), append(ratios, mr/ir)
		fmt.Printf("  round %d (%s): meter requests %.0f mails/s (%.1f s); invitations %.0f mails/s; %.2f ×\n",
			round+1, period, mr, float64(contracts)/mr, ir, mr/ir)
	}
	ratio := median(ratios)
	fmt.Printf("meter requests median %.0f mails/s, invitations median %.0f mails/s; median ratio %.2f × (target ≥ %.1f: %s)\n",
		median(meterRates), median(inviteRates), ratio, minMeterRatio, verdict(ratio >= minMeterRatio))
	return nil
}
