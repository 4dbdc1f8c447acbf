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

// sender is one SMTP connection's loop. It is pipelined: while a batch is on the wire,
// the next one is claimed and its links minted and rendered in a transaction that stays
// open; once the batch's results are in, its marks go into that same transaction, which
// commits durably before the next batch is sent. So one commit per batch, and a
// connection never holds more than one committed claim: a killed worker leaves at most
// one batch per connection uncertain.
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
	// Not cancelled half-way: a claim that committed must reach us, or its rows would
	// look like a killed worker's.
	dbctx := context.WithoutCancel(ctx)
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	cur := w.claim(dbctx, run, tenant, batch, now())
	if cur.err == nil {
		cur.err = cur.tx.Commit()
	}
	if cur.err != nil {
		cur.rollback()
		return cur.err
	}
	for len(cur.recs) > 0 {
		ids := make([]int64, len(cur.recs))
		for i, r := range cur.recs {
			ids[i] = r.CustomerID
		}
		var err error
		if conn == nil {
			conn, err = w.Mail.Open(ctx)
		}
		var results []error
		if err == nil {
			if err = ctx.Err(); err != nil {
				err = context.Cause(ctx)
			}
		}
		if err != nil {
			// Nothing of this batch was sent.
			return errors.Join(err, store.ReleaseRecipients(dbctx, w.DB, run.ID, ids))
		}
		nextc := make(chan claimed, 1)
		go func() { nextc <- w.claim(dbctx, run, tenant, batch, now()) }()
		results, err = conn.Send(ctx, cur.msgs)
		next := <-nextc
		// The next claim goes on only while nothing failed and the worker is not stopping;
		// otherwise its rollback undoes it.
		goOn := err == nil && next.err == nil && ctx.Err() == nil
		if !goOn {
			next.rollback()
		}
		if err != nil {
			// Nothing of this batch was sent (no connection).
			return errors.Join(err, store.ReleaseRecipients(dbctx, w.DB, run.ID, ids))
		}
		outs := make([]store.RecipientOutcome, 0, len(cur.recs))
		var unsent []int64
		for i, r := range cur.recs {
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
		mark := func(tx sqlx.ExtContext) error {
			if err := store.MarkRecipients(dbctx, tx, run.ID, outs); err != nil {
				return err
			}
			return store.ReleaseRecipients(dbctx, tx, run.ID, unsent)
		}
		if !goOn {
			err := store.InTx(dbctx, w.DB, func(tx *sqlx.Tx) error {
				if err := store.AsyncCommit(dbctx, tx); err != nil {
					return err
				}
				return mark(tx)
			})
			if err == nil {
				err = next.err
			}
			if err == nil && ctx.Err() != nil {
				err = context.Cause(ctx)
			}
			return err
		}
		// The marks and the next claim commit together; without a next batch the commit
		// need not wait for the WAL flush.
		err = nil
		if len(next.recs) == 0 {
			err = store.AsyncCommit(dbctx, next.tx)
		}
		if err == nil {
			err = mark(next.tx)
		}
		if err == nil {
			err = next.tx.Commit()
		}
		if err != nil {
			next.rollback()
			return fmt.Errorf("mark invitations and claim the next: %w", err)
		}
		cur = next
	}
	return nil
}

// claimed is a claimed batch in its transaction, not yet committed.
type claimed struct {
	tx   *sqlx.Tx
	recs []store.Recipient
	msgs []mail.Message
	err  error
}

func (c claimed) rollback() {
	if c.tx != nil {
		_ = c.tx.Rollback()
	}
}

// claim begins a transaction, claims up to n due recipients in it, mints a login link
// each, records the links' token ids and renders the mails. The claim takes effect only
// when the caller commits tx; the claim and the tokens are then durable together, before
// any of these mails goes out.
func (w *InvitationsWorker) claim(ctx context.Context, run store.Run, tenant store.TenantMailInfo, n int, now time.Time) (c claimed) {
	if c.tx, c.err = w.DB.BeginTxx(ctx, nil); c.err != nil {
		c.err = fmt.Errorf("claim invitations: begin: %w", c.err)
		return c
	}
	if c.recs, c.err = store.ClaimRecipients(ctx, c.tx, run.ID, n); c.err != nil || len(c.recs) == 0 {
		return c
	}
	var toks []store.NewLoginToken
	if c.msgs, toks, c.err = w.messages(run, tenant, c.recs, now); c.err != nil {
		return c
	}
	if err := store.CreateLoginTokens(ctx, c.tx, toks); err != nil {
		c.err = fmt.Errorf("invitation links: %w", err)
	}
	return c
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
	o.Error = err.Error()
	o.Status, o.RetryAt = retryOrFail(err, r.Attempt, w.MaxAttempts, w.Backoff, now)
	return o
}

// retryOrFail is what a mail batch does with a message that failed on its attempt-th
// try: a temporary SMTP error is tried again ("pending", at the returned time) until
// maxAttempts tries (0 = defaultMaxAttempts), after a wait growing from 30 s to 10 min
// (or backoff's, when set); anything else "failed".
func retryOrFail(err error, attempt, maxAttempts int, backoff func(int) time.Duration, now time.Time) (string, time.Time) {
	if maxAttempts <= 0 {
		maxAttempts = defaultMaxAttempts
	}
	if !mail.Temporary(err) || attempt >= maxAttempts {
		return "failed", time.Time{}
	}
	wait := min(30*time.Second<<max(attempt-1, 0), 10*time.Minute)
	if backoff != nil {
		wait = backoff(attempt)
	}
	return "pending", now.Add(wait)
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
