// Package jobs declares Portalwerk's task types and does the work behind them. A task
// type is declared once, in its own file: the type-name constant, the args (IDs only)
// whose methods name its type, queue and task id, and its worker holding only what it
// uses. Tasks registers them all; the worker's mux, the routing test and the client's
// check of what it enqueues read that one list.
package jobs

import (
	"time"

	"github.com/jmoiron/sqlx"

	"portalwerk/jobs/config"
	"portalwerk/jobs/login"
	"portalwerk/jobs/mail"
)

// Queues. Imports run on their own asynq server with its own slots, so a pile of large
// files can never take the slots that mail and portal work need.
const (
	QueueMail     = "mail"
	QueueDefault  = "default"
	QueuePeriodic = "periodic"
	QueueImports  = "imports"
)

// Deps are what the workers are built from; each worker takes only what it uses.
type Deps struct {
	DB        *sqlx.DB
	Client    *Client
	Retention time.Duration // UPLOAD_RETENTION
	Schedules config.Schedules
	Now       func() time.Time
	Mail      mail.Sender // MAIL_URL, MAIL_FROM
	LoginKeys *login.Keys // LOGIN_KEYS; nil when none are set
	BaseURL   string      // PUBLIC_BASE_URL, the base of mailed links
	MailConns int         // MAIL_CONNECTIONS: parallel SMTP connections of one batch
}

// Tasks returns the registration of every task type, wired to d.
func Tasks(d Deps) []Registration {
	if d.Now == nil {
		d.Now = time.Now
	}
	meterRequests := &MeterRequestsWorker{DB: d.DB, Mail: d.Mail, Keys: d.LoginKeys, BaseURL: d.BaseURL, Connections: d.MailConns, Now: d.Now}
	return []Registration{
		Register[ImportPreview](&ImportPreviewWorker{DB: d.DB, Client: d.Client}),
		Register[ImportApply](&ImportApplyWorker{DB: d.DB}),
		Register[PurgeUploads](&PurgeUploadsWorker{DB: d.DB, Retention: d.Retention, Now: d.Now}),
		Register[PurgeTrash](&PurgeTrashWorker{DB: d.DB, Now: d.Now}),
		Register[ResumeRuns](&ResumeRunsWorker{DB: d.DB, Client: d.Client}),
		Register[Release](&ReleaseWorker{DB: d.DB, Now: d.Now}),
		Register[InvitationsSend](&InvitationsWorker{DB: d.DB, Mail: d.Mail, Keys: d.LoginKeys, BaseURL: d.BaseURL,
			Connections: d.MailConns, Now: d.Now}),
		Register[PasswordReset](&PasswordResetWorker{DB: d.DB, Mail: d.Mail, Keys: d.LoginKeys, BaseURL: d.BaseURL, Now: d.Now}),
		Register[PortalReady](&PortalReadyWorker{DB: d.DB}),
		Register[MeterRequests](meterRequests),
		Register[MeterRequestsPeriodic](&MeterRequestsPeriodicWorker{meterRequests}),
		Register[FanOut](&FanOutWorker{DB: d.DB, Client: d.Client, Jobs: Periodics(d.Schedules)}),
	}
}
