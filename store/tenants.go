package store

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// TenantIDs lists every tenant, for the periodic work that runs once per tenant.
func TenantIDs(ctx context.Context, db sqlx.QueryerContext) ([]int64, error) {
	var ids []int64
	if err := sqlx.SelectContext(ctx, db, &ids, `SELECT id FROM tenants ORDER BY id`); err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	return ids, nil
}
