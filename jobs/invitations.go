package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// Defaults of the invitation sender.
const (
	defaultMailConnections = 4
	defaultMailBatch       = 25
	// An invitation sender claims more at a time: one durable commit per batch is then
	// shared by 100 mails. A crash leaves at most this many rows per connection uncertain.
	defaultInvitationBatch = 100
	defaultMaxAttempts     = 5
)

// InvitationsWorker sends invitation batches. Each of Connections senders keeps one
// SMTP connection and repeats: claim up to Batch due recipients (a row is claimed in
// PostgreSQL before its mail is sent), mint their links, send them over its connection,
// and mark every row sent, failed, or due again after a back-off (temporary SMTP
// errors, 4xx). A retried task never mails a row that was marked, and fails, without
// mailing, the rows a killed predecessor had claimed but not marked.
type InvitationsWorker struct {
	DB          *sqlx.DB
	Mail        mail.Sender
	Keys        *login.Keys // nil without LOGIN_KEYS: the batch fails with a sentence
	BaseURL     string      // PUBLIC_BASE_URL
	Connections int         // parallel SMTP connections; 0 = 4
	Batch       int         // recipients claimed at a time per connection; 0 = 100
	MaxAttempts int         // tries per recipient before a temporary error counts failed; 0 = 5
	// Backoff is the wait before try attempt+1 after a temporary error; nil = 30 s × 2^(attempt−1), at most 10 min.
	Backoff func(attempt int) time.Duration
	Now     func() time.Time

	tmplOnce sync.Once
	tmpl     *invitationMail
	tmplErr  error
}

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
	if _, err := store.SelectInvitationRecipients(ctx, w.DB, run, sel); err != nil {
		return nil, err
	}
	tenant, err := store.GetTenantMailInfo(ctx, w.DB, run.TenantID)
	if err != nil {
		return nil, err
	}
	now := w.Now
	if now == nil {
		now = time.Now
	}

	// Progress is written while the senders work.
	progressDone := make(chan struct{})
	var progressWG sync.WaitGroup
	progressWG.Add(1)
	go func() {
		defer progressWG.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-progressDone:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				w.recordProgress(ctx, log, run.ID)
			}
		}
	}()
	defer func() {
		close(progressDone)
		progressWG.Wait()
	}()

	for {
		// None of this attempt's claims is in flight here: a claimed row is an earlier
		// attempt's (a killed worker, or its last statement committed after it died).
		if n, err := store.AbandonClaimedRecipients(ctx, w.DB, run.ID, uncertainMessage); err != nil {
			return nil, err
		} else if n > 0 {
			log.WarnContext(ctx, "invitations claimed by an interrupted attempt are not sent again", slog.Int64("recipients", n))
		}
		p, err := store.GetInvitationProgress(ctx, w.DB, run.ID)
		if err != nil {
			return nil, err
		}
		if p.Open == 0 {
			if p.Counts["selected"] == 0 {
				msg := "Es wurden keine Kunden ausgewählt."
				if p.Counts["not_found"] > 0 {
					msg = "Keiner der angegebenen Kunden wurde im Benutzerkonto gefunden."
				}
				return nil, &RunError{Message: msg}
			}
			return p.Counts, nil
		}
		if p.NextAt != nil {
			if wait := time.Until(*p.NextAt); wait > 0 {
				select {
				case <-ctx.Done():
					return nil, context.Cause(ctx)
				case <-time.After(wait):
				}
			}
		}
		if err := w.sendDue(ctx, log, run, tenant, now); err != nil {
			return nil, err
		}
	}
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

// sendDue runs the senders until no recipient is due now.
func (w *InvitationsWorker) sendDue(ctx context.Context, log *slog.Logger, run store.Run, tenant store.TenantMailInfo, now func() time.Time) error {
	n := w.Connections
	if n <= 0 {
		n = defaultMailConnections
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = w.sender(ctx, log, run, tenant, now) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// sender is one SMTP connection's loop.
func (w *InvitationsWorker) sender(ctx context.Context, log *slog.Logger, run store.Run, tenant store.TenantMailInfo, now func() time.Time) error {
	batch := w.Batch
	if batch <= 0 {
		batch = defaultInvitationBatch
	}
	var conn mail.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		// The claim and the batch's login tokens commit together, durably, before any of
		// its mails goes out: one commit per batch. Not cancelled half-way: a claim that
		// committed must reach us, or its rows would look like a killed worker's.
		recs, msgs, err := w.claim(context.WithoutCancel(ctx), run, tenant, batch, now())
		if err != nil || len(recs) == 0 {
			return err
		}
		ids := make([]int64, len(recs))
		for i, r := range recs {
			ids[i] = r.CustomerID
		}
		release := func(err error) error {
			if rerr := store.ReleaseRecipients(context.WithoutCancel(ctx), w.DB, run.ID, ids); rerr != nil {
				return errors.Join(err, rerr)
			}
			return err
		}
		if conn == nil {
			if conn, err = w.Mail.Open(ctx); err != nil {
				return release(err)
			}
		}
		results, err := conn.Send(ctx, msgs)
		if err != nil {
			// Nothing of this batch was sent (no connection).
			return release(err)
		}
		outs := make([]store.RecipientOutcome, 0, len(recs))
		var unsent []int64
		for i, r := range recs {
			o := w.outcome(r, results[i], now())
			if o.Status == "" {
				unsent = append(unsent, r.CustomerID)
				continue
			}
			outs = append(outs, o)
			if results[i] != nil {
				log.WarnContext(ctx, "invitation not sent", slog.Int64("customer_id", r.CustomerID),
					slog.Int("attempt", r.Attempt), slog.String("outcome", o.Status), slog.Any("err", results[i]))
			}
		}
		// The outcome is recorded even when the worker is stopping: these mails are out.
		mctx := context.WithoutCancel(ctx)
		if err := store.MarkRecipients(mctx, w.DB, run.ID, outs); err != nil {
			return err
		}
		if err := store.ReleaseRecipients(mctx, w.DB, run.ID, unsent); err != nil {
			return err
		}
	}
}

// outcome turns a message's result into its row's next state; "" = never reached the
// server because the worker is stopping: released without using up a try.
func (w *InvitationsWorker) outcome(r store.Recipient, err error, now time.Time) store.RecipientOutcome {
	o := store.RecipientOutcome{CustomerID: r.CustomerID, Status: "sent"}
	if err == nil {
		return o
	}
	if errors.Is(err, mail.ErrNotSent) && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return store.RecipientOutcome{CustomerID: r.CustomerID}
	}
	max := w.MaxAttempts
	if max <= 0 {
		max = defaultMaxAttempts
	}
	o.Error = err.Error()
	if mail.Temporary(err) && r.Attempt < max {
		o.Status, o.RetryAt = "pending", now.Add(w.backoff(r.Attempt))
		return o
	}
	o.Status = "failed"
	return o
}

func (w *InvitationsWorker) backoff(attempt int) time.Duration {
	if w.Backoff != nil {
		return w.Backoff(attempt)
	}
	d := 30 * time.Second << max(attempt-1, 0)
	return min(d, 10*time.Minute)
}

// claim claims up to n due recipients, mints a login link each and records the links'
// token ids in one transaction, and renders the mails. Nothing is claimed when it fails.
func (w *InvitationsWorker) claim(ctx context.Context, run store.Run, tenant store.TenantMailInfo, n int, now time.Time) (recs []store.Recipient, msgs []mail.Message, err error) {
	err = store.InTx(ctx, w.DB, func(tx *sqlx.Tx) error {
		if recs, err = store.ClaimRecipients(ctx, tx, run.ID, n); err != nil || len(recs) == 0 {
			return err
		}
		var toks []store.NewLoginToken
		if msgs, toks, err = w.messages(run, tenant, recs, now); err != nil {
			return err
		}
		if err := store.CreateLoginTokens(ctx, tx, toks); err != nil {
			return fmt.Errorf("invitation links: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return recs, msgs, nil
}

// messages mints a login link per recipient and renders the mails; toks are the links'
// token ids to record.
func (w *InvitationsWorker) messages(run store.Run, tenant store.TenantMailInfo, recs []store.Recipient, now time.Time) ([]mail.Message, []store.NewLoginToken, error) {
	expires := now.Add(inviteTTL).Truncate(time.Second)
	toks := make([]store.NewLoginToken, len(recs))
	msgs := make([]mail.Message, len(recs))
	for i, r := range recs {
		c := login.Claims{Tenant: run.TenantID, Identity: r.IdentityID, Customer: r.CustomerID, Purpose: login.PurposeInvite,
			Expires: expires, TokenID: login.NewTokenID()}
		tok, err := w.Keys.Seal(c)
		if err != nil {
			return nil, nil, err
		}
		toks[i] = store.NewLoginToken{ID: c.TokenID, TenantID: run.TenantID, IdentityID: r.IdentityID, CustomerID: r.CustomerID,
			Purpose: string(login.PurposeInvite), RunID: &run.ID, ExpiresAt: expires}
		lang := templates.Lang(r.Locale)
		msgs[i], err = w.tmpl.newMessage(lang, tenant.Name, w.BaseURL+"/portal/l/"+tok,
			"invitation:"+run.ID+":"+strconv.FormatInt(r.CustomerID, 10), r.Email, r, expires)
		if err != nil {
			return nil, nil, err
		}
	}
	return msgs, toks, nil
}
