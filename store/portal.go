package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// NormalizeEmail is the form an e-mail address identifies a portal identity by.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// LoginCandidate is a portal identity (or a customer with a login ID) that a login
// name may mean; the password decides. Hash is the identity's password, or the
// customer's imported one while the identity has none.
type LoginCandidate struct {
	TenantID   int64   `db:"tenant_id"`
	IdentityID *int64  `db:"identity_id"` // nil: a customer with a login ID who has no identity yet
	CustomerID *int64  `db:"customer_id"` // the customer logged in with a login ID, else nil
	Email      *string `db:"email"`
	LoginID    *string `db:"login_id"`
	Hash       *string `db:"password_hash"`
	MustChange bool    `db:"must_change_password"`
}

// maxLoginCandidates bounds the password checks one login may cost: the same address in
// several tenants is rare, and each check is an argon2id hash.
const maxLoginCandidates = 5

// LoginCandidates finds who a login name means: an e-mail address (with "@") names the
// portal identities of that address in every tenant, and the live customers carrying it
// with an imported password whose tenant has no identity with a password for it;
// anything else a login ID of a live customer.
func LoginCandidates(ctx context.Context, db sqlx.QueryerContext, name string) ([]LoginCandidate, error) {
	var out []LoginCandidate
	var err error
	if strings.Contains(name, "@") {
		// An identity's own password, else (per tenant, while its identity has none) the
		// password a customers import gave a customer carrying the address.
		err = sqlx.SelectContext(ctx, db, &out, `(SELECT tenant_id, id AS identity_id, NULL::bigint AS customer_id, email,
				NULL::text AS login_id, password_hash, must_change_password
			FROM portal_identities WHERE email = $1 AND password_hash IS NOT NULL ORDER BY id LIMIT $2)
			UNION ALL
			(SELECT c.tenant_id, NULL::bigint, c.id, $1, c.login_id, c.password_hash, c.must_change_password
			FROM customers c WHERE lower(trim(c.email)) = $1 AND c.deleted_at IS NULL AND c.password_hash IS NOT NULL
				AND NOT EXISTS (SELECT 1 FROM portal_identities i WHERE i.tenant_id = c.tenant_id AND i.email = $1
					AND i.password_hash IS NOT NULL)
			ORDER BY c.id LIMIT $2)`,
			NormalizeEmail(name), maxLoginCandidates)
	} else {
		err = sqlx.SelectContext(ctx, db, &out, `SELECT c.tenant_id, i.id AS identity_id, c.id AS customer_id,
				NULLIF(lower(trim(c.email)), '') AS email, c.login_id,
				COALESCE(i.password_hash, c.password_hash) AS password_hash,
				CASE WHEN i.password_hash IS NOT NULL THEN i.must_change_password ELSE c.must_change_password END AS must_change_password
			FROM customers c
			LEFT JOIN LATERAL (SELECT i.* FROM portal_identities i JOIN portal_identity_customers ic ON ic.identity_id = i.id
				WHERE ic.customer_id = c.id ORDER BY i.email IS NULL, i.id LIMIT 1) i ON true
			WHERE c.login_id = $1 AND c.deleted_at IS NULL
				AND COALESCE(i.password_hash, c.password_hash) IS NOT NULL
			ORDER BY c.id LIMIT $2`, strings.TrimSpace(name), maxLoginCandidates)
	}
	if err != nil {
		return nil, fmt.Errorf("find login: %w", err)
	}
	return out, nil
}

// EnsureCustomerIdentity returns the identity a customer logs in as: the one of its
// e-mail address, created when missing, or for a customer without an address one of
// its own.
func EnsureCustomerIdentity(ctx context.Context, db *sqlx.DB, tenantID, customerID int64) (int64, error) {
	var id int64
	err := InTx(ctx, db, func(tx *sqlx.Tx) error {
		var email *string
		if err := tx.GetContext(ctx, &email, `SELECT NULLIF(lower(trim(email)), '') FROM customers
			WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenantID, customerID); err != nil {
			return fmt.Errorf("customer %d: %w", customerID, err)
		}
		if email != nil {
			if err := tx.GetContext(ctx, &id, `INSERT INTO portal_identities (tenant_id, email) VALUES ($1, $2)
				ON CONFLICT (tenant_id, email) WHERE email IS NOT NULL DO UPDATE SET email = EXCLUDED.email
				RETURNING id`, tenantID, *email); err != nil {
				return fmt.Errorf("identity of customer %d: %w", customerID, err)
			}
		} else {
			err := tx.GetContext(ctx, &id, `SELECT i.id FROM portal_identities i
				JOIN portal_identity_customers ic ON ic.identity_id = i.id
				WHERE ic.customer_id = $1 AND i.email IS NULL ORDER BY i.id LIMIT 1`, customerID)
			if err != nil {
				if err := tx.GetContext(ctx, &id, `INSERT INTO portal_identities (tenant_id) VALUES ($1) RETURNING id`, tenantID); err != nil {
					return fmt.Errorf("identity of customer %d: %w", customerID, err)
				}
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO portal_identity_customers (identity_id, customer_id) VALUES ($1, $2)
			ON CONFLICT DO NOTHING`, id, customerID)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("ensure identity: %w", err)
	}
	return id, LinkIdentityCustomers(ctx, db, tenantID, id)
}

// LinkIdentityCustomers links an identity to every live customer of its tenant that
// carries its address, and unlinks those that no longer do (an import changed the
// address) unless a contact of the customer with portal access still carries it. An
// identity without an address keeps its links.
func LinkIdentityCustomers(ctx context.Context, db sqlx.ExtContext, tenantID, identityID int64) error {
	if _, err := db.ExecContext(ctx, `WITH i AS (SELECT id, email FROM portal_identities WHERE tenant_id = $1 AND id = $2 AND email IS NOT NULL),
		gone AS (DELETE FROM portal_identity_customers ic USING i, customers c
			WHERE ic.identity_id = i.id AND c.id = ic.customer_id
				AND (c.deleted_at IS NOT NULL OR NULLIF(lower(trim(c.email)), '') IS DISTINCT FROM i.email AND NOT EXISTS (
					SELECT 1 FROM portal_contacts pc JOIN contacts p ON p.id = pc.contact_id
					WHERE pc.identity_id = i.id AND p.customer_id = c.id AND lower(trim(p.email)) = i.email)))
		INSERT INTO portal_identity_customers (identity_id, customer_id)
		SELECT i.id, c.id FROM i JOIN customers c ON c.tenant_id = $1 AND lower(trim(c.email)) = i.email AND c.deleted_at IS NULL
		ON CONFLICT DO NOTHING`, tenantID, identityID); err != nil {
		return fmt.Errorf("link identity %d: %w", identityID, err)
	}
	return nil
}

// Identity is a person who logs in to the portal.
type Identity struct {
	ID                 int64   `db:"id"`
	TenantID           int64   `db:"tenant_id"`
	Email              *string `db:"email"`
	LoginID            *string `db:"login_id"` // of a linked customer, for the password rules
	HasPassword        bool    `db:"has_password"`
	MustChangePassword bool    `db:"must_change_password"`
}

// GetIdentity returns the tenant's identity.
func GetIdentity(ctx context.Context, db sqlx.QueryerContext, tenantID, id int64) (Identity, error) {
	return getOne[Identity](ctx, db, fmt.Sprintf("get identity %d", id), `SELECT i.id, i.tenant_id, i.email,
			(SELECT c.login_id FROM portal_identity_customers ic JOIN customers c ON c.id = ic.customer_id
				WHERE ic.identity_id = i.id AND c.login_id IS NOT NULL ORDER BY c.id LIMIT 1) AS login_id,
			i.password_hash IS NOT NULL AS has_password, i.must_change_password
		FROM portal_identities i WHERE i.tenant_id = $1 AND i.id = $2`, tenantID, id)
}

// IdentitiesByEmail returns the identities of an address in every tenant (at most a few).
func IdentitiesByEmail(ctx context.Context, db sqlx.QueryerContext, email string) ([]Identity, error) {
	var out []Identity
	if err := sqlx.SelectContext(ctx, db, &out, `SELECT i.id, i.tenant_id, i.email, NULL::text AS login_id,
			i.password_hash IS NOT NULL AS has_password, i.must_change_password
		FROM portal_identities i WHERE i.email = $1 ORDER BY i.id LIMIT $2`, NormalizeEmail(email), maxLoginCandidates); err != nil {
		return nil, fmt.Errorf("identities by e-mail: %w", err)
	}
	return out, nil
}

// PortalCustomer is a customer as the portal shows it to a person who may act for it.
type PortalCustomer struct {
	ID     int64   `db:"id"`
	Name   string  `db:"name"`
	Locale *string `db:"locale"` // the customer's, else the tenant's
}

const portalCustomerName = `COALESCE(NULLIF(c.company, ''), NULLIF(trim(concat_ws(' ', c.first_name, c.last_name)), ''),
	c.external_id, 'Kunde ' || c.id)`

// IdentityCustomers lists the live customers an identity acts for, by id.
func IdentityCustomers(ctx context.Context, db sqlx.QueryerContext, tenantID, identityID int64) ([]PortalCustomer, error) {
	out := []PortalCustomer{}
	if err := sqlx.SelectContext(ctx, db, &out, `SELECT c.id, `+portalCustomerName+` AS name, COALESCE(c.locale, t.locale) AS locale
		FROM portal_identity_customers ic JOIN customers c ON c.id = ic.customer_id JOIN tenants t ON t.id = c.tenant_id
		WHERE ic.identity_id = $2 AND c.tenant_id = $1 AND c.deleted_at IS NULL ORDER BY c.id`, tenantID, identityID); err != nil {
		return nil, fmt.Errorf("customers of identity %d: %w", identityID, err)
	}
	return out, nil
}

// SetIdentityPassword stores a new password hash: the identity and its customers no
// longer need to change it, its open invitation links are revoked (they lead to setting
// a password, which is done), and its sessions are released from the password page.
func SetIdentityPassword(ctx context.Context, db *sqlx.DB, tenantID, identityID int64, hash string) error {
	return InTx(ctx, db, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE portal_identities SET password_hash = $3, must_change_password = false,
			password_set_at = now() WHERE tenant_id = $1 AND id = $2`, tenantID, identityID, hash)
		if err != nil {
			return fmt.Errorf("set password of identity %d: %w", identityID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("set password of identity %d: %w", identityID, ErrNotFound)
		}
		for _, q := range []string{
			`UPDATE customers c SET must_change_password = false FROM portal_identity_customers ic
				WHERE ic.identity_id = $2 AND c.id = ic.customer_id AND c.tenant_id = $1 AND c.must_change_password`,
			`UPDATE login_tokens SET revoked_at = now() WHERE tenant_id = $1 AND identity_id = $2
				AND purpose = 'invite' AND revoked_at IS NULL`,
			`UPDATE portal_sessions SET must_change_password = false WHERE tenant_id = $1 AND identity_id = $2`,
		} {
			if _, err := tx.ExecContext(ctx, q, tenantID, identityID); err != nil {
				return fmt.Errorf("set password of identity %d: %w", identityID, err)
			}
		}
		return nil
	})
}

// HashSessionID is the stored form of a session id (random, so a fast hash suffices).
func HashSessionID(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

// Session is a logged-in person acting for one of its customers.
type Session struct {
	TenantID           int64     `db:"tenant_id"`
	IdentityID         int64     `db:"identity_id"`
	CustomerID         int64     `db:"customer_id"`
	Purpose            string    `db:"purpose"` // "password", "invite" or "meter-entry": how it started
	MustChangePassword bool      `db:"must_change_password"`
	CreatedAt          time.Time `db:"created_at"`
	ExpiresAt          time.Time `db:"expires_at"`
}

// NewSession is a session to start.
type NewSession struct {
	IDHash             []byte
	TenantID           int64
	IdentityID         int64
	CustomerID         int64
	Purpose            string
	MustChangePassword bool
	Lifetime           time.Duration // absolute
}

// CreateSession records a session.
func CreateSession(ctx context.Context, db sqlx.ExecerContext, n NewSession) error {
	if _, err := db.ExecContext(ctx, `INSERT INTO portal_sessions
			(id_hash, tenant_id, identity_id, customer_id, purpose, must_change_password, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, now() + $7 * interval '1 second')`,
		n.IDHash, n.TenantID, n.IdentityID, n.CustomerID, n.Purpose, n.MustChangePassword, n.Lifetime.Seconds()); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

const sessionColumns = `tenant_id, identity_id, customer_id, purpose, must_change_password, created_at, expires_at`

// TouchSession returns the live session of hash and marks it used; a session past its
// absolute expiry, or unused for longer than idle, is ErrNotFound (and deleted).
func TouchSession(ctx context.Context, db sqlx.ExtContext, hash []byte, idle time.Duration) (Session, error) {
	s, err := getOne[Session](ctx, db, "session", `UPDATE portal_sessions SET last_seen_at = now()
		WHERE id_hash = $1 AND expires_at > now() AND last_seen_at > now() - $2 * interval '1 second'
		RETURNING `+sessionColumns, hash, idle.Seconds())
	if errors.Is(err, ErrNotFound) {
		if _, derr := db.ExecContext(ctx, `DELETE FROM portal_sessions WHERE id_hash = $1`, hash); derr != nil {
			return Session{}, fmt.Errorf("delete expired session: %w", derr)
		}
	}
	return s, err
}

// RotateSession gives a session a new id (and active customer), keeping its absolute
// expiry; the old id stops working.
func RotateSession(ctx context.Context, db sqlx.ExecerContext, oldHash, newHash []byte, customerID int64) error {
	res, err := db.ExecContext(ctx, `UPDATE portal_sessions SET id_hash = $2, customer_id = $3, last_seen_at = now()
		WHERE id_hash = $1`, oldHash, newHash, customerID)
	if err != nil {
		return fmt.Errorf("rotate session: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("rotate session: %w", ErrNotFound)
	}
	return nil
}

// DeleteSession ends a session (logout).
func DeleteSession(ctx context.Context, db sqlx.ExecerContext, hash []byte) error {
	if _, err := db.ExecContext(ctx, `DELETE FROM portal_sessions WHERE id_hash = $1`, hash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// NewLoginToken is a login link's recorded token id.
type NewLoginToken struct {
	ID         string
	TenantID   int64
	IdentityID int64
	CustomerID int64
	Purpose    string
	RunID      *string
	ExpiresAt  time.Time
}

// CreateLoginTokens records tokens in one statement.
func CreateLoginTokens(ctx context.Context, db sqlx.ExecerContext, toks []NewLoginToken) error {
	if len(toks) == 0 {
		return nil
	}
	ids, tenants, identities, customers := make([]string, len(toks)), make([]int64, len(toks)), make([]int64, len(toks)), make([]int64, len(toks))
	purposes, runs, expires := make([]string, len(toks)), make([]*string, len(toks)), make([]time.Time, len(toks))
	for i, t := range toks {
		ids[i], tenants[i], identities[i], customers[i] = t.ID, t.TenantID, t.IdentityID, t.CustomerID
		purposes[i], runs[i], expires[i] = t.Purpose, t.RunID, t.ExpiresAt
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO login_tokens (id, tenant_id, identity_id, customer_id, purpose, run_id, expires_at)
		SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::uuid[], $7::timestamptz[])`,
		pq.Array(ids), pq.Array(tenants), pq.Array(identities), pq.Array(customers), pq.Array(purposes),
		pq.Array(runs), pq.Array(expires)); err != nil {
		return fmt.Errorf("record login tokens: %w", err)
	}
	return nil
}

// UseLoginToken counts a use of a recorded token whose recorded facts match what the
// token says; a missing, revoked, expired or mismatching token is ErrNotFound.
func UseLoginToken(ctx context.Context, db sqlx.ExecerContext, id string, tenantID, identityID, customerID int64, purpose string) error {
	if !ValidID(id) {
		return fmt.Errorf("use login token: %w", ErrNotFound)
	}
	res, err := db.ExecContext(ctx, `UPDATE login_tokens SET uses = uses + 1, last_used_at = now()
		WHERE id = $1 AND tenant_id = $2 AND identity_id = $3 AND customer_id = $4 AND purpose = $5
			AND revoked_at IS NULL AND expires_at > now()`, id, tenantID, identityID, customerID, purpose)
	if err != nil {
		return fmt.Errorf("use login token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("use login token: %w", ErrNotFound)
	}
	return nil
}

// RevokeLoginToken revokes one of the tenant's tokens.
func RevokeLoginToken(ctx context.Context, db sqlx.ExecerContext, tenantID int64, id string) error {
	if !ValidID(id) {
		return fmt.Errorf("revoke login token: %w", ErrNotFound)
	}
	res, err := db.ExecContext(ctx, `UPDATE login_tokens SET revoked_at = COALESCE(revoked_at, now())
		WHERE tenant_id = $1 AND id = $2`, tenantID, id)
	if err != nil {
		return fmt.Errorf("revoke login token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("revoke login token: %w", ErrNotFound)
	}
	return nil
}

// LoginTokenUses returns how often a token was used.
func LoginTokenUses(ctx context.Context, db sqlx.QueryerContext, tenantID int64, id string) (int, error) {
	return getOne[int](ctx, db, "login token uses", `SELECT uses FROM login_tokens WHERE tenant_id = $1 AND id = $2`, tenantID, id)
}

// TenantMailInfo is what a mail to a tenant's customers shows of the tenant.
type TenantMailInfo struct {
	Name   string `db:"name"`
	Locale string `db:"locale"`
}

// GetTenantMailInfo returns the tenant's name (its slug until one is set) and locale.
func GetTenantMailInfo(ctx context.Context, db sqlx.QueryerContext, tenantID int64) (TenantMailInfo, error) {
	return getOne[TenantMailInfo](ctx, db, "tenant", `SELECT COALESCE(name, slug) AS name, locale FROM tenants WHERE id = $1`, tenantID)
}

// PortalPage is what a portal page shows of the tenant, and the language it is written
// in: the customer's locale, else the tenant's.
type PortalPage struct {
	TenantName string `db:"tenant_name"`
	Locale     string `db:"locale"`
}

// GetPortalPage returns the tenant's name (its slug until one is set) and the locale of
// the customer, else of the tenant.
func GetPortalPage(ctx context.Context, db sqlx.QueryerContext, tenantID, customerID int64) (PortalPage, error) {
	return getOne[PortalPage](ctx, db, "portal page", `SELECT COALESCE(t.name, t.slug) AS tenant_name,
			COALESCE(c.locale, t.locale) AS locale
		FROM tenants t LEFT JOIN customers c ON c.tenant_id = t.id AND c.id = $2 WHERE t.id = $1`, tenantID, customerID)
}

// CustomersByEmail returns, per tenant, the first live customer carrying the address (at
// most a few tenants): whom a forgotten-password mail is for.
func CustomersByEmail(ctx context.Context, db sqlx.QueryerContext, email string) ([]TenantCustomer, error) {
	var out []TenantCustomer
	if err := sqlx.SelectContext(ctx, db, &out, `SELECT tenant_id, min(id) AS customer_id FROM customers
		WHERE lower(trim(email)) = $1 AND deleted_at IS NULL GROUP BY tenant_id ORDER BY tenant_id LIMIT $2`,
		NormalizeEmail(email), maxLoginCandidates); err != nil {
		return nil, fmt.Errorf("customers by e-mail: %w", err)
	}
	return out, nil
}

// TenantCustomer names a customer with its tenant.
type TenantCustomer struct {
	TenantID   int64 `db:"tenant_id"`
	CustomerID int64 `db:"customer_id"`
}
