package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"portalwerk/jobs/mail"
	"portalwerk/store"
)

// Defaults of the batch mailer.
const (
	defaultMailConnections = 4
	// At most this many rows per connection are claimed and not yet marked at any time
	// (two chunks of half of it): what a killed worker can leave uncertain.
	defaultMailBatch   = 200
	defaultMaxAttempts = 5
)

// mailOutcome is what became of a claimed row's mail.
type mailOutcome struct {
	Status  string // "sent", "failed", "pending" (due again at RetryAt); "" = never reached the server: handed back as it was
	Error   string // for failed and pending
	RetryAt time.Time
}

// recipientTable is one kind of mail batch's recipient rows (invitations, meter
// requests) as the batch mailer drives them. R is a claimed row.
type recipientTable[R any] interface {
	// claim claims up to n due rows in tx, records their login links in tx and returns
	// the rows with their mails (one each, in order). It takes effect when tx commits.
	claim(ctx context.Context, tx *sqlx.Tx, n int, now time.Time) ([]R, []mail.Message, error)
	// mark records the outcomes of claimed rows (outs[i] is recs[i]'s).
	mark(ctx context.Context, tx sqlx.ExtContext, recs []R, outs []mailOutcome) error
	// abandon fails, as uncertain, the rows an interrupted attempt left claimed.
	abandon(ctx context.Context, db sqlx.ExecerContext) (int64, error)
	// due says how many rows are still open and when the earliest pending one is due.
	due(ctx context.Context, db sqlx.QueryerContext) (open int64, next *time.Time, err error)
	// attempt is the row's try, counting this one.
	attempt(r R) int
	// logAttrs name the row in a log line.
	logAttrs(r R) []any
}

// batchMailer mails one batch's recipient rows. Each of Connections senders keeps one
// SMTP connection and sends chunk after chunk of half of Batch rows, with no pause
// between them: a chunk is claimed (with its links recorded) in a transaction that
// commits durably before any of its mails goes out, and while one chunk is on the wire
// the marks of the chunk before it and the claim of the chunk after it are written
// (markAndClaim). So a sender never has more than two chunks (Batch rows) claimed and
// not marked, and one durable commit serves a whole chunk.
type batchMailer[R any] struct {
	DB          *sqlx.DB
	Mail        mail.Sender
	Table       recipientTable[R]
	Log         *slog.Logger
	What        string // "invitation", "meter request": names the mail in log lines
	Connections int    // 0 = 4
	Batch       int    // 0 = 200
	MaxAttempts int    // 0 = 5
	Backoff     func(attempt int) time.Duration
	Now         func() time.Time
	// Progress runs every second while the batch is being mailed; nil = none.
	Progress func(ctx context.Context)
	// More, when set, is the batch's selection still recording rows while the first
	// ones are mailed: a sender that finds nothing to claim waits for it instead of
	// ending. nil = every row is recorded.
	More *growing
}

// growing is a recipient selection recorded in slices while the batch is mailed. The
// selecting goroutine calls added after each committed slice and, always, finish at its
// end; senders wait on it.
type growing struct {
	mu      sync.Mutex
	slices  int
	final   bool
	changed chan struct{} // closed and replaced at every change
}

func newGrowing() *growing { return &growing{changed: make(chan struct{})} }

func (g *growing) change(final bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.slices++
	g.final = g.final || final
	close(g.changed)
	g.changed = make(chan struct{})
}

// added records a committed slice.
func (g *growing) added() { g.change(false) }

// finish records that no slice follows (the selection is complete, failed or stopped).
func (g *growing) finish() { g.change(true) }

// seen is how many changes there have been; a claim notes it before it looks.
func (g *growing) seen() int {
	if g == nil {
		return 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.slices
}

// wait is called after a claim that found nothing, with the seen from before that
// claim: it returns true when a slice may have come since (claim again), false when
// nothing more will come.
func (g *growing) wait(seen int) bool {
	if g == nil {
		return false
	}
	g.mu.Lock()
	if g.slices != seen {
		g.mu.Unlock()
		return true
	}
	if g.final {
		g.mu.Unlock()
		return false
	}
	ch := g.changed
	g.mu.Unlock()
	<-ch
	return true
}

func (m *batchMailer[R]) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// run mails until no row is open, waiting for retries that are due later.
func (m *batchMailer[R]) run(ctx context.Context) error {
	if m.Progress != nil {
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				select {
				case <-done:
					return
				case <-ctx.Done():
					return
				case <-tick.C:
					m.Progress(ctx)
				}
			}
		})
		defer func() {
			close(done)
			wg.Wait()
		}()
	}
	for {
		// None of this attempt's claims is in flight here: a claimed row is an earlier
		// attempt's (a killed worker, or its last statement committed after it died).
		if n, err := m.Table.abandon(ctx, m.DB); err != nil {
			return err
		} else if n > 0 {
			m.Log.WarnContext(ctx, m.What+"s claimed by an interrupted attempt are not sent again", slog.Int64("recipients", n))
		}
		seen := m.More.seen()
		open, next, err := m.Table.due(ctx, m.DB)
		if err != nil {
			return err
		}
		if open == 0 {
			if m.More.wait(seen) {
				continue
			}
			return nil
		}
		if next != nil {
			if wait := time.Until(*next); wait > 0 {
				select {
				case <-ctx.Done():
					return context.Cause(ctx)
				case <-time.After(wait):
				}
			}
		}
		n := m.Connections
		if n <= 0 {
			n = defaultMailConnections
		}
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { errs[i] = m.sender(ctx) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
}

// chunk is a claimed, committed part of the batch; err is its claim's, or that of the
// marks written beside the claim.
type chunk[R any] struct {
	recs []R
	msgs []mail.Message
	err  error
}

// sender is one SMTP connection's loop; it returns when nothing is due now.
func (m *batchMailer[R]) sender(ctx context.Context) error {
	size := m.Batch
	if size <= 0 {
		size = defaultMailBatch
	}
	size = max(size/2, 1)
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	// Not cancelled half-way: a claim that committed must reach us, or its rows would
	// look like a killed worker's; the marks of mails that went out must be written.
	dbctx := context.WithoutCancel(ctx)
	var conn mail.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	cur := m.markAndClaim(dbctx, nil, nil, size)
	if cur.err != nil || len(cur.recs) == 0 {
		return cur.err
	}
	aheadc := make(chan chunk[R], 1)
	go func() { aheadc <- m.markAndClaim(dbctx, nil, nil, size) }()
	for {
		var results []error
		err := ctx.Err()
		if err != nil {
			err = context.Cause(ctx)
		}
		if err == nil && conn == nil {
			conn, err = m.Mail.Open(ctx)
		}
		if err == nil {
			results, err = conn.Send(ctx, cur.msgs)
		}
		var outs []mailOutcome
		if err == nil {
			outs = m.outcomes(ctx, cur, results)
		} else {
			outs = make([]mailOutcome, len(cur.recs)) // nothing of it was sent
		}
		ahead, marked, merr := m.awaitAhead(dbctx, aheadc, cur, outs)
		if err != nil || merr != nil || ahead.err != nil || ctx.Err() != nil || len(ahead.recs) == 0 {
			// The last chunk, or the sender stops: mark this one, hand the one claimed
			// ahead back unsent. No claim follows to flush these marks: one lost in a
			// crash of PostgreSQL leaves its rows claimed, never mailed again.
			if !marked {
				merr = m.markAlone(dbctx, cur.recs, outs)
			}
			if len(ahead.recs) > 0 {
				merr = errors.Join(merr, m.markAlone(dbctx, ahead.recs, make([]mailOutcome, len(ahead.recs))))
			}
			if err == nil && ctx.Err() != nil {
				err = context.Cause(ctx)
			}
			return errors.Join(err, ahead.err, merr)
		}
		done := cur.recs
		if marked {
			done, outs = nil, nil
		}
		go func() { aheadc <- m.markAndClaim(dbctx, done, outs, size) }()
		cur = ahead
	}
}

// markEarlyAfter is how long a sender waits for the chunk claimed ahead before it marks
// the chunk it has sent on its own: with a growing selection that claim may wait for the
// next slice, and a sent chunk left claimed meanwhile would be failed as uncertain by a
// kill (and mailed again by a later batch) for as long as the wait lasts. Well above a
// claim's time: at 50 ms it also fired on claims merely slowed by the selection beside
// them and doubled PostgreSQL's time per mail with one connection (0.35 against 0.15 s
// per 1,000 mails, go run ./bench -invite -rounds 3).
const markEarlyAfter = time.Second

// awaitAhead returns the chunk claimed ahead. While the selection grows (More) and that
// claim takes longer than markEarlyAfter, the sent chunk cur is marked first (marked);
// merr is that mark's error.
func (m *batchMailer[R]) awaitAhead(ctx context.Context, aheadc <-chan chunk[R], cur chunk[R], outs []mailOutcome) (ahead chunk[R], marked bool, merr error) {
	if m.More == nil {
		return <-aheadc, false, nil
	}
	t := time.NewTimer(markEarlyAfter)
	defer t.Stop()
	select {
	case ahead = <-aheadc:
		return ahead, false, nil
	case <-t.C:
		merr = m.markAlone(ctx, cur.recs, outs)
		return <-aheadc, true, merr
	}
}

// markAndClaim marks the rows of a chunk that was sent and claims up to n more. The
// marks commit in a transaction of their own, without waiting for the WAL flush, while
// the claim runs beside them on another connection; the claim commits durably only after
// the marks have committed, and so makes them durable too (the WAL is flushed in order).
// A sender thus never holds more than two chunks claimed and not marked, and the marks
// add no time to the claim.
//
// While the selection is still growing (More), a claim that finds nothing waits for the
// next slice and claims again.
func (m *batchMailer[R]) markAndClaim(ctx context.Context, done []R, outs []mailOutcome, n int) chunk[R] {
	for {
		seen := m.More.seen()
		c := m.markAndClaimOnce(ctx, done, outs, n)
		if c.err != nil || len(c.recs) > 0 || !m.More.wait(seen) {
			return c
		}
		done, outs = nil, nil
	}
}

func (m *batchMailer[R]) markAndClaimOnce(ctx context.Context, done []R, outs []mailOutcome, n int) chunk[R] {
	markc := make(chan error, 1)
	go func() { markc <- m.markAlone(ctx, done, outs) }()
	marked := sync.OnceValue(func() error { return <-markc })
	var c chunk[R]
	c.err = store.InTx(ctx, m.DB, func(tx *sqlx.Tx) error {
		var err error
		c.recs, c.msgs, err = m.Table.claim(ctx, tx, n, m.now())
		return errors.Join(err, marked())
	})
	if c.err != nil {
		c.recs, c.msgs = nil, nil
		c.err = fmt.Errorf("claim %ss: %w", m.What, errors.Join(c.err, marked()))
	}
	return c
}

// markAlone marks rows in a transaction that commits without waiting for the WAL flush
// (store.AsyncCommit: a mark lost in a crash of PostgreSQL leaves its rows claimed, and
// they are failed as uncertain, never mailed twice).
func (m *batchMailer[R]) markAlone(ctx context.Context, recs []R, outs []mailOutcome) error {
	if len(recs) == 0 {
		return nil
	}
	err := store.InTx(ctx, m.DB, func(tx *sqlx.Tx) error {
		if err := store.AsyncCommit(ctx, tx); err != nil {
			return err
		}
		return m.Table.mark(ctx, tx, recs, outs)
	})
	if err != nil {
		return fmt.Errorf("mark %ss: %w", m.What, err)
	}
	return nil
}

// outcomes turns a chunk's send results into its rows' next states and logs each mail
// that failed.
func (m *batchMailer[R]) outcomes(ctx context.Context, c chunk[R], results []error) []mailOutcome {
	now := m.now()
	outs := make([]mailOutcome, len(c.recs))
	for i, r := range c.recs {
		err := results[i]
		if err == nil {
			outs[i].Status = "sent"
			continue
		}
		if errors.Is(err, mail.ErrNotSent) && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			continue // the worker is stopping: handed back without using up a try
		}
		o := &outs[i]
		o.Error = err.Error()
		o.Status, o.RetryAt = retryOrFail(err, m.Table.attempt(r), m.MaxAttempts, m.Backoff, now)
		m.Log.WarnContext(ctx, m.What+" not sent", append(m.Table.logAttrs(r),
			slog.Int("attempt", m.Table.attempt(r)), slog.String("outcome", o.Status), slog.Any("err", err))...)
	}
	return outs
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
