package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Reading statuses: entered (waiting for the release), failed (the last release that
// checked it found a rule failing), released (locked, the base of the next reading).
const (
	ReadingEntered  = "entered"
	ReadingFailed   = "failed"
	ReadingReleased = "released"
)

// Reading sources.
const (
	SourcePortal = "portal"
	SourceImport = "import"
	SourceManual = "manual"
)

// Contract is a customer's contract with its contacts and registers.
type Contract struct {
	ID        int64      `db:"id" json:"contract_id"`
	Number    string     `db:"number" json:"contract"`
	Customer  *string    `db:"customer" json:"customer"` // the customer's external_id
	Reporting string     `db:"reporting" json:"reporting"`
	Interval  string     `db:"interval" json:"interval"`
	Contacts  []Contact  `db:"-" json:"contacts"`
	Registers []Register `db:"-" json:"registers"`
}

// Contact is a customer's contact person.
type Contact struct {
	ID    int64   `db:"id" json:"contact_id"`
	Name  string  `db:"name" json:"name"`
	Email *string `db:"email" json:"email"`
}

// Register is a meter's register with its last released reading.
type Register struct {
	ID              int64        `db:"id" json:"register_id"`
	ContractID      int64        `db:"contract_id" json:"-"`
	Meter           string       `db:"meter" json:"meter"`
	Name            string       `db:"name" json:"register"`
	Unit            *string      `db:"unit" json:"unit"`
	Digits          int          `db:"digits" json:"digits"`
	Decimals        int          `db:"decimals" json:"decimals"`
	HowToReadURL    *string      `db:"how_to_read_url" json:"how_to_read_url"`
	LastReading     *json.Number `db:"last_reading" json:"last_reading"`
	LastReadingDate *string      `db:"last_reading_date" json:"last_reading_date"`
}

// ContractsOfCustomer lists a customer's contracts (by number) with their contacts and
// registers (by meter and name), scoped to the tenant.
func ContractsOfCustomer(ctx context.Context, db sqlx.QueryerContext, tenantID, customerID int64) ([]Contract, error) {
	contracts := []Contract{}
	if err := sqlx.SelectContext(ctx, db, &contracts, `SELECT ct.id, ct.number, cu.external_id AS customer, ct.reporting, ct."interval"
		FROM contracts ct JOIN customers cu ON cu.id = ct.customer_id
		WHERE ct.tenant_id = $1 AND ct.customer_id = $2 ORDER BY ct.number, ct.id`, tenantID, customerID); err != nil {
		return nil, fmt.Errorf("list contracts: %w", err)
	}
	byID := map[int64]*Contract{}
	for i := range contracts {
		contracts[i].Contacts, contracts[i].Registers = []Contact{}, []Register{}
		byID[contracts[i].ID] = &contracts[i]
	}
	var contacts []struct {
		Contact
		ContractID int64 `db:"contract_id"`
	}
	if err := sqlx.SelectContext(ctx, db, &contacts, `SELECT cc.contract_id, p.id, p.name, p.email
		FROM contract_contacts cc JOIN contacts p ON p.id = cc.contact_id JOIN contracts ct ON ct.id = cc.contract_id
		WHERE ct.tenant_id = $1 AND ct.customer_id = $2 ORDER BY p.name, p.id`, tenantID, customerID); err != nil {
		return nil, fmt.Errorf("list contacts: %w", err)
	}
	for _, c := range contacts {
		byID[c.ContractID].Contacts = append(byID[c.ContractID].Contacts, c.Contact)
	}
	var regs []Register
	if err := sqlx.SelectContext(ctx, db, &regs, `SELECT g.id, m.contract_id, m.number AS meter, g.name, g.unit, g.digits, g.decimals,
			g.how_to_read_url, l.value::text AS last_reading, l.read_on::text AS last_reading_date
		FROM registers g JOIN meters m ON m.id = g.meter_id JOIN contracts ct ON ct.id = m.contract_id
		LEFT JOIN LATERAL (SELECT r.value, r.read_on FROM readings r WHERE r.register_id = g.id AND r.status = 'released'
			ORDER BY r.read_on DESC, r.id DESC LIMIT 1) l ON true
		WHERE ct.tenant_id = $1 AND ct.customer_id = $2 ORDER BY m.number, g.name`, tenantID, customerID); err != nil {
		return nil, fmt.Errorf("list registers: %w", err)
	}
	for _, g := range regs {
		byID[g.ContractID].Registers = append(byID[g.ContractID].Registers, g)
	}
	return contracts, nil
}

// NewReading is a reading entered for a register.
type NewReading struct {
	TenantID    int64
	RegisterID  int64
	Value       string // decimal, a point before the decimals
	ReadOn      time.Time
	Source      string
	Plausible   bool
	FlaggedRule *string
	EnteredBy   *int64 // the contact
}

// EnterReading stores the register's unreleased reading, replacing the one entered
// before (a correction makes a failed reading entered again). It returns the reading's
// id; ErrNotFound for a register outside the tenant.
func EnterReading(ctx context.Context, db sqlx.QueryerContext, n NewReading) (int64, error) {
	var id int64
	err := sqlx.GetContext(ctx, db, &id, `INSERT INTO readings (tenant_id, register_id, value, read_on, source, plausible, flagged_rule, entered_by)
		SELECT $1, g.id, $3, $4, $5, $6, $7, $8 FROM registers g WHERE g.id = $2 AND g.tenant_id = $1
		ON CONFLICT (register_id) WHERE status <> 'released' DO UPDATE SET value = EXCLUDED.value, read_on = EXCLUDED.read_on,
			source = EXCLUDED.source, plausible = EXCLUDED.plausible, flagged_rule = EXCLUDED.flagged_rule,
			entered_by = EXCLUDED.entered_by, entered_at = now(), status = 'entered', checked_run_id = NULL
		RETURNING id`, n.TenantID, n.RegisterID, n.Value, n.ReadOn.Format(time.DateOnly), n.Source, n.Plausible, n.FlaggedRule, n.EnteredBy)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("enter reading of register %d: %w", n.RegisterID, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("enter reading of register %d: %w", n.RegisterID, err)
	}
	return id, nil
}

// ReadingJSON is a reading as the API shows it.
type ReadingJSON struct {
	ID           int64         `db:"id" json:"reading_id"`
	AccountID    int64         `db:"account_id" json:"-"`
	Customer     *string       `db:"customer" json:"customer"`
	Contract     string        `db:"contract" json:"contract"`
	Meter        string        `db:"meter" json:"meter"`
	Register     string        `db:"register" json:"register"`
	RegisterID   int64         `db:"register_id" json:"register_id"`
	Unit         *string       `db:"unit" json:"unit"`
	Value        json.Number   `db:"value" json:"value"`
	ReadOn       string        `db:"read_on" json:"read_on"`
	Status       string        `db:"status" json:"status"`
	Source       string        `db:"source" json:"source"`
	Plausible    bool          `db:"plausible" json:"plausible"`
	FlaggedRule  *string       `db:"flagged_rule" json:"flagged_rule"`
	EnteredAt    time.Time     `db:"entered_at" json:"entered_at"`
	ReleasedAt   *time.Time    `db:"released_at" json:"released_at"`
	ReleasedBy   *string       `db:"released_by" json:"released_by"`
	ManualReason *string       `db:"manual_reason" json:"manual_reason"`
	FailedRule   *string       `db:"failed_rule" json:"-"`
	FailedMsg    *string       `db:"failed_message" json:"-"`
	Failure      *ReadingCheck `db:"-" json:"failure"`
}

// ReadingCheck is why the last release did not release a reading.
type ReadingCheck struct {
	RunID   string `json:"release_id"`
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

// ReadingFilter selects an account's readings.
type ReadingFilter struct {
	TenantID  int64
	AccountID int64
	Status    string // "" = every status
	After     int64
	Limit     int
}

const readingSelect = `SELECT r.id, cu.account_id, cu.external_id AS customer, ct.number AS contract, m.number AS meter,
		g.name AS register, g.id AS register_id, g.unit, r.value::text AS value, r.read_on::text AS read_on, r.status, r.source,
		r.plausible, r.flagged_rule, r.entered_at, r.released_at, a.name AS released_by, r.manual_reason,
		p.rule AS failed_rule, p.message AS failed_message, r.checked_run_id
	FROM readings r JOIN registers g ON g.id = r.register_id JOIN meters m ON m.id = g.meter_id
	JOIN contracts ct ON ct.id = m.contract_id JOIN customers cu ON cu.id = ct.customer_id
	LEFT JOIN accounts a ON a.id = r.released_by
	LEFT JOIN release_protocol p ON r.status = 'failed' AND p.run_id = r.checked_run_id AND p.reading_id = r.id`

type readingRow struct {
	ReadingJSON
	CheckedRun *string `db:"checked_run_id"`
}

func (r readingRow) out() ReadingJSON {
	out := r.ReadingJSON
	if out.FailedRule != nil && r.CheckedRun != nil {
		out.Failure = &ReadingCheck{RunID: *r.CheckedRun, Rule: *out.FailedRule, Message: *out.FailedMsg}
	}
	return out
}

// ListReadings pages through an account's readings by id.
func ListReadings(ctx context.Context, db sqlx.QueryerContext, f ReadingFilter) ([]ReadingJSON, error) {
	var rows []readingRow
	err := sqlx.SelectContext(ctx, db, &rows, readingSelect+`
		WHERE r.tenant_id = $1 AND cu.account_id = $2 AND ($3 = '' OR r.status = $3) AND r.id > $4
		ORDER BY r.id LIMIT $5`, f.TenantID, f.AccountID, f.Status, f.After, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list readings: %w", err)
	}
	out := make([]ReadingJSON, len(rows))
	for i, r := range rows {
		out[i] = r.out()
	}
	return out, nil
}

// GetReading returns one reading of the tenant.
func GetReading(ctx context.Context, db sqlx.QueryerContext, tenantID, id int64) (ReadingJSON, error) {
	r, err := getOne[readingRow](ctx, db, fmt.Sprintf("get reading %d", id), readingSelect+` WHERE r.tenant_id = $1 AND r.id = $2`, tenantID, id)
	return r.out(), err
}

// ReleaseReading releases one unreleased reading by hand, recording who, when and why;
// ErrConflict when it is released already.
func ReleaseReading(ctx context.Context, db sqlx.ExecerContext, tenantID, id, by int64, reason string) error {
	res, err := db.ExecContext(ctx, `UPDATE readings SET status = 'released', released_at = now(), released_by = $3, manual_reason = $4
		WHERE tenant_id = $1 AND id = $2 AND status <> 'released'`, tenantID, id, by, reason)
	if err != nil {
		return fmt.Errorf("release reading %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("release reading %d: %w", id, ErrConflict)
	}
	return nil
}

// ReleaseCandidate is an unreleased reading with what the plausibility rules need:
// its register and the register's released history.
type ReleaseCandidate struct {
	ID          int64
	Version     string // the row version (xmin) that was read: a reading written since is not the one checked
	Value       string
	ReadOn      time.Time
	Digits      int
	Decimals    int
	Unit        string
	Count       int // released readings of the register
	Last        string
	LastOn      time.Time
	FirstOn     time.Time
	Consumption string // from the first released reading to the last, overflows included
}

// ReleaseScope selects what a release checks: the unreleased readings of an account's
// contracts, all of them or those with the given numbers.
type ReleaseScope struct {
	TenantID  int64
	AccountID int64
	All       bool
	Contracts []string
}

// LockReleases serialises the releases of a tenant for the rest of tx, and gives tx
// the memory its joins and sorts over every unreleased reading need (with the default
// 4MB, 200,000 readings spill to disk) without JIT compilation (which costs more than
// it saves on these queries) and without parallel workers.
func LockReleases(ctx context.Context, tx *sqlx.Tx, tenantID int64) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('portalwerk:releases'), $1::int)`, tenantID); err != nil {
		return fmt.Errorf("lock releases of tenant %d: %w", tenantID, err)
	}
	// No parallel workers either: each would aggregate the released history once more
	// for itself (the aggregate is not parallel), doubling the CPU for the same wall time.
	if _, err := tx.ExecContext(ctx, `SET LOCAL work_mem = '128MB'; SET LOCAL jit = off; SET LOCAL max_parallel_workers_per_gather = 0`); err != nil {
		return fmt.Errorf("release settings: %w", err)
	}
	return nil
}

// ReleaseCandidates loads, in one query, every unreleased reading of the scope with its
// register and the register's released history, calling fn for each in id order. The
// query hands each candidate its register's released readings as one text ("id value
// date,…", one aggregate over the tenant's released readings joined by hash), and the
// history is put in (date, id) order and summed up here, exactly, as the window
// functions over it did before. One row per candidate rather than one per released
// reading halves what lib/pq decodes; ordering here rather than in the aggregate spares
// PostgreSQL a sort per register.
func ReleaseCandidates(ctx context.Context, tx *sqlx.Tx, s ReleaseScope, fn func(ReleaseCandidate) error) error {
	rows, err := tx.QueryContext(ctx, `SELECT c.id, c.xmin::text, c.value::text, c.read_on, g.digits, g.decimals, COALESCE(g.unit, ''), h.released
		FROM readings c JOIN registers g ON g.id = c.register_id JOIN meters m ON m.id = g.meter_id
		JOIN contracts ct ON ct.id = m.contract_id JOIN customers cu ON cu.id = ct.customer_id
		LEFT JOIN (SELECT register_id, string_agg(id::text || ' ' || value::text || ' ' || to_char(read_on, 'YYYY-MM-DD'), ',') AS released
			FROM readings WHERE tenant_id = $1 AND status = 'released' GROUP BY register_id) h ON h.register_id = c.register_id
		WHERE c.tenant_id = $1 AND c.status <> 'released' AND cu.account_id = $2 AND ($3 OR ct.number = ANY($4))
		ORDER BY c.id`, s.TenantID, s.AccountID, s.All, pq.Array(s.Contracts))
	if err != nil {
		return fmt.Errorf("load release candidates: %w", err)
	}
	defer rows.Close()
	var past []releasedReading // reused from candidate to candidate
	for rows.Next() {
		var (
			c        ReleaseCandidate
			released sql.NullString
		)
		if err := rows.Scan(&c.ID, &c.Version, &c.Value, &c.ReadOn, &c.Digits, &c.Decimals, &c.Unit, &released); err != nil {
			return fmt.Errorf("load release candidates: %w", err)
		}
		if past, err = parseReleased(past[:0], released.String); err != nil {
			return fmt.Errorf("load release candidates: reading %d: %w", c.ID, err)
		}
		hist := history{digits: c.Digits, decimals: c.Decimals}
		for _, r := range past {
			hist.add(r.value, r.on)
		}
		c.Count, c.Last, c.Consumption = hist.n, hist.last, hist.consumption()
		c.LastOn, c.FirstOn = c.ReadOn, c.ReadOn
		if hist.n > 0 {
			c.LastOn, c.FirstOn = hist.lastOn, hist.firstOn
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load release candidates: %w", err)
	}
	return nil
}

// releasedReading is one entry of a candidate's released history.
type releasedReading struct {
	id    int64
	value string
	on    time.Time
}

// parseReleased appends the entries of an aggregated history ("id value date,…", any
// order) to dst in (date, id) order.
func parseReleased(dst []releasedReading, s string) ([]releasedReading, error) {
	for s != "" {
		var one string
		one, s, _ = strings.Cut(s, ",")
		id, rest, _ := strings.Cut(one, " ")
		value, day, _ := strings.Cut(rest, " ")
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			return dst, fmt.Errorf("history %q: %w", one, err)
		}
		on, err := time.Parse(time.DateOnly, day)
		if err != nil {
			return dst, fmt.Errorf("history %q: %w", one, err)
		}
		dst = append(dst, releasedReading{id: n, value: value, on: on})
	}
	byDate := func(a, b releasedReading) int {
		if c := a.on.Compare(b.on); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	}
	if !slices.IsSortedFunc(dst, byDate) { // as the index gives them, mostly
		slices.SortFunc(dst, byDate)
	}
	return dst, nil
}

// history sums up a register's released readings in (read_on, id) order: their count,
// first and last date, the last value as PostgreSQL printed it, and the consumption
// from the first to the last, 10^digits added for every step down (an overflow). It
// counts in int64 units of 10^-decimals and switches to math/big for a value with more
// decimals or a sum that does not fit.
type history struct {
	digits, decimals int
	n                int
	last             string
	firstOn, lastOn  time.Time
	prev, sum        int64 // scaled, while exact is nil
	exact            *big.Rat
	prevRat          *big.Rat
}

func (h *history) add(value string, on time.Time) {
	if h.n == 0 {
		h.firstOn = on
	}
	h.n++
	h.last, h.lastOn = value, on
	v, ok := scaledValue(value, h.decimals)
	if h.exact == nil && ok && h.digits+h.decimals <= 18 {
		if h.n > 1 {
			d := v - h.prev
			if d < 0 {
				d += pow10i(h.digits + h.decimals)
			}
			if s := h.sum + d; s >= h.sum {
				h.sum, h.prev = s, v
				return
			}
		} else {
			h.prev = v
			return
		}
	}
	// math/big from here on.
	r, ok := new(big.Rat).SetString(value)
	if !ok {
		r = new(big.Rat) // numeric prints only numbers
	}
	if h.exact == nil {
		h.exact = new(big.Rat).SetFrac64(h.sum, pow10i(h.decimals))
		h.prevRat = new(big.Rat).SetFrac64(h.prev, pow10i(h.decimals))
		if h.n == 1 {
			h.prevRat = r
			return
		}
	}
	d := new(big.Rat).Sub(r, h.prevRat)
	if d.Sign() < 0 {
		d.Add(d, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(h.digits)), nil)))
	}
	h.exact.Add(h.exact, d)
	h.prevRat = r
}

// consumption is the summed consumption as a decimal string.
func (h *history) consumption() string {
	if h.exact != nil {
		if h.exact.IsInt() {
			return h.exact.FloatString(0)
		}
		// Exact for values of up to 40 decimals; the trailing zeros go.
		return strings.TrimRight(h.exact.FloatString(40), "0")
	}
	if h.decimals == 0 {
		return strconv.FormatInt(h.sum, 10)
	}
	p := pow10i(h.decimals)
	return fmt.Sprintf("%d.%0*d", h.sum/p, h.decimals, h.sum%p)
}

func pow10i(n int) int64 {
	p := int64(1)
	for ; n > 0; n-- {
		p *= 10
	}
	return p
}

// scaledValue reads a non-negative numeric as PostgreSQL prints it in units of
// 10^-decimals; false when it has more significant decimals or 18 digits or more.
func scaledValue(s string, decimals int) (int64, bool) {
	intPart, frac, _ := strings.Cut(s, ".")
	frac = strings.TrimRight(frac, "0")
	if intPart == "" || len(frac) > decimals || len(intPart)+decimals > 17 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(intPart); i++ {
		if intPart[i] < '0' || intPart[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(intPart[i]-'0')
	}
	for i := 0; i < decimals; i++ {
		n *= 10
		if i < len(frac) {
			if frac[i] < '0' || frac[i] > '9' {
				return 0, false
			}
			n += int64(frac[i] - '0')
		}
	}
	return n, true
}

// ReleaseResult is the release's verdict on one candidate: released, or not with the
// decisive rule and its message.
type ReleaseResult struct {
	ID      int64
	Version string // the candidate's: a reading changed meanwhile is left alone
	OK      bool
	Rule    string
	Message string
}

// ReleaseVerdicts collects a release's verdicts for ApplyRelease as the arrays its
// statement takes: one parameter per column instead of a temporary table filled with
// COPY (whose per-row calls through database/sql cost more than the rules).
type ReleaseVerdicts struct {
	ids, failedIDs  []int64
	versions        []string
	ok              []bool
	rules, messages []string
}

// Add takes one verdict.
func (v *ReleaseVerdicts) Add(r ReleaseResult) {
	v.ids = append(v.ids, r.ID)
	v.versions = append(v.versions, r.Version)
	v.ok = append(v.ok, r.OK)
	if !r.OK {
		v.failedIDs = append(v.failedIDs, r.ID)
		v.rules = append(v.rules, r.Rule)
		v.messages = append(v.messages, r.Message)
	}
}

// Len is how many verdicts v holds.
func (v *ReleaseVerdicts) Len() int { return len(v.ids) }

// ApplyRelease writes a release's verdicts in tx with one statement: passing readings
// become released, failing ones failed with their protocol entry. A reading corrected
// since it was checked (another row version: a correction, even to the same value, or a
// manual release) is left alone. It
// returns how many readings were released and failed.
func ApplyRelease(ctx context.Context, tx *sqlx.Tx, runID string, v *ReleaseVerdicts) (released, failed int64, err error) {
	// One pass over the readings for both verdicts: a second UPDATE … FROM for the
	// failing ones hashed every unreleased reading again.
	err = tx.QueryRowxContext(ctx, `WITH checked AS (
			UPDATE readings r SET status = CASE WHEN t.ok THEN 'released' ELSE 'failed' END,
				released_at = CASE WHEN t.ok THEN now() END, release_run_id = CASE WHEN t.ok THEN $1::uuid END, checked_run_id = $1
			FROM unnest($2::bigint[], $3::xid[], $4::boolean[]) AS t (id, version, ok)
			WHERE r.id = t.id AND r.xmin = t.version AND r.status <> 'released'
			RETURNING r.id, t.ok
		), protocol AS (
			INSERT INTO release_protocol (run_id, reading_id, rule, message)
			SELECT $1, f.id, f.rule, f.message FROM unnest($5::bigint[], $6::text[], $7::text[]) AS f (id, rule, message)
			JOIN checked c ON c.id = f.id AND NOT c.ok
			ON CONFLICT DO NOTHING
		)
		SELECT count(*) FILTER (WHERE ok), count(*) FILTER (WHERE NOT ok) FROM checked`, runID,
		pq.Array(v.ids), pq.Array(v.versions), pq.Array(v.ok),
		pq.Array(v.failedIDs), pq.Array(v.rules), pq.Array(v.messages)).Scan(&released, &failed)
	if err != nil {
		return 0, 0, fmt.Errorf("release %s: write verdicts: %w", runID, err)
	}
	return released, failed, nil
}

// ProtocolEntry is one reading a release did not release.
type ProtocolEntry struct {
	ReadingID int64  `db:"reading_id" json:"reading_id"`
	Contract  string `db:"contract" json:"contract"`
	Meter     string `db:"meter" json:"meter"`
	Register  string `db:"register" json:"register"`
	Rule      string `db:"rule" json:"rule"`
	Message   string `db:"message" json:"message"`
}

// ReleaseProtocol lists a release run's protocol by reading.
func ReleaseProtocol(ctx context.Context, db sqlx.QueryerContext, runID string) ([]ProtocolEntry, error) {
	out := []ProtocolEntry{}
	err := sqlx.SelectContext(ctx, db, &out, `SELECT p.reading_id, ct.number AS contract, m.number AS meter, g.name AS register, p.rule, p.message
		FROM release_protocol p JOIN readings r ON r.id = p.reading_id JOIN registers g ON g.id = r.register_id
		JOIN meters m ON m.id = g.meter_id JOIN contracts ct ON ct.id = m.contract_id
		WHERE p.run_id = $1 ORDER BY p.reading_id`, runID)
	if err != nil {
		return nil, fmt.Errorf("release protocol %s: %w", runID, err)
	}
	return out, nil
}

// PlausibilityOverrides returns the tenant's stored overrides of the plausibility
// defaults as JSON ({} when none).
func PlausibilityOverrides(ctx context.Context, db sqlx.QueryerContext, tenantID int64) (json.RawMessage, error) {
	var raw []byte
	err := sqlx.GetContext(ctx, db, &raw, `SELECT params FROM plausibility_settings WHERE tenant_id = $1`, tenantID)
	if errors.Is(err, sql.ErrNoRows) {
		return json.RawMessage("{}"), nil
	}
	if err != nil {
		return nil, fmt.Errorf("plausibility settings of tenant %d: %w", tenantID, err)
	}
	return raw, nil
}

// SetPlausibilityOverrides replaces the tenant's overrides.
func SetPlausibilityOverrides(ctx context.Context, db sqlx.ExecerContext, tenantID int64, params json.RawMessage) error {
	_, err := db.ExecContext(ctx, `INSERT INTO plausibility_settings (tenant_id, params) VALUES ($1, $2)
		ON CONFLICT (tenant_id) DO UPDATE SET params = EXCLUDED.params, updated_at = now()`, tenantID, []byte(params))
	if err != nil {
		return fmt.Errorf("set plausibility settings of tenant %d: %w", tenantID, err)
	}
	return nil
}

// MailTemplate returns the tenant's own text block of the name; ErrNotFound when it
// has none (the default applies).
func MailTemplate(ctx context.Context, db sqlx.QueryerContext, tenantID int64, name string) (string, error) {
	return getOne[string](ctx, db, "mail template "+name, `SELECT body FROM mail_templates WHERE tenant_id = $1 AND name = $2`, tenantID, name)
}

// SetMailTemplate stores the tenant's own text block of the name.
func SetMailTemplate(ctx context.Context, db sqlx.ExecerContext, tenantID int64, name, body string, by int64) error {
	_, err := db.ExecContext(ctx, `INSERT INTO mail_templates (tenant_id, name, body, updated_by) VALUES ($1, $2, $3, $4)
		ON CONFLICT (tenant_id, name) DO UPDATE SET body = EXCLUDED.body, updated_by = EXCLUDED.updated_by, updated_at = now()`,
		tenantID, name, body, by)
	if err != nil {
		return fmt.Errorf("set mail template %s: %w", name, err)
	}
	return nil
}
