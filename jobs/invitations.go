package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"portalwerk/jobs/login"
	"portalwerk/jobs/mail"
	"portalwerk/store"
	"portalwerk/templates"
)

// TypeInvitationsSend mails an invitation batch: every selected customer with an
// address gets one mail with a login link to set a password.
const TypeInvitationsSend = "invitations:send"

// InvitationsSend is the task of one invitation batch (a job run of kind invitations).
type InvitationsSend struct {
	RunID    string `json:"run_id"`
	TenantID int64  `json:"tenant_id"`
}

func (InvitationsSend) TaskType() string { return TypeInvitationsSend }
func (InvitationsSend) Queue() string    { return QueueMail }
func (a InvitationsSend) TaskID() string { return "invitations:" + a.RunID }
func (a InvitationsSend) Tenant() int64  { return a.TenantID }

// InvitationsWorker sends invitation batches through the batch mailer (batchMailer):
// Connections senders, each over one SMTP connection, claim due recipients (a row is
// claimed in PostgreSQL before its mail is sent), mint their links, send them, and mark
// every row sent, failed, or due again after a back-off (temporary SMTP errors, 4xx). A
// retried task never mails a row that was marked, and fails, without mailing, the rows a
// killed predecessor had claimed but not marked.
type InvitationsWorker struct {
	DB          *sqlx.DB
	Mail        mail.Sender
	Keys        *login.Keys // nil without LOGIN_KEYS: the batch fails with a sentence
	BaseURL     string      // PUBLIC_BASE_URL
	Connections int         // parallel SMTP connections; 0 = 4
	Batch       int         // recipients claimed and not yet marked per connection, at most; 0 = 200
	SelectSlice int         // customers selected per transaction while mailing; 0 = 5,000
	MaxAttempts int         // tries per recipient before a temporary error counts failed; 0 = 5
	// Backoff is the wait before try attempt+1 after a temporary error; nil = 30 s × 2^(attempt−1), at most 10 min.
	Backoff func(attempt int) time.Duration
	Now     func() time.Time

	tmplOnce sync.Once
	tmpl     *invitationMail
	tmplErr  error
}

// The selection of a batch's recipients is recorded in slices of this many customers,
// the first (before any mail goes out) of at most firstSelectSlice.
const (
	defaultSelectSlice = 5000
	firstSelectSlice   = 1000
)

// uncertainMessage is the error of a recipient whose mail a killed worker may or may not
// have sent.
const uncertainMessage = "Der Versand wurde unterbrochen; ob diese Einladung zugestellt wurde, ist unbekannt. Sie wird in diesem Auftrag nicht erneut gesendet."

func (w *InvitationsWorker) Work(ctx context.Context, t *Task[InvitationsSend]) (any, error) {
	return runJob(ctx, w.DB, t.Log, t.Args.RunID, func(ctx context.Context, run store.Run) (store.RunCounts, error) {
		return w.send(ctx, t.Log.With(slog.String("run_id", run.ID)), run)
	})
}

func (w *InvitationsWorker) send(ctx context.Context, log *slog.Logger, run store.Run) (store.RunCounts, error) {
	if w.Keys == nil || w.Mail == nil {
		return nil, &RunError{Message: "Der Versand von Einladungen ist nicht eingerichtet (Login-Schlüssel oder Mailversand fehlen). Bitte wenden Sie sich an den Support."}
	}
	w.tmplOnce.Do(func() { w.tmpl, w.tmplErr = newInvitationMail("invitation") })
	if w.tmplErr != nil {
		return nil, w.tmplErr
	}
	var sel store.InvitationSelection
	if err := json.Unmarshal(run.Params, &sel); err != nil {
		return nil, &RunError{Message: "Die Auswahl der Einladung ist unlesbar."}
	}
	tenant, err := store.GetTenantMailInfo(ctx, w.DB, run.TenantID)
	if err != nil {
		return nil, err
	}
	claim, err := store.PrepareRecipientClaim(ctx, w.DB)
	if err != nil {
		return nil, err
	}
	defer claim.Close()
	// The first slice of the selection is recorded before any mail; the rest is selected
	// while the first ones go out (the selection is a single PostgreSQL session's work,
	// which left the other cores idle for a fifth of a batch).
	slice := w.SelectSlice
	if slice <= 0 {
		slice = defaultSelectSlice
	}
	done, err := store.SelectInvitationRecipients(ctx, w.DB, run, sel, min(slice, firstSelectSlice))
	if err != nil {
		return nil, err
	}
	var more *growing
	selected := make(chan error, 1)
	selctx, stopSelecting := context.WithCancel(ctx)
	defer stopSelecting()
	if done {
		selected <- nil
	} else {
		more = newGrowing()
		go func() {
			defer more.finish()
			for {
				done, err := store.SelectInvitationRecipients(selctx, w.DB, run, sel, slice)
				if err != nil || done {
					selected <- err
					return
				}
				more.added()
			}
		}()
	}
	m := &batchMailer[store.Recipient]{DB: w.DB, Mail: w.Mail, Log: log, What: "invitation",
		Table:       &invitationTable{w: w, run: run, tenant: tenant, claims: claim},
		Connections: w.Connections, Batch: w.Batch, MaxAttempts: w.MaxAttempts, Backoff: w.Backoff, Now: w.Now,
		Progress: func(ctx context.Context) { w.recordProgress(ctx, log, run.ID) }, More: more}
	if err := m.run(ctx); err != nil {
		stopSelecting()
		return nil, errors.Join(err, <-selected)
	}
	// The mailer ends only once the selection has (More): a failed slice is the task's
	// error, and its retry continues the selection.
	if err := <-selected; err != nil {
		return nil, err
	}
	p, err := store.GetInvitationProgress(ctx, w.DB, run.ID)
	if err != nil {
		return nil, err
	}
	if p.Counts["selected"] == 0 {
		msg := "Es wurden keine Kunden ausgewählt."
		if p.Counts["not_found"] > 0 {
			msg = "Keiner der angegebenen Kunden wurde im Benutzerkonto gefunden."
		}
		return nil, &RunError{Message: msg}
	}
	return p.Counts, nil
}

func (w *InvitationsWorker) recordProgress(ctx context.Context, log *slog.Logger, runID string) {
	p, err := store.GetInvitationProgress(ctx, w.DB, runID)
	if err == nil {
		done := p.Counts["selected"] - p.Open
		err = store.SetRunProgress(ctx, w.DB, runID, p.Counts, done, nil)
	}
	if err != nil && ctx.Err() == nil {
		log.WarnContext(ctx, "record invitation progress", slog.Any("err", err))
	}
}

// invitationTable is a batch's invitation_recipients for the batch mailer.
type invitationTable struct {
	w      *InvitationsWorker
	run    store.Run
	tenant store.TenantMailInfo
	claims *store.RecipientClaim
}

// claim claims up to n due recipients with a login link each (token ids made here,
// recorded by the claim's statement) and renders the mails, all in tx: the claim and the
// tokens become durable together, before any of these mails goes out.
func (t *invitationTable) claim(ctx context.Context, tx *sqlx.Tx, n int, now time.Time) ([]store.Recipient, []mail.Message, error) {
	expires := now.Add(inviteTTL).Truncate(time.Second)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = login.NewTokenID()
	}
	recs, err := t.claims.Claim(ctx, tx, t.run.ID, ids, expires)
	if err != nil || len(recs) == 0 {
		return nil, nil, err
	}
	msgs, err := t.messages(recs, expires)
	if err != nil {
		return nil, nil, err
	}
	return recs, msgs, nil
}

// mark records the sent and failed rows (a sent mail sets its customer's invited_at) and
// hands the unsent ones back.
func (t *invitationTable) mark(ctx context.Context, tx sqlx.ExtContext, recs []store.Recipient, outs []mailOutcome) error {
	marks := make([]store.RecipientOutcome, 0, len(recs))
	var unsent []int64
	for i, r := range recs {
		o := outs[i]
		if o.Status == "" {
			unsent = append(unsent, r.CustomerID)
			continue
		}
		marks = append(marks, store.RecipientOutcome{CustomerID: r.CustomerID, Status: o.Status, Error: o.Error, RetryAt: o.RetryAt})
	}
	if err := store.MarkRecipients(ctx, tx, t.run.ID, marks); err != nil {
		return err
	}
	return store.ReleaseRecipients(ctx, tx, t.run.ID, unsent)
}

func (t *invitationTable) abandon(ctx context.Context, db sqlx.ExecerContext) (int64, error) {
	return store.AbandonClaimedRecipients(ctx, db, t.run.ID, uncertainMessage)
}

func (t *invitationTable) due(ctx context.Context, db sqlx.QueryerContext) (int64, *time.Time, error) {
	p, err := store.GetInvitationProgress(ctx, db, t.run.ID)
	return p.Open, p.NextAt, err
}

func (t *invitationTable) attempt(r store.Recipient) int { return r.Attempt }
func (t *invitationTable) logAttrs(r store.Recipient) []any {
	return []any{slog.Int64("customer_id", r.CustomerID)}
}

// messages seals each recipient's login link (its recorded token id) and builds the
// mails from the chunk's layouts (one rendering per language).
func (t *invitationTable) messages(recs []store.Recipient, expires time.Time) ([]mail.Message, error) {
	run, w := t.run, t.w
	msgs := make([]mail.Message, len(recs))
	layouts := map[string]*mailLayout{}
	prefix := "invitation:" + run.ID + ":"
	for i, r := range recs {
		tok, err := w.Keys.Seal(login.Claims{Tenant: run.TenantID, Identity: r.IdentityID, Customer: r.CustomerID,
			Purpose: login.PurposeInvite, Expires: expires, TokenID: r.TokenID})
		if err != nil {
			return nil, err
		}
		lang := templates.Lang(r.Locale)
		l := layouts[lang]
		if l == nil {
			if l, err = w.tmpl.layout(lang, t.tenant.Name, w.BaseURL+"/portal/l/", expires); err != nil {
				return nil, err
			}
			layouts[lang] = l
		}
		if msgs[i], err = l.message(greeting(lang, r), tok, prefix+strconv.FormatInt(r.CustomerID, 10), r.Email); err != nil {
			return nil, err
		}
	}
	return msgs, nil
}
