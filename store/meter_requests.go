package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Portal-ready problems of a contract.
const (
	ProblemNoContactEmail        = "no_contact_email"
	ProblemDuplicateContactEmail = "duplicate_contact_email"
)

// PeriodSpan is one billing period: its key (2026-11, 2026-Q4, 2026) and its days.
type PeriodSpan struct {
	Key        string
	Start, End time.Time
}

// Periods are what a meter request asks for: the period of each interval that it
// selects (a month selects all three; a quarter only quarterly contracts, a year only
// yearly ones). A zero PeriodSpan leaves its interval out.
type Periods struct {
	Monthly, Quarterly, Yearly PeriodSpan
}

func (p Periods) intervals() []string {
	var out []string
	for _, x := range []struct {
		name string
		s    PeriodSpan
	}{{"monthly", p.Monthly}, {"quarterly", p.Quarterly}, {"yearly", p.Yearly}} {
		if x.s.Key != "" {
			out = append(out, x.name)
		}
	}
	return out
}

// ReadyScope selects the contracts a portal-ready check (or a meter request) covers.
type ReadyScope struct {
	TenantID  int64
	AccountID int64 // 0 = every account of the tenant (the periodic requests)
	All       bool
	Contracts []string // contract numbers, when not All
	// Periods, when set, makes the check the first step of a meter request: only
	// contracts with reporting=portal of the selected intervals, each with its period.
	Periods *Periods
	// Unrequested leaves out contracts whose period has been requested before.
	Unrequested bool
}

// ReadyCounts are a check's figures.
type ReadyCounts struct {
	Contracts int64 `db:"contracts"`
	NotReady  int64 `db:"not_ready"`
}

// CheckPortalReady records, once per batch and set-based, what the scope's contracts
// lack: no_contact_email (no contact, or a contact without an address) and
// duplicate_contact_email (two differently named contacts of one customer share an
// address). Every passing contact of those contracts gets portal access: the identity
// of its tenant and address, linked to the contact's customer. The same address at
// contacts of different customers is one identity acting for both.
func CheckPortalReady(ctx context.Context, db *sqlx.DB, batch string, s ReadyScope) (ReadyCounts, error) {
	var counts ReadyCounts
	err := InTx(ctx, db, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('portalwerk:portal-ready'), $1::int)`, s.TenantID); err != nil {
			return fmt.Errorf("lock portal-ready of tenant %d: %w", s.TenantID, err)
		}
		var done bool
		if err := tx.GetContext(ctx, &done, `SELECT EXISTS (SELECT 1 FROM portal_ready_results WHERE batch = $1)`, batch); err != nil {
			return fmt.Errorf("portal-ready %s: %w", batch, err)
		}
		if !done {
			if err := checkContracts(ctx, tx, batch, s); err != nil {
				return err
			}
			if err := grantAccess(ctx, tx, batch); err != nil {
				return err
			}
		}
		return tx.GetContext(ctx, &counts, `SELECT count(*) AS contracts, count(*) FILTER (WHERE problems <> '{}') AS not_ready
			FROM portal_ready_results WHERE batch = $1`, batch)
	})
	if err != nil {
		return ReadyCounts{}, fmt.Errorf("portal-ready %s: %w", batch, err)
	}
	return counts, nil
}

func checkContracts(ctx context.Context, tx *sqlx.Tx, batch string, s ReadyScope) error {
	intervals := []string{"monthly", "quarterly", "yearly"}
	var p Periods
	if s.Periods != nil {
		p = *s.Periods
		intervals = p.intervals()
	}
	date := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t.Format(time.DateOnly)
	}
	key := func(k string) any {
		if k == "" {
			return nil
		}
		return k
	}
	_, err := tx.ExecContext(ctx, `WITH sel AS (
			SELECT ct.id, ct.customer_id,
				CASE ct."interval" WHEN 'monthly' THEN $7 WHEN 'quarterly' THEN $8 ELSE $9 END AS period,
				CASE ct."interval" WHEN 'monthly' THEN $10::date WHEN 'quarterly' THEN $12::date ELSE $14::date END AS period_start,
				CASE ct."interval" WHEN 'monthly' THEN $11::date WHEN 'quarterly' THEN $13::date ELSE $15::date END AS period_end
			FROM contracts ct JOIN customers cu ON cu.id = ct.customer_id
			WHERE ct.tenant_id = $1 AND ($2 = 0 OR cu.account_id = $2) AND cu.deleted_at IS NULL
				AND ($3 OR ct.number = ANY($4)) AND (NOT $5 OR ct.reporting = 'portal') AND ct."interval" = ANY($6)
		), todo AS (
			SELECT * FROM sel WHERE NOT $16 OR NOT EXISTS (SELECT 1 FROM meter_request_contracts rc
				WHERE rc.contract_id = sel.id AND rc.period = sel.period)
		)
		INSERT INTO portal_ready_results (batch, tenant_id, contract_id, period, period_start, period_end, problems)
		SELECT $17, $1, t.id, t.period, t.period_start, t.period_end, array_remove(ARRAY[
			CASE WHEN NOT EXISTS (SELECT 1 FROM contract_contacts cc WHERE cc.contract_id = t.id)
				OR EXISTS (SELECT 1 FROM contract_contacts cc JOIN contacts p ON p.id = cc.contact_id
					WHERE cc.contract_id = t.id AND NULLIF(trim(p.email), '') IS NULL) THEN 'no_contact_email' END,
			CASE WHEN EXISTS (SELECT 1 FROM contract_contacts cc JOIN contacts p ON p.id = cc.contact_id
					JOIN contacts q ON q.customer_id = p.customer_id AND q.id <> p.id AND lower(trim(q.email)) = lower(trim(p.email))
					WHERE cc.contract_id = t.id AND NULLIF(trim(p.email), '') IS NOT NULL) THEN 'duplicate_contact_email' END
		], NULL) FROM todo t
		ON CONFLICT DO NOTHING`,
		s.TenantID, s.AccountID, s.All, pq.Array(s.Contracts), s.Periods != nil, pq.Array(intervals),
		key(p.Monthly.Key), key(p.Quarterly.Key), key(p.Yearly.Key),
		date(p.Monthly.Start), date(p.Monthly.End), date(p.Quarterly.Start), date(p.Quarterly.End), date(p.Yearly.Start), date(p.Yearly.End),
		s.Unrequested, batch)
	if err != nil {
		return fmt.Errorf("check contracts: %w", err)
	}
	return nil
}

// grantAccess gives every passing contact of the batch's contracts its identity.
func grantAccess(ctx context.Context, tx *sqlx.Tx, batch string) error {
	for _, q := range []string{
		`CREATE TEMP TABLE ready_contacts ON COMMIT DROP AS
			SELECT DISTINCT p.id AS contact_id, p.tenant_id, p.customer_id, lower(trim(p.email)) AS email
			FROM portal_ready_results r JOIN contract_contacts cc ON cc.contract_id = r.contract_id JOIN contacts p ON p.id = cc.contact_id
			WHERE r.batch = $1 AND NULLIF(trim(p.email), '') IS NOT NULL
				AND NOT EXISTS (SELECT 1 FROM contacts q WHERE q.customer_id = p.customer_id AND q.id <> p.id
					AND lower(trim(q.email)) = lower(trim(p.email)))`,
		`INSERT INTO portal_identities (tenant_id, email) SELECT DISTINCT tenant_id, email FROM ready_contacts
			ON CONFLICT (tenant_id, email) WHERE email IS NOT NULL DO NOTHING`,
		`INSERT INTO portal_contacts (contact_id, tenant_id, identity_id, email)
			SELECT rc.contact_id, rc.tenant_id, i.id, rc.email FROM ready_contacts rc
			JOIN portal_identities i ON i.tenant_id = rc.tenant_id AND i.email = rc.email
			ON CONFLICT (contact_id) DO UPDATE SET identity_id = EXCLUDED.identity_id, email = EXCLUDED.email, granted_at = now()
			WHERE portal_contacts.email IS DISTINCT FROM EXCLUDED.email`,
		`INSERT INTO portal_identity_customers (identity_id, customer_id)
			SELECT DISTINCT i.id, rc.customer_id FROM ready_contacts rc
			JOIN portal_identities i ON i.tenant_id = rc.tenant_id AND i.email = rc.email
			ON CONFLICT DO NOTHING`,
	} {
		var args []any
		if q[:6] == "CREATE" {
			args = []any{batch}
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("grant portal access: %w", err)
		}
	}
	return nil
}

// ReadyResult is one contract of a check.
type ReadyResult struct {
	Contract string         `db:"contract" json:"contract"`
	Customer *string        `db:"customer" json:"customer"`
	Period   *string        `db:"period" json:"period,omitempty"`
	Status   string         `db:"-" json:"status"` // ok or not_ready
	Problems pq.StringArray `db:"problems" json:"problems"`
}

// ReadyResults lists a check's contracts by number after the contract number after
// (paging); onlyProblems keeps those with problems.
func ReadyResults(ctx context.Context, db sqlx.QueryerContext, tenantID int64, batch string, onlyProblems bool, limit int) ([]ReadyResult, error) {
	out := []ReadyResult{}
	if err := sqlx.SelectContext(ctx, db, &out, `SELECT ct.number AS contract, cu.external_id AS customer, r.period, r.problems
		FROM portal_ready_results r JOIN contracts ct ON ct.id = r.contract_id JOIN customers cu ON cu.id = ct.customer_id
		WHERE r.batch = $1 AND r.tenant_id = $2 AND (NOT $3 OR r.problems <> '{}')
		ORDER BY ct.number, ct.id LIMIT $4`, batch, tenantID, onlyProblems, limit); err != nil {
		return nil, fmt.Errorf("portal-ready results %s: %w", batch, err)
	}
	for i := range out {
		out[i].Status = "ok"
		if len(out[i].Problems) > 0 {
			out[i].Status = "not_ready"
		}
	}
	return out, nil
}

// SelectMeterRecipients records, after the batch's check, the contacts its ready
// contracts mail: one row per contact and period, so a contact that another run or
// replica has mailed for the period is not mailed again. The ready contracts' periods
// count as requested. It returns the rows this batch added.
func SelectMeterRecipients(ctx context.Context, db *sqlx.DB, tenantID int64, batch string) (int64, error) {
	var n int64
	err := InTx(ctx, db, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO meter_request_contracts (contract_id, period, tenant_id, batch)
			SELECT contract_id, period, tenant_id, batch FROM portal_ready_results
			WHERE batch = $1 AND tenant_id = $2 AND problems = '{}' AND period IS NOT NULL
			ON CONFLICT DO NOTHING`, batch, tenantID); err != nil {
			return fmt.Errorf("requested contracts: %w", err)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO meter_request_recipients
				(tenant_id, contact_id, period, batch, identity_id, customer_id, email, period_start, period_end)
			SELECT DISTINCT ON (pc.contact_id, r.period) $2, pc.contact_id, r.period, $1, pc.identity_id, p.customer_id, pc.email,
				r.period_start, r.period_end
			FROM portal_ready_results r JOIN contract_contacts cc ON cc.contract_id = r.contract_id
			JOIN contacts p ON p.id = cc.contact_id JOIN portal_contacts pc ON pc.contact_id = p.id
			WHERE r.batch = $1 AND r.tenant_id = $2 AND r.problems = '{}' AND r.period IS NOT NULL
				AND pc.email = lower(trim(p.email))
			ORDER BY pc.contact_id, r.period
			ON CONFLICT DO NOTHING`, batch, tenantID)
		if err != nil {
			return fmt.Errorf("meter-request recipients: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("select meter-request recipients of %s: %w", batch, err)
	}
	return n, nil
}

// MeterRecipient is a claimed meter-request recipient with what its mail needs.
type MeterRecipient struct {
	ContactID  int64     `db:"contact_id"`
	Period     string    `db:"period"`
	IdentityID int64     `db:"identity_id"`
	CustomerID int64     `db:"customer_id"`
	Email      string    `db:"email"`
	Name       string    `db:"name"` // the contact's
	Attempt    int       `db:"attempt"`
	PeriodEnd  time.Time `db:"period_end"`
	Locale     string    `db:"locale"` // the customer's, else the tenant's
}

// ClaimMeterRecipients claims up to n of the batch's recipients due now; concurrent
// senders never get the same row.
func ClaimMeterRecipients(ctx context.Context, db sqlx.QueryerContext, tenantID int64, batch string, n int) ([]MeterRecipient, error) {
	var out []MeterRecipient
	err := sqlx.SelectContext(ctx, db, &out, `WITH due AS (
			SELECT contact_id, period FROM meter_request_recipients
			WHERE batch = $1 AND tenant_id = $2 AND status = 'pending' AND next_attempt_at <= now()
			ORDER BY next_attempt_at, contact_id LIMIT $3 FOR UPDATE SKIP LOCKED),
		claimed AS (
			UPDATE meter_request_recipients r SET status = 'claimed', attempt = r.attempt + 1, claimed_at = now()
			FROM due WHERE r.tenant_id = $2 AND r.contact_id = due.contact_id AND r.period = due.period
			RETURNING r.contact_id, r.period, r.identity_id, r.customer_id, r.email, r.attempt, r.period_end)
		SELECT cl.contact_id, cl.period, cl.identity_id, cl.customer_id, cl.email, p.name, cl.attempt, cl.period_end,
			COALESCE(c.locale, t.locale) AS locale
		FROM claimed cl JOIN contacts p ON p.id = cl.contact_id JOIN customers c ON c.id = cl.customer_id JOIN tenants t ON t.id = c.tenant_id
		ORDER BY cl.contact_id, cl.period`, batch, tenantID, n)
	if err != nil {
		return nil, fmt.Errorf("claim meter-request recipients of %s: %w", batch, err)
	}
	return out, nil
}

// MeterOutcome is what became of a claimed recipient's mail.
type MeterOutcome struct {
	ContactID int64
	Period    string
	Status    string // sent, failed, or pending (again at RetryAt)
	Error     string
	RetryAt   time.Time
	TokenID   string // the link mailed, for sent
}

// MarkMeterRecipients records the outcomes of claimed rows in one statement
// (statement_timestamp: the transaction may have begun before these mails went out).
func MarkMeterRecipients(ctx context.Context, db sqlx.ExecerContext, tenantID int64, outs []MeterOutcome) error {
	if len(outs) == 0 {
		return nil
	}
	n := len(outs)
	contacts, periods, statuses, errs, retries, toks := make([]int64, n), make([]string, n), make([]string, n), make([]*string, n),
		make([]time.Time, n), make([]*string, n)
	for i, o := range outs {
		contacts[i], periods[i], statuses[i], retries[i] = o.ContactID, o.Period, o.Status, o.RetryAt
		if o.Error != "" {
			errs[i] = &outs[i].Error
		}
		if o.TokenID != "" {
			toks[i] = &outs[i].TokenID
		}
		if retries[i].IsZero() {
			retries[i] = time.Now()
		}
	}
	if _, err := db.ExecContext(ctx, `UPDATE meter_request_recipients r SET status = o.status, error = o.error,
			next_attempt_at = o.retry, token_id = COALESCE(o.token, r.token_id), sent_at = CASE WHEN o.status = 'sent' THEN statement_timestamp() END
		FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::uuid[]) AS o(contact_id, period, status, error, retry, token)
		WHERE r.tenant_id = $1 AND r.contact_id = o.contact_id AND r.period = o.period AND r.status = 'claimed'`,
		tenantID, pq.Array(contacts), pq.Array(periods), pq.Array(statuses), pq.Array(errs), pq.Array(retries), pq.Array(toks)); err != nil {
		return fmt.Errorf("mark meter-request recipients: %w", err)
	}
	return nil
}

// MeterKey names a meter-request recipient row of a tenant.
type MeterKey struct {
	ContactID int64
	Period    string
}

// ReleaseMeterRecipients hands claimed rows back untouched (their mails were not sent:
// the connection failed, or the worker is stopping), undoing the claim's attempt.
func ReleaseMeterRecipients(ctx context.Context, db sqlx.ExecerContext, tenantID int64, keys []MeterKey) error {
	if len(keys) == 0 {
		return nil
	}
	contacts, periods := make([]int64, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		contacts[i], periods[i] = k.ContactID, k.Period
	}
	if _, err := db.ExecContext(ctx, `UPDATE meter_request_recipients r SET status = 'pending', attempt = r.attempt - 1
		FROM unnest($2::bigint[], $3::text[]) AS k(contact_id, period)
		WHERE r.tenant_id = $1 AND r.contact_id = k.contact_id AND r.period = k.period AND r.status = 'claimed'`,
		tenantID, pq.Array(contacts), pq.Array(periods)); err != nil {
		return fmt.Errorf("release meter-request recipients: %w", err)
	}
	return nil
}

// AbandonClaimedMeterRecipients fails the rows an interrupted attempt claimed and never
// marked: whether their mail went out is unknown, and a second mail is worse than none.
func AbandonClaimedMeterRecipients(ctx context.Context, db sqlx.ExecerContext, tenantID int64, batch, message string) (int64, error) {
	res, err := db.ExecContext(ctx, `UPDATE meter_request_recipients SET status = 'failed', error = $3
		WHERE batch = $1 AND tenant_id = $2 AND status = 'claimed'`, batch, tenantID, message)
	if err != nil {
		return 0, fmt.Errorf("abandon claimed meter-request recipients of %s: %w", batch, err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// MeterProgress is where a batch's mails stand.
type MeterProgress struct {
	Contacts int64      `db:"contacts"`
	Sent     int64      `db:"sent"`
	Failed   int64      `db:"failed"`
	Open     int64      `db:"open"`
	NextAt   *time.Time `db:"next_at"`
}

// GetMeterProgress counts the batch's recipients by outcome.
func GetMeterProgress(ctx context.Context, db sqlx.QueryerContext, tenantID int64, batch string) (MeterProgress, error) {
	return getOne[MeterProgress](ctx, db, "meter-request progress", `SELECT count(*) AS contacts,
			count(*) FILTER (WHERE status = 'sent') AS sent, count(*) FILTER (WHERE status = 'failed') AS failed,
			count(*) FILTER (WHERE status IN ('pending', 'claimed')) AS open,
			min(next_attempt_at) FILTER (WHERE status = 'pending') AS next_at
		FROM meter_request_recipients WHERE batch = $1 AND tenant_id = $2`, batch, tenantID)
}

// RevokeReleasedMeterLinks revokes the tenant's meter-entry links whose period is
// released: every register of the contact's portal contracts requested for the period
// has a released reading read on or after the period's first day. The sessions those
// links started stay valid.
func RevokeReleasedMeterLinks(ctx context.Context, db sqlx.ExecerContext, tenantID int64) (int64, error) {
	res, err := db.ExecContext(ctx, `UPDATE login_tokens t SET revoked_at = now()
		FROM meter_request_recipients m
		WHERE m.tenant_id = $1 AND m.token_id = t.id AND t.tenant_id = $1 AND t.revoked_at IS NULL AND t.purpose = 'meter-entry'
			AND NOT EXISTS (SELECT 1 FROM contract_contacts cc JOIN meter_request_contracts rc ON rc.contract_id = cc.contract_id AND rc.period = m.period
				JOIN meters me ON me.contract_id = cc.contract_id JOIN registers g ON g.meter_id = me.id
				WHERE cc.contact_id = m.contact_id AND NOT EXISTS (SELECT 1 FROM readings r WHERE r.register_id = g.id
					AND r.status = 'released' AND r.read_on >= m.period_start))`, tenantID)
	if err != nil {
		return 0, fmt.Errorf("revoke released meter links of tenant %d: %w", tenantID, err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
