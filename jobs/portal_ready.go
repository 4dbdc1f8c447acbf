package jobs

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/jmoiron/sqlx"

	"portalwerk/store"
)

// TypePortalReady checks contracts for the portal (seed 004 "Portal Ready"): every
// contract's contacts need an address, and no two contacts of one customer may share
// one; passing contacts get portal access.
const TypePortalReady = "portal-ready:check"

// PortalReady is the task of one portal-ready run.
type PortalReady struct {
	RunID    string `json:"run_id"`
	TenantID int64  `json:"tenant_id"`
}

func (PortalReady) TaskType() string { return TypePortalReady }
func (PortalReady) Queue() string    { return QueueDefault }
func (a PortalReady) TaskID() string { return TypePortalReady + ":" + a.RunID }
func (a PortalReady) Tenant() int64  { return a.TenantID }

// ContractSelection is which contracts of the run's account a portal-ready run or a
// meter request covers: all, or those with the given numbers.
type ContractSelection struct {
	All       bool     `json:"all,omitempty"`
	Contracts []string `json:"contracts,omitempty"`
}

// PortalReadyWorker does portal-ready runs.
type PortalReadyWorker struct {
	DB *sqlx.DB
}

func (w *PortalReadyWorker) Work(ctx context.Context, t *Task[PortalReady]) (any, error) {
	return runJob(ctx, w.DB, t.Log, t.Args.RunID, func(ctx context.Context, run store.Run) (store.RunCounts, error) {
		var sel ContractSelection
		if err := json.Unmarshal(run.Params, &sel); err != nil {
			return nil, &RunError{Message: "Die Auswahl der Prüfung ist unlesbar. Bitte starten Sie sie erneut."}
		}
		c, err := store.CheckPortalReady(ctx, w.DB, run.ID, store.ReadyScope{TenantID: run.TenantID, AccountID: run.AccountID,
			All: sel.All, Contracts: sel.Contracts})
		if err != nil {
			return nil, err
		}
		if c.Contracts == 0 {
			return nil, &RunError{Message: "Keiner der angegebenen Verträge wurde im Benutzerkonto gefunden."}
		}
		t.Log.InfoContext(ctx, "contracts checked for the portal", slog.String("run_id", run.ID),
			slog.Int64("contracts", c.Contracts), slog.Int64("not_ready", c.NotReady))
		return store.RunCounts{"contracts": c.Contracts, "ok": c.Contracts - c.NotReady, "not_ready": c.NotReady}, nil
	})
}
