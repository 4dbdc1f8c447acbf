// Package api is the staff JSON API under /v1: callers authenticate with a Bearer API
// key, every query is scoped to the caller's tenant, and handlers return an error that
// one writer turns into the answer.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/jmoiron/sqlx"

	"portalwerk/jobs"
	"portalwerk/store"
)

// Config holds the settings the API uses. A zero limit takes its default (see
// Defaults); tests pass small ones so that slow clients are simulated in seconds.
type Config struct {
	UploadMaxBytes     int64         // UPLOAD_MAX_BYTES: the largest file an upload may carry
	MinUploadRate      int64         // bytes per second an upload must keep up, averaged over UploadGrace, once UploadGrace has passed
	UploadGrace        time.Duration // the time an upload gets before its rate counts, and the window the rate is averaged over
	UploadsPerTenant   int           // uploads of one tenant in flight in this process at once
	DownloadsPerTenant int           // error list downloads of one tenant in flight in this process at once
	KeyLookupTimeout   time.Duration // how long the key check may wait for a database connection
}

// Defaults are the limits of a Config left zero.
var Defaults = Config{
	UploadMaxBytes:     256 << 20,
	MinUploadRate:      32 << 10,
	UploadGrace:        30 * time.Second,
	UploadsPerTenant:   4,
	DownloadsPerTenant: 2,
	KeyLookupTimeout:   5 * time.Second,
}

// withDefaults fills in every limit left zero.
func (c Config) withDefaults() Config {
	d := Defaults
	if c.UploadMaxBytes > 0 {
		d.UploadMaxBytes = c.UploadMaxBytes
	}
	if c.MinUploadRate > 0 {
		d.MinUploadRate = c.MinUploadRate
	}
	if c.UploadGrace > 0 {
		d.UploadGrace = c.UploadGrace
	}
	if c.UploadsPerTenant > 0 {
		d.UploadsPerTenant = c.UploadsPerTenant
	}
	if c.DownloadsPerTenant > 0 {
		d.DownloadsPerTenant = c.DownloadsPerTenant
	}
	if c.KeyLookupTimeout > 0 {
		d.KeyLookupTimeout = c.KeyLookupTimeout
	}
	return d
}

// Queue puts a job's task on the queue (a *jobs.Client); Enqueue reports false, and no
// error, when a task with the same id is already there. CreateRun records a job run and
// enqueues its task.
type Queue interface {
	Enqueue(ctx context.Context, a jobs.Args) (bool, error)
	CreateRun(ctx context.Context, db *sqlx.DB, n store.NewRun, a jobs.Args) error
}

// Server serves the API.
type Server struct {
	log   *slog.Logger
	db    *sqlx.DB
	queue Queue // the only way the API enqueues work
	cfg   Config

	uploads   *perTenant // uploads in flight
	downloads *perTenant // error list downloads in flight
}

// New returns the API over db, enqueuing through queue.
func New(log *slog.Logger, db *sqlx.DB, queue Queue, cfg Config) *Server {
	cfg = cfg.withDefaults()
	return &Server{log: log, db: db, queue: queue, cfg: cfg,
		uploads: newPerTenant(cfg.UploadsPerTenant), downloads: newPerTenant(cfg.DownloadsPerTenant)}
}

// Mount registers the API's routes on mux.
func (s *Server) Mount(mux *http.ServeMux) {
	mux.Handle("POST /v1/imports", s.auth(s.admin("Daten importieren", s.createImport)))
	mux.Handle("GET /v1/imports", s.auth(s.listImports))
	mux.Handle("GET /v1/imports/{id}", s.auth(s.getImport))
	mux.Handle("POST /v1/imports/{id}/confirm", s.auth(s.admin("Importe bestätigen", s.confirmImport)))
	mux.Handle("POST /v1/imports/{id}/cancel", s.auth(s.admin("Importe abbrechen", s.cancelImport)))
	mux.Handle("GET /v1/imports/{id}/errors", s.auth(s.importErrors))
	mux.Handle("GET /v1/imports/{id}/changes", s.auth(s.importChanges))
	mux.Handle("GET /v1/import-templates/{profile}", s.auth(s.importTemplate))
	mux.Handle("GET /v1/customers", s.auth(s.listCustomers))
	mux.Handle("GET /v1/customers/{portal_id}", s.auth(s.getCustomer))
	mux.Handle("GET /v1/customers/{portal_id}/appointments", s.auth(s.listAppointments))
	mux.Handle("POST /v1/customers/{portal_id}/appointments", s.auth(s.admin("Termine eintragen", s.addAppointment)))
	mux.Handle("GET /v1/customers/{portal_id}/visit-reports", s.auth(s.listVisitReports))
	mux.Handle("POST /v1/customers/{portal_id}/visit-reports", s.auth(s.admin("Besuchsberichte eintragen", s.addVisitReport)))
	mux.Handle("GET /v1/customers/{portal_id}/visit-blocks", s.auth(s.listVisitBlocks))
	mux.Handle("POST /v1/customers/{portal_id}/visit-blocks", s.auth(s.admin("Besuchssperren eintragen", s.addVisitBlock)))
	mux.Handle("POST /v1/customers/{portal_id}/transfer", s.auth(s.admin("Kunden transferieren", s.transferCustomer)))
	mux.Handle("GET /v1/contracts", s.auth(s.listContracts))
	mux.Handle("GET /v1/readings", s.auth(s.listReadings))
	mux.Handle("POST /v1/readings/{id}/release", s.auth(s.admin("Zählerstände freigeben", s.releaseReading)))
	mux.Handle("POST /v1/releases", s.auth(s.admin("Zählerstände freigeben", s.createRelease)))
	mux.Handle("GET /v1/releases/{id}", s.auth(s.getRelease))
	mux.Handle("POST /v1/portal-ready", s.auth(s.admin("Verträge prüfen", s.createPortalReady)))
	mux.Handle("GET /v1/portal-ready/{id}", s.auth(s.getPortalReady))
	mux.Handle("POST /v1/meter-requests", s.auth(s.admin("Zählerstände anfordern", s.createMeterRequests)))
	mux.Handle("GET /v1/meter-requests/{id}", s.auth(s.getMeterRequests))
	mux.Handle("GET /v1/templates/meter-request", s.auth(s.getMeterRequestTemplate))
	mux.Handle("PUT /v1/templates/meter-request", s.auth(s.admin("Textbausteine ändern", s.putMeterRequestTemplate)))
	mux.Handle("POST /v1/invitations", s.auth(s.admin("Kunden einladen", s.createInvitations)))
	mux.Handle("GET /v1/invitations/{id}", s.auth(s.getInvitations))
}

// handler is an API handler that knows its caller; a refusal is an *Error.
type handler func(w http.ResponseWriter, r *http.Request, caller store.Account) error
