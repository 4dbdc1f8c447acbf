package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Customer is an entry of an account's customer book.
type Customer struct {
	PortalID           int64          `db:"id" json:"portal_id"`
	AccountID          int64          `db:"account_id" json:"-"`
	ExternalID         *string        `db:"external_id" json:"external_id"`
	Account            string         `db:"account" json:"account"`
	Salutation         *string        `db:"salutation" json:"salutation"`
	FirstName          *string        `db:"first_name" json:"first_name"`
	LastName           *string        `db:"last_name" json:"last_name"`
	Company            *string        `db:"company" json:"company"`
	Street             *string        `db:"street" json:"street"`
	Zip                *string        `db:"zip" json:"zip"`
	City               *string        `db:"city" json:"city"`
	Email              *string        `db:"email" json:"email"`
	Phone              *string        `db:"phone" json:"phone"`
	Tags               pq.StringArray `db:"tags" json:"tags"`
	LoginID            *string        `db:"login_id" json:"login_id"`
	MustChangePassword bool           `db:"must_change_password" json:"must_change_password"`
	DeletedAt          *time.Time     `db:"deleted_at" json:"deleted_at"`
	InvitedAt          *time.Time     `db:"invited_at" json:"invited_at"`
	Appointments       int64          `db:"appointments" json:"appointments"`
	VisitReports       int64          `db:"visit_reports" json:"visit_reports"`
	VisitBlocks        int64          `db:"visit_blocks" json:"visit_blocks"`
}

// The counts are of the related data in the customer's account's history (unpinned, or
// pinned to its account): what stayed behind with the source account of a move without
// related data is not the customer's any more.
const customerColumns = `c.id, c.account_id, c.external_id, a.name AS account, c.salutation, c.first_name, c.last_name, c.company,
	c.street, c.zip, c.city, c.email, c.phone, c.tags, c.login_id, c.must_change_password, c.deleted_at, c.invited_at,
	(SELECT count(*) FROM appointments x WHERE x.customer_id = c.id AND (x.account_id IS NULL OR x.account_id = c.account_id)) AS appointments,
	(SELECT count(*) FROM visit_reports x WHERE x.customer_id = c.id AND (x.account_id IS NULL OR x.account_id = c.account_id)) AS visit_reports,
	(SELECT count(*) FROM visit_blocks x WHERE x.customer_id = c.id AND (x.account_id IS NULL OR x.account_id = c.account_id)) AS visit_blocks`

// CustomerFilter selects customers of one account.
type CustomerFilter struct {
	AccountID  int64
	ExternalID string // "" = any
	Trash      bool   // only the account's trash instead of its live customers
	After      int64  // page after this portal_id
	Limit      int
}

// ListCustomers pages through one account's customers by portal_id. An external ID of 1
// to 19 digits finds the customers with exactly that key, or, when there are none, those
// with its 20-digit form (a Nutzerfremdnummer typed without its leading zeros).
func ListCustomers(ctx context.Context, db sqlx.QueryerContext, f CustomerFilter) ([]Customer, error) {
	out := []Customer{}
	err := sqlx.SelectContext(ctx, db, &out, `WITH want AS (
			SELECT CASE WHEN $4 ~ '^[0-9]{1,19}$' AND NOT EXISTS (SELECT 1 FROM customers x
					WHERE x.account_id = $1 AND (x.deleted_at IS NOT NULL) = $2 AND x.external_id = $4)
				THEN lpad($4, 20, '0') ELSE $4 END AS external_id)
		SELECT `+customerColumns+`
		FROM customers c JOIN accounts a ON a.id = c.account_id, want w
		WHERE c.account_id = $1 AND (c.deleted_at IS NOT NULL) = $2 AND c.id > $3
			AND ($4 = '' OR c.external_id = w.external_id)
		ORDER BY c.id LIMIT $5`, f.AccountID, f.Trash, f.After, f.ExternalID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list customers: %w", err)
	}
	return out, nil
}

// GetCustomer returns one customer of the tenant, live or trashed.
func GetCustomer(ctx context.Context, db sqlx.QueryerContext, tenantID, portalID int64) (Customer, error) {
	return getOne[Customer](ctx, db, fmt.Sprintf("get customer %d", portalID), `SELECT `+customerColumns+`
		FROM customers c JOIN accounts a ON a.id = c.account_id
		WHERE c.tenant_id = $1 AND c.id = $2`, tenantID, portalID)
}
