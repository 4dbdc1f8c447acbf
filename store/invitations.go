package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// InvitationSelection is which customers of the run's account an invitation batch
// invites: exactly one of the three is set.
type InvitationSelection struct {
	Customers    []string `json:"customers,omitempty"` // external ids
	ImportID     string   `json:"import_id,omitempty"` // the customers that import created or changed
	AllUninvited bool     `json:"all_uninvited,omitempty"`
}

// SelectInvitationRecipients records the next slice of the batch's recipients: up to
// limit customers of the selection, in portal id order, after those recorded already. A
// customer without an address is skipped as no_email, one invited before as
// already_invited; everyone else waits to be mailed, linked to the identity its link logs
// in as. Each slice commits on its own, so the first mails can go out while the rest is
// still being selected. The slice that finds fewer than limit customers completes the
// selection: it links every identity of the batch to the tenant's other live customers
// carrying its address, counts the given keys that match no live customer, and records
// the total; it returns done. A retried task continues after the last committed slice;
// once the selection is complete, a call changes nothing and returns done.
func SelectInvitationRecipients(ctx context.Context, db *sqlx.DB, run Run, sel InvitationSelection, limit int) (done bool, err error) {
	err = InTx(ctx, db, func(tx *sqlx.Tx) error {
		// The run's row lock serialises the slices of concurrent attempts; the last
		// recorded customer is where this slice starts (slices commit in id order). NO KEY
		// UPDATE: the claims' login tokens lock the run FOR KEY SHARE (migration 0052),
		// and FOR UPDATE would hold every claim until the slice commits.
		var state struct {
			Total *int64 `db:"progress_total"`
			After int64  `db:"after"`
		}
		if err := tx.GetContext(ctx, &state, `SELECT progress_total,
				COALESCE((SELECT max(customer_id) FROM invitation_recipients WHERE run_id = $1), 0) AS after
			FROM job_runs WHERE id = $1 FOR NO KEY UPDATE`, run.ID); err != nil {
			return fmt.Errorf("lock run %s: %w", run.ID, err)
		}
		if done = state.Total != nil; done {
			return nil
		}
		where, args := "", []any{run.ID, run.AccountID, run.TenantID, state.After, limit}
		switch {
		case len(sel.Customers) > 0:
			where, args = `c.external_id = ANY($6)`, append(args, pq.Array(externalIDKeys(sel.Customers)))
		case sel.ImportID != "":
			// An apply writes every row in one transaction, so the customers it created
			// or changed carry its finish time (now() is the transaction's start).
			where, args = `EXISTS (SELECT 1 FROM imports im WHERE im.id = $6 AND im.tenant_id = c.tenant_id
				AND im.account_id = c.account_id AND im.status = 'done'
				AND (c.updated_at = im.finished_at OR c.created_at = im.finished_at))`, append(args, sel.ImportID)
		case sel.AllUninvited:
			where = `c.invited_at IS NULL`
		default:
			return fmt.Errorf("select recipients of run %s: empty selection", run.ID)
		}
		// The identities the links log in as (one per tenant and address) are made first,
		// so each recipient row is written once, with its identity. The recipient rows go
		// in without ON CONFLICT: under the run's row lock, after the last recorded
		// customer, the run has none yet, and a plain insert skips the speculative
		// insertion of each row.
		slice := `SELECT c.id, c.tenant_id, c.email, c.invited_at FROM customers c
			WHERE c.account_id = $2 AND c.tenant_id = $3 AND c.deleted_at IS NULL AND c.id > $4 AND ` + where + `
			ORDER BY c.id LIMIT $5`
		if _, err := tx.ExecContext(ctx, `INSERT INTO portal_identities (tenant_id, email)
			SELECT DISTINCT c.tenant_id, lower(trim(c.email)) FROM (`+slice+`) c
			WHERE NULLIF(trim(c.email), '') IS NOT NULL AND c.invited_at IS NULL AND $1::uuid IS NOT NULL
			ON CONFLICT (tenant_id, email) WHERE email IS NOT NULL DO NOTHING`, args...); err != nil {
			return fmt.Errorf("identities of run %s: %w", run.ID, err)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO invitation_recipients (run_id, customer_id, tenant_id, email, status, skip_reason, identity_id)
			SELECT $1, c.id, c.tenant_id, NULLIF(lower(trim(c.email)), ''),
				CASE WHEN NULLIF(trim(c.email), '') IS NULL OR c.invited_at IS NOT NULL THEN 'skipped' ELSE 'pending' END,
				CASE WHEN NULLIF(trim(c.email), '') IS NULL THEN 'no_email' WHEN c.invited_at IS NOT NULL THEN 'already_invited' END,
				(SELECT i.id FROM portal_identities i WHERE i.tenant_id = c.tenant_id AND i.email = lower(trim(c.email))
					AND NULLIF(trim(c.email), '') IS NOT NULL AND c.invited_at IS NULL)
			FROM (`+slice+`) c`, args...)
		if err != nil {
			return fmt.Errorf("select recipients of run %s: %w", run.ID, err)
		}
		n, _ := res.RowsAffected()
		// A pending row without an identity (its customer changed between the statements)
		// gets one here; each identity is linked to its own customer at once, so a link
		// mailed before the selection is complete opens.
		for _, q := range []string{
			`INSERT INTO portal_identities (tenant_id, email)
				SELECT DISTINCT tenant_id, email FROM invitation_recipients
				WHERE run_id = $1 AND customer_id > $2 AND status = 'pending' AND identity_id IS NULL
				ON CONFLICT (tenant_id, email) WHERE email IS NOT NULL DO NOTHING`,
			`UPDATE invitation_recipients r SET identity_id = i.id FROM portal_identities i
				WHERE r.run_id = $1 AND r.customer_id > $2 AND r.status = 'pending' AND r.identity_id IS NULL
					AND i.tenant_id = r.tenant_id AND i.email = r.email`,
			`INSERT INTO portal_identity_customers (identity_id, customer_id)
				SELECT identity_id, customer_id FROM invitation_recipients
				WHERE run_id = $1 AND customer_id > $2 AND status = 'pending'
				ON CONFLICT DO NOTHING`,
		} {
			if _, err := tx.ExecContext(ctx, q, run.ID, state.After); err != nil {
				return fmt.Errorf("identities of run %s: %w", run.ID, err)
			}
		}
		if done = n < int64(limit); !done {
			return nil
		}
		return completeInvitationSelection(ctx, tx, run, sel)
	})
	if err != nil {
		return false, fmt.Errorf("select invitation recipients: %w", err)
	}
	return done, nil
}

// completeInvitationSelection ends a batch's selection in the transaction of its last
// slice: every identity of the batch (of recipients pending or mailed already: the
// first slices go out while the last is selected) is linked to the tenant's other live
// customers carrying its address (one pass over the customers, for the whole batch), the given
// keys that match no live customer are counted, and the total is recorded.
func completeInvitationSelection(ctx context.Context, tx *sqlx.Tx, run Run, sel InvitationSelection) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO portal_identity_customers (identity_id, customer_id)
		SELECT DISTINCT r.identity_id, c.id FROM invitation_recipients r
		JOIN customers c ON c.tenant_id = r.tenant_id AND lower(trim(c.email)) = r.email AND c.deleted_at IS NULL
		WHERE r.run_id = $1 AND r.identity_id IS NOT NULL AND c.id <> r.customer_id
		ON CONFLICT DO NOTHING`, run.ID); err != nil {
		return fmt.Errorf("identities of run %s: %w", run.ID, err)
	}
	var notFound int64
	if len(sel.Customers) > 0 {
		if err := tx.GetContext(ctx, &notFound, `SELECT count(*) FROM unnest($1::text[]) AS x(key)
			WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.account_id = $2 AND c.deleted_at IS NULL
				AND (c.external_id = x.key OR c.external_id = lpad(x.key, 20, '0') AND x.key ~ '^[0-9]{1,19}$'))`,
			pq.Array(sel.Customers), run.AccountID); err != nil {
			return fmt.Errorf("count unknown keys of run %s: %w", run.ID, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE job_runs SET progress_total = (SELECT count(*) FROM invitation_recipients WHERE run_id = $1),
		counts = counts || jsonb_build_object('not_found', $2::bigint) WHERE id = $1`, run.ID, notFound); err != nil {
		return fmt.Errorf("complete selection of run %s: %w", run.ID, err)
	}
	return nil
}

// externalIDKeys is each given key and, for 1 to 19 digits, its 20-digit padded form (a
// Nutzerfremdnummer typed without its leading zeros).
func externalIDKeys(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, id)
		if len(id) >= 1 && len(id) < 20 && strings.Trim(id, "0123456789") == "" {
			out = append(out, strings.Repeat("0", 20-len(id))+id)
		}
	}
	return out
}

// AbandonClaimedRecipients ends the rows a previous attempt claimed and never marked:
// the worker was killed while mailing them, so whether a mail went out is unknown. They
// are failed, never mailed again by this batch: a second mail is worse than none, and
// their customers stay uninvited, so a later batch (all_uninvited) reaches them.
func AbandonClaimedRecipients(ctx context.Context, db sqlx.ExecerContext, runID, message string) (int64, error) {
	res, err := db.ExecContext(ctx, `UPDATE invitation_recipients SET status = 'failed', error = $2
		WHERE run_id = $1 AND status = 'claimed'`, runID, message)
	if err != nil {
		return 0, fmt.Errorf("abandon claimed recipients of run %s: %w", runID, err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// Recipient is a claimed recipient with what its mail needs.
type Recipient struct {
	CustomerID int64   `db:"customer_id"`
	IdentityID int64   `db:"identity_id"`
	Email      string  `db:"email"`
	Attempt    int     `db:"attempt"`
	Locale     string  `db:"locale"` // the customer's, else the tenant's
	Salutation *string `db:"salutation"`
	FirstName  *string `db:"first_name"`
	LastName   *string `db:"last_name"`
	Company    *string `db:"company"`
	TokenID    string  `db:"token_id"` // the id of its recorded invitation link
}

// RecipientClaim claims recipients for sending (Claim). It is prepared once per batch:
// PostgreSQL parses the statement once per connection and soon keeps a plan of it, where
// planning it for every chunk cost about as much as running it.
type RecipientClaim struct{ stmt *sqlx.Stmt }

// PrepareRecipientClaim prepares the claim; Close it after the batch.
func PrepareRecipientClaim(ctx context.Context, db *sqlx.DB) (*RecipientClaim, error) {
	stmt, err := db.PreparexContext(ctx, `WITH due AS (
			SELECT customer_id FROM invitation_recipients
			WHERE run_id = $1 AND status = 'pending' AND next_attempt_at <= now()
			ORDER BY next_attempt_at, customer_id LIMIT $2 FOR UPDATE SKIP LOCKED),
		claimed AS (
			UPDATE invitation_recipients r SET status = 'claimed', attempt = r.attempt + 1, claimed_at = now()
			FROM due WHERE r.run_id = $1 AND r.customer_id = due.customer_id
			RETURNING r.customer_id, r.identity_id, r.tenant_id, r.email, r.attempt),
		numbered AS (
			SELECT cl.*, row_number() OVER (ORDER BY cl.customer_id) AS n FROM claimed cl),
		tokens AS (
			INSERT INTO login_tokens (id, tenant_id, identity_id, customer_id, purpose, run_id, expires_at)
			SELECT tok.id, nb.tenant_id, nb.identity_id, nb.customer_id, 'invite', $1, $4
			FROM numbered nb JOIN unnest($3::uuid[]) WITH ORDINALITY AS tok(id, n) ON tok.n = nb.n
			RETURNING customer_id, id)
		SELECT nb.customer_id, nb.identity_id, nb.email, nb.attempt, COALESCE(c.locale, t.locale) AS locale,
			c.salutation, c.first_name, c.last_name, c.company, tk.id AS token_id
		FROM numbered nb JOIN tokens tk ON tk.customer_id = nb.customer_id
			JOIN customers c ON c.id = nb.customer_id JOIN tenants t ON t.id = c.tenant_id
		ORDER BY nb.customer_id`)
	if err != nil {
		return nil, fmt.Errorf("prepare recipient claim: %w", err)
	}
	return &RecipientClaim{stmt: stmt}, nil
}

func (c *RecipientClaim) Close() error { return c.stmt.Close() }

// Claim claims, in tx, up to len(tokenIDs) recipients of run runID due now for sending
// and records an invitation link (login token, expiring at expires) for each: the i-th
// claimed row in customer order gets tokenIDs[i]. Each claim raises the row's attempt.
// Several senders claim concurrently without getting the same row. Claim and tokens are
// one statement (one round trip), so they commit together.
func (c *RecipientClaim) Claim(ctx context.Context, tx *sqlx.Tx, runID string, tokenIDs []string, expires time.Time) ([]Recipient, error) {
	var out []Recipient
	// The transaction's copy of the statement reuses the connection's preparation.
	if err := tx.StmtxContext(ctx, c.stmt).SelectContext(ctx, &out, runID, len(tokenIDs), pq.Array(tokenIDs), expires); err != nil {
		return nil, fmt.Errorf("claim recipients of run %s: %w", runID, err)
	}
	return out, nil
}

// RecipientOutcome is what became of a claimed recipient's mail.
type RecipientOutcome struct {
	CustomerID int64
	Status     string    // "sent", "failed", or "pending" to try again at RetryAt
	Error      string    // for failed and pending
	RetryAt    time.Time // for pending
}

// MarkRecipients records the outcomes of claimed rows; a sent mail also sets its
// customer's invited_at.
func MarkRecipients(ctx context.Context, db sqlx.ExecerContext, runID string, outs []RecipientOutcome) error {
	if len(outs) == 0 {
		return nil
	}
	ids, statuses, errs, retries := make([]int64, len(outs)), make([]string, len(outs)), make([]*string, len(outs)), make([]time.Time, len(outs))
	for i, o := range outs {
		ids[i], statuses[i], retries[i] = o.CustomerID, o.Status, o.RetryAt
		if o.Error != "" {
			errs[i] = &outs[i].Error
		}
		if retries[i].IsZero() {
			retries[i] = time.Now()
		}
	}
	// statement_timestamp: the transaction may have begun before these mails went out.
	// One statement: a round trip fewer per batch.
	if _, err := db.ExecContext(ctx, `WITH marked AS (
			UPDATE invitation_recipients r SET status = o.status, error = o.error,
				next_attempt_at = o.retry, sent_at = CASE WHEN o.status = 'sent' THEN statement_timestamp() END
			FROM unnest($2::bigint[], $3::text[], $4::text[], $5::timestamptz[]) AS o(customer_id, status, error, retry)
			WHERE r.run_id = $1 AND r.customer_id = o.customer_id AND r.status = 'claimed'
			RETURNING r.customer_id, r.status)
		UPDATE customers c SET invited_at = statement_timestamp()
		FROM marked m WHERE c.id = m.customer_id AND m.status = 'sent' AND c.invited_at IS NULL`,
		runID, pq.Array(ids), pq.Array(statuses), pq.Array(errs), pq.Array(retries)); err != nil {
		return fmt.Errorf("mark recipients of run %s: %w", runID, err)
	}
	return nil
}

// AsyncCommit lets tx commit without waiting for the WAL flush (synchronous_commit off):
// a crash of PostgreSQL may lose it. For a transaction that only marks recipients: a lost
// mark leaves its rows claimed, and a claimed row is never mailed again
// (AbandonClaimedRecipients fails it as uncertain), so it can cost an invitation, never
// a second mail. Never for a transaction that claims.
func AsyncCommit(ctx context.Context, tx sqlx.ExecerContext) error {
	if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
		return fmt.Errorf("asynchronous commit: %w", err)
	}
	return nil
}

// ReleaseRecipients hands claimed rows back untouched (their mails were not sent: the
// connection failed, or the worker is stopping), undoing the claim's attempt.
func ReleaseRecipients(ctx context.Context, db sqlx.ExecerContext, runID string, customerIDs []int64) error {
	if len(customerIDs) == 0 {
		return nil
	}
	if _, err := db.ExecContext(ctx, `UPDATE invitation_recipients SET status = 'pending', attempt = attempt - 1
		WHERE run_id = $1 AND customer_id = ANY($2) AND status = 'claimed'`, runID, pq.Array(customerIDs)); err != nil {
		return fmt.Errorf("release recipients of run %s: %w", runID, err)
	}
	return nil
}

// InvitationProgress is where a batch stands.
type InvitationProgress struct {
	Counts RunCounts
	Open   int64      // pending or claimed
	NextAt *time.Time // the earliest pending retry
}

// GetInvitationProgress counts the batch's recipients by outcome.
func GetInvitationProgress(ctx context.Context, db sqlx.QueryerContext, runID string) (InvitationProgress, error) {
	var row struct {
		Selected       int64      `db:"selected"`
		Sent           int64      `db:"sent"`
		NoEmail        int64      `db:"skipped_no_email"`
		AlreadyInvited int64      `db:"skipped_already_invited"`
		Failed         int64      `db:"failed"`
		Open           int64      `db:"open"`
		NextAt         *time.Time `db:"next_at"`
		NotFound       *int64     `db:"not_found"`
	}
	err := sqlx.GetContext(ctx, db, &row, `SELECT count(*) AS selected,
			count(*) FILTER (WHERE status = 'sent') AS sent,
			count(*) FILTER (WHERE skip_reason = 'no_email') AS skipped_no_email,
			count(*) FILTER (WHERE skip_reason = 'already_invited') AS skipped_already_invited,
			count(*) FILTER (WHERE status = 'failed') AS failed,
			count(*) FILTER (WHERE status IN ('pending', 'claimed')) AS open,
			min(next_attempt_at) FILTER (WHERE status = 'pending') AS next_at,
			(SELECT (counts->>'not_found')::bigint FROM job_runs WHERE id = $1) AS not_found
		FROM invitation_recipients WHERE run_id = $1`, runID)
	if err != nil {
		return InvitationProgress{}, fmt.Errorf("invitation progress of run %s: %w", runID, err)
	}
	c := RunCounts{"selected": row.Selected, "sent": row.Sent, "skipped_no_email": row.NoEmail,
		"skipped_already_invited": row.AlreadyInvited, "failed": row.Failed}
	if row.NotFound != nil {
		c["not_found"] = *row.NotFound
	}
	return InvitationProgress{Counts: c, Open: row.Open, NextAt: row.NextAt}, nil
}

// RecipientErrors lists the batch's failed recipients with their errors, for the API.
type RecipientError struct {
	CustomerID int64   `db:"customer_id" json:"portal_id"`
	ExternalID *string `db:"external_id" json:"external_id"`
	Email      *string `db:"email" json:"email"`
	Attempt    int     `db:"attempt" json:"attempts"`
	Error      string  `db:"error" json:"error"`
}

// InvitationFailures returns up to limit failed recipients of the batch.
func InvitationFailures(ctx context.Context, db sqlx.QueryerContext, runID string, limit int) ([]RecipientError, error) {
	out := []RecipientError{}
	if err := sqlx.SelectContext(ctx, db, &out, `SELECT r.customer_id, c.external_id, r.email, r.attempt, COALESCE(r.error, '') AS error
		FROM invitation_recipients r JOIN customers c ON c.id = r.customer_id
		WHERE r.run_id = $1 AND r.status = 'failed' ORDER BY r.customer_id LIMIT $2`, runID, limit); err != nil {
		return nil, fmt.Errorf("failures of run %s: %w", runID, err)
	}
	return out, nil
}
