package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// ErrExists is returned when a unique name is already taken.
var ErrExists = errors.New("already exists")

// Roles of an account.
const (
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// Account is a staff user of a tenant; it owns a customer book.
type Account struct {
	ID          int64  `db:"id"`
	TenantID    int64  `db:"tenant_id"`
	Tenant      string `db:"tenant"`
	Name        string `db:"name"`
	Role        string `db:"role"`
	CanTransfer bool   `db:"can_transfer"`
}

// IsAdmin says whether the account may import, invite, request and release.
func (a Account) IsAdmin() bool { return a.Role == RoleAdmin }

// NewAPIKey returns a fresh random API key and the hash to store for it.
func NewAPIKey() (key string, hash []byte) {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand panics instead)
	key = "pw_" + base64.RawURLEncoding.EncodeToString(b)
	return key, HashAPIKey(key)
}

// HashAPIKey is the stored form of a key.
func HashAPIKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

const accountColumns = `a.id, a.tenant_id, t.slug AS tenant, a.name, a.role, a.can_transfer`

// CreateAccount creates the tenant if it is missing and the account in it.
func CreateAccount(ctx context.Context, db sqlx.ExtContext, tenant, name, role string, canTransfer bool, keyHash []byte) (Account, error) {
	if _, err := db.ExecContext(ctx, `INSERT INTO tenants (slug) VALUES ($1) ON CONFLICT (slug) DO NOTHING`, tenant); err != nil {
		return Account{}, fmt.Errorf("create tenant %s: %w", tenant, err)
	}
	var id int64
	err := sqlx.GetContext(ctx, db, &id, `INSERT INTO accounts (tenant_id, name, role, can_transfer, key_hash)
		SELECT id, $2, $3, $4, $5 FROM tenants WHERE slug = $1 RETURNING id`, tenant, name, role, canTransfer, keyHash)
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "23505" {
		return Account{}, fmt.Errorf("account %s/%s: %w", tenant, name, ErrExists)
	}
	if err != nil {
		return Account{}, fmt.Errorf("create account %s/%s: %w", tenant, name, err)
	}
	return accountWhere(ctx, db, `a.id = $1`, id)
}

// AccountUpdate lists the changes to an account; nil fields stay as they are.
type AccountUpdate struct {
	Role        *string
	CanTransfer *bool
	KeyHash     []byte
}

// UpdateAccount changes an account's permissions or key.
func UpdateAccount(ctx context.Context, db sqlx.ExtContext, tenant, name string, u AccountUpdate) (Account, error) {
	res, err := db.ExecContext(ctx, `UPDATE accounts a SET
			role = COALESCE($3, a.role),
			can_transfer = COALESCE($4, a.can_transfer),
			key_hash = COALESCE($5, a.key_hash)
		FROM tenants t WHERE t.id = a.tenant_id AND t.slug = $1 AND a.name = $2`,
		tenant, name, u.Role, u.CanTransfer, u.KeyHash)
	if err != nil {
		return Account{}, fmt.Errorf("update account %s/%s: %w", tenant, name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Account{}, fmt.Errorf("account %s/%s: %w", tenant, name, ErrNotFound)
	}
	return accountWhere(ctx, db, `t.slug = $1 AND a.name = $2`, tenant, name)
}

// AccountByKey finds the account an API key belongs to.
func AccountByKey(ctx context.Context, db sqlx.QueryerContext, key string) (Account, error) {
	return accountWhere(ctx, db, `a.key_hash = $1`, HashAPIKey(key))
}

// AccountByName finds an account of the tenant by its name.
func AccountByName(ctx context.Context, db sqlx.QueryerContext, tenantID int64, name string) (Account, error) {
	return accountWhere(ctx, db, `a.tenant_id = $1 AND a.name = $2`, tenantID, name)
}

// AccountByID finds an account of the tenant by its id.
func AccountByID(ctx context.Context, db sqlx.QueryerContext, tenantID, id int64) (Account, error) {
	return accountWhere(ctx, db, `a.tenant_id = $1 AND a.id = $2`, tenantID, id)
}

func accountWhere(ctx context.Context, db sqlx.QueryerContext, where string, args ...any) (Account, error) {
	return getOne[Account](ctx, db, "get account", `SELECT `+accountColumns+` FROM accounts a JOIN tenants t ON t.id = a.tenant_id WHERE `+where, args...)
}

// ListAccounts lists the tenant's accounts by name; a tenant that does not exist is
// ErrNotFound.
func ListAccounts(ctx context.Context, db sqlx.QueryerContext, tenant string) ([]Account, error) {
	if _, err := getOne[int64](ctx, db, "get tenant "+tenant, `SELECT id FROM tenants WHERE slug = $1`, tenant); err != nil {
		return nil, err
	}
	out := []Account{}
	if err := sqlx.SelectContext(ctx, db, &out, `SELECT `+accountColumns+` FROM accounts a JOIN tenants t ON t.id = a.tenant_id
		WHERE t.slug = $1 ORDER BY a.name`, tenant); err != nil {
		return nil, fmt.Errorf("list accounts of %s: %w", tenant, err)
	}
	return out, nil
}
