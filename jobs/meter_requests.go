package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io/fs"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"
	"github.com/robfig/cron/v3"

	"portalwerk/jobs/login"
	"portalwerk/jobs/mail"
	"portalwerk/store"
	"portalwerk/templates"
)

// TypeMeterRequests mails a meter request: the contracts (reporting=portal) are checked
// as portal-ready does, and every contact of a ready contract gets one mail per period
// with its meter-entry link.
const TypeMeterRequests = "meter-requests:send"

// MeterRequests is the task of one meter-request run.
type MeterRequests struct {
	RunID    string `json:"run_id"`
	TenantID int64  `json:"tenant_id"`
}

func (MeterRequests) TaskType() string { return TypeMeterRequests }
func (MeterRequests) Queue() string    { return QueueMail }
func (a MeterRequests) TaskID() string { return TypeMeterRequests + ":" + a.RunID }
func (a MeterRequests) Tenant() int64  { return a.TenantID }

// MeterRequestParams are what a meter-request run was asked for (the run's params).
type MeterRequestParams struct {
	Period string `json:"period"`
	ContractSelection
}

// TypeMeterRequestsPeriodic requests, for one tenant, every portal contract whose
// current period has no request yet (METER_REQUEST_CRON, per tenant by the fan-out).
const TypeMeterRequestsPeriodic = "meter-requests:periodic"

// MeterRequestsPeriodic is one tenant's periodic request in a slot. Period is the month
// (Europe/Berlin) the slot falls in; it selects each contract's current period.
type MeterRequestsPeriodic struct {
	TenantID int64  `json:"tenant_id"`
	Period   string `json:"period"`
	Slot     string `json:"slot"`
}

func (MeterRequestsPeriodic) TaskType() string { return TypeMeterRequestsPeriodic }
func (MeterRequestsPeriodic) Queue() string    { return QueueMail }
func (a MeterRequestsPeriodic) TaskID() string {
	return TypeMeterRequestsPeriodic + ":" + strconv.FormatInt(a.TenantID, 10) + "@" + a.Period + "@" + a.Slot
}
func (a MeterRequestsPeriodic) Tenant() int64 { return a.TenantID }

// meterRequestsJob requests readings every slot of METER_REQUEST_CRON, per tenant.
func meterRequestsJob(schedule cron.Schedule) Periodic {
	return Periodic{Name: TypeMeterRequestsPeriodic, Schedule: schedule, PerTenant: func(tenantID int64, slot time.Time) Args {
		return MeterRequestsPeriodic{TenantID: tenantID, Period: slot.In(berlin()).Format("2006-01"), Slot: SlotKey(slot)}
	}}
}

var (
	monthRE   = regexp.MustCompile(`^(\d{4})-(0[1-9]|1[0-2])$`)
	quarterRE = regexp.MustCompile(`^(\d{4})-Q([1-4])$`)
	yearRE    = regexp.MustCompile(`^(\d{4})$`)
)

// ParsePeriod reads a period (SPEC §5): YYYY-MM selects each contract's period that
// contains the month (the month, its quarter or its year, by the contract's interval);
// YYYY-Qn only quarterly contracts, YYYY only yearly ones. The error is a sentence for
// the user.
func ParsePeriod(s string) (store.Periods, error) {
	s = strings.TrimSpace(s)
	span := func(key string, y, m, months int) store.PeriodSpan {
		start := time.Date(y, time.Month(m), 1, 0, 0, 0, 0, time.UTC)
		return store.PeriodSpan{Key: key, Start: start, End: start.AddDate(0, months, -1)}
	}
	if m := monthRE.FindStringSubmatch(s); m != nil {
		y, _ := strconv.Atoi(m[1])
		mo, _ := strconv.Atoi(m[2])
		q := (mo-1)/3 + 1
		return store.Periods{Monthly: span(s, y, mo, 1), Quarterly: span(fmt.Sprintf("%d-Q%d", y, q), y, (q-1)*3+1, 3),
			Yearly: span(m[1], y, 1, 12)}, nil
	}
	if m := quarterRE.FindStringSubmatch(s); m != nil {
		y, _ := strconv.Atoi(m[1])
		q, _ := strconv.Atoi(m[2])
		return store.Periods{Quarterly: span(s, y, (q-1)*3+1, 3)}, nil
	}
	if m := yearRE.FindStringSubmatch(s); m != nil {
		y, _ := strconv.Atoi(m[1])
		return store.Periods{Yearly: span(s, y, 1, 12)}, nil
	}
	return store.Periods{}, fmt.Errorf("„%s“ ist kein Zeitraum: erlaubt sind ein Monat (2026-11), ein Quartal (2026-Q4) oder ein Jahr (2026)", s)
}

// meterLinkGrace is how long after its period's end a meter-entry link stays valid at
// most; the release of the period's readings revokes it earlier.
const meterLinkGrace = 60 * 24 * time.Hour

// MeterRequestsWorker mails meter requests, manual and periodic, through the same batch
// mailer as invitations (batchMailer): each of Connections senders keeps one SMTP
// connection, claims due recipients (in PostgreSQL, before the mail is sent), mints
// their links, sends, and marks them sent, failed, or due again after a back-off.
type MeterRequestsWorker struct {
	DB          *sqlx.DB
	Mail        mail.Sender
	Keys        *login.Keys
	BaseURL     string
	Connections int // 0 = 4
	Batch       int // recipients claimed and not yet marked per connection, at most; 0 = 200
	MaxAttempts int // 0 = 5
	Backoff     func(attempt int) time.Duration
	Now         func() time.Time
}

// MeterRequestsPeriodicWorker is the periodic entry of the same work.
type MeterRequestsPeriodicWorker struct{ *MeterRequestsWorker }

const meterUncertainMessage = "Der Versand wurde unterbrochen; ob diese Anforderung zugestellt wurde, ist unbekannt. Sie wird für diesen Zeitraum nicht erneut gesendet."

func (w *MeterRequestsWorker) Work(ctx context.Context, t *Task[MeterRequests]) (any, error) {
	return runJob(ctx, w.DB, t.Log, t.Args.RunID, func(ctx context.Context, run store.Run) (store.RunCounts, error) {
		var p MeterRequestParams
		if err := json.Unmarshal(run.Params, &p); err != nil {
			return nil, &RunError{Message: "Die Zählerstandsanforderung ist unvollständig. Bitte starten Sie sie erneut."}
		}
		periods, err := ParsePeriod(p.Period)
		if err != nil {
			return nil, &RunError{Message: err.Error() + "."}
		}
		counts, err := w.request(ctx, t.Log.With(slog.String("run_id", run.ID)), run.ID, &run.ID, store.ReadyScope{
			TenantID: run.TenantID, AccountID: run.AccountID, All: p.All, Contracts: p.Contracts, Periods: &periods})
		if err == nil && counts["contracts"] == 0 {
			return nil, &RunError{Message: "Keiner der angegebenen Verträge meldet seine Zählerstände über das Portal (reporting=portal) in diesem Zeitraum."}
		}
		return counts, err
	})
}

func (w *MeterRequestsPeriodicWorker) Work(ctx context.Context, t *Task[MeterRequestsPeriodic]) (any, error) {
	periods, err := ParsePeriod(t.Args.Period)
	if err != nil {
		return nil, fmt.Errorf("periodic meter request: %v: %w", err, asynq.SkipRetry)
	}
	counts, err := w.request(ctx, t.Log, t.ID, nil, store.ReadyScope{TenantID: t.Args.TenantID, All: true, Periods: &periods, Unrequested: true})
	if err != nil {
		return nil, err
	}
	t.Log.InfoContext(ctx, "periodic meter requests", slog.String("period", t.Args.Period), slog.Any("counts", counts))
	return counts, nil
}

// request checks the scope's contracts, records the recipients and mails them; batch
// names the work (the run's id, or the periodic task's).
func (w *MeterRequestsWorker) request(ctx context.Context, log *slog.Logger, batch string, runID *string, scope store.ReadyScope) (store.RunCounts, error) {
	if w.Keys == nil || w.Mail == nil {
		return nil, &RunError{Message: "Der Versand von Zählerstandsanforderungen ist nicht eingerichtet (Login-Schlüssel oder Mailversand fehlen). Bitte wenden Sie sich an den Support."}
	}
	ready, err := store.CheckPortalReady(ctx, w.DB, batch, scope)
	if err != nil {
		return nil, err
	}
	if _, err := store.SelectMeterRecipients(ctx, w.DB, scope.TenantID, batch); err != nil {
		return nil, err
	}
	tmpl, err := w.template(ctx, scope.TenantID)
	if err != nil {
		return nil, err
	}
	tenant, err := store.GetTenantMailInfo(ctx, w.DB, scope.TenantID)
	if err != nil {
		return nil, err
	}
	t := &meterTable{w: w, tenant: scope.TenantID, tenantName: tenant.Name, batch: batch, runID: runID, tmpl: tmpl}
	m := &batchMailer[meterRow]{DB: w.DB, Mail: w.Mail, Log: log, What: "meter request", Table: t,
		Connections: w.Connections, Batch: w.Batch, MaxAttempts: w.MaxAttempts, Backoff: w.Backoff, Now: w.Now}
	if runID != nil {
		m.Progress = func(ctx context.Context) { t.recordProgress(ctx, log) }
	}
	if err := m.run(ctx); err != nil {
		return nil, err
	}
	p, err := t.progress(ctx)
	if err != nil {
		return nil, err
	}
	return store.RunCounts{"contracts": ready.Contracts, "not_ready": ready.NotReady, "contacts": p.Contacts,
		"sent": p.Sent, "failed": p.Failed}, nil
}

// meterTemplate is the HTML of the request mail: the tenant's text block, or the
// default of its language.
type meterTemplate struct {
	own   string
	byLan map[string]string
}

func (w *MeterRequestsWorker) template(ctx context.Context, tenantID int64) (meterTemplate, error) {
	own, err := store.MailTemplate(ctx, w.DB, tenantID, "meter-request")
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return meterTemplate{}, err
	}
	t := meterTemplate{own: own, byLan: map[string]string{}}
	for _, lang := range []string{"de", "en"} {
		b, err := fs.ReadFile(templates.FS, "mail/meter-request."+lang+".html")
		if err != nil {
			return meterTemplate{}, fmt.Errorf("meter-request template: %w", err)
		}
		t.byLan[lang] = string(b)
	}
	return t, nil
}

// message is a recipient's mail: #URL# becomes the link (the template is the tenant's
// HTML, trusted as it is; the link is escaped for it).
func (t meterTemplate) message(lang, tenant, link, id, to string) mail.Message {
	body := t.own
	if body == "" {
		body = t.byLan[lang]
	}
	subject, text := "Bitte melden Sie Ihre Zählerstände", "Guten Tag,\n\nbitte teilen Sie uns Ihre Zählerstände mit. Über diesen Link gelangen Sie ohne Passwort direkt zur Eingabe:\n\n"+link+"\n\nVielen Dank!\n"+tenant+"\n"
	if lang == "en" && t.own == "" {
		subject, text = "Please report your meter readings", "Hello,\n\nplease report your meter readings. This link takes you straight to the entry, no password needed:\n\n"+link+"\n\nThank you!\n"+tenant+"\n"
	}
	if tenant != "" {
		subject += " – " + tenant
	}
	return mail.Message{To: to, Subject: subject, HTML: strings.ReplaceAll(body, "#URL#", html.EscapeString(link)), Text: text, ID: id}
}

// meterTable is one batch's meter_request_recipients for the batch mailer.
type meterTable struct {
	w          *MeterRequestsWorker
	tenant     int64
	tenantName string
	batch      string
	runID      *string
	tmpl       meterTemplate
}

// meterRow is a claimed recipient with the token id of the link its mail carries.
type meterRow struct {
	store.MeterRecipient
	token string
}

// progress reads the batch's progress and, for a job run, records it in the run.
func (t *meterTable) progress(ctx context.Context) (store.MeterProgress, error) {
	p, err := store.GetMeterProgress(ctx, t.w.DB, t.tenant, t.batch)
	if err != nil || t.runID == nil {
		return p, err
	}
	return p, store.SetRunProgress(ctx, t.w.DB, *t.runID, store.RunCounts{"sent": p.Sent, "failed": p.Failed}, p.Sent+p.Failed, &p.Contacts)
}

func (t *meterTable) recordProgress(ctx context.Context, log *slog.Logger) {
	if _, err := t.progress(ctx); err != nil && ctx.Err() == nil {
		log.WarnContext(ctx, "record meter-request progress", slog.Any("err", err))
	}
}

// claim claims up to n due recipients, mints each one's meter-entry link and records
// its token id in tx, and builds the mails.
func (t *meterTable) claim(ctx context.Context, tx *sqlx.Tx, n int, _ time.Time) ([]meterRow, []mail.Message, error) {
	recs, err := store.ClaimMeterRecipients(ctx, tx, t.tenant, t.batch, n)
	if err != nil || len(recs) == 0 {
		return nil, nil, err
	}
	rows := make([]meterRow, len(recs))
	toks := make([]store.NewLoginToken, len(recs))
	msgs := make([]mail.Message, len(recs))
	for i, r := range recs {
		expires := r.PeriodEnd.AddDate(0, 0, 1).Add(meterLinkGrace).Truncate(time.Second)
		c := login.Claims{Tenant: t.tenant, Identity: r.IdentityID, Customer: r.CustomerID, Purpose: login.PurposeMeterEntry,
			Expires: expires, TokenID: login.NewTokenID()}
		tok, err := t.w.Keys.Seal(c)
		if err != nil {
			return nil, nil, err
		}
		toks[i] = store.NewLoginToken{ID: c.TokenID, TenantID: t.tenant, IdentityID: r.IdentityID, CustomerID: r.CustomerID,
			Purpose: string(login.PurposeMeterEntry), RunID: t.runID, ExpiresAt: expires}
		rows[i] = meterRow{MeterRecipient: r, token: c.TokenID}
		msgs[i] = t.tmpl.message(templates.Lang(r.Locale), t.tenantName, t.w.BaseURL+"/portal/l/"+tok,
			"meter-request:"+r.Period+":"+strconv.FormatInt(r.ContactID, 10), r.Email)
	}
	if err := store.CreateLoginTokens(ctx, tx, toks); err != nil {
		return nil, nil, fmt.Errorf("meter-entry links: %w", err)
	}
	return rows, msgs, nil
}

// mark records the sent (with the link's token id) and failed rows and hands the unsent
// ones back.
func (t *meterTable) mark(ctx context.Context, tx sqlx.ExtContext, recs []meterRow, outs []mailOutcome) error {
	marks := make([]store.MeterOutcome, 0, len(recs))
	var unsent []store.MeterKey
	for i, r := range recs {
		o := outs[i]
		if o.Status == "" {
			unsent = append(unsent, store.MeterKey{ContactID: r.ContactID, Period: r.Period})
			continue
		}
		mo := store.MeterOutcome{ContactID: r.ContactID, Period: r.Period, Status: o.Status, Error: o.Error, RetryAt: o.RetryAt}
		if o.Status == "sent" {
			mo.TokenID = r.token
		}
		marks = append(marks, mo)
	}
	if err := store.MarkMeterRecipients(ctx, tx, t.tenant, marks); err != nil {
		return err
	}
	return store.ReleaseMeterRecipients(ctx, tx, t.tenant, unsent)
}

func (t *meterTable) abandon(ctx context.Context, db sqlx.ExecerContext) (int64, error) {
	return store.AbandonClaimedMeterRecipients(ctx, db, t.tenant, t.batch, meterUncertainMessage)
}

func (t *meterTable) due(ctx context.Context, db sqlx.QueryerContext) (int64, *time.Time, error) {
	p, err := store.GetMeterProgress(ctx, db, t.tenant, t.batch)
	return p.Open, p.NextAt, err
}

func (t *meterTable) attempt(r meterRow) int { return r.Attempt }
func (t *meterTable) logAttrs(r meterRow) []any {
	return []any{slog.Int64("contact_id", r.ContactID), slog.String("period", r.Period)}
}
