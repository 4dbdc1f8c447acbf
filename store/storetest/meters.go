package storetest

import (
	"context"
	"testing"

	"github.com/jmoiron/sqlx"

	"portalwerk/store"
)

// RegisterSpec describes a register for the Register factory; the zero values of the
// optional fields give a portal contract billed monthly and a 6-digit register.
type RegisterSpec struct {
	Customer  string // external_id; the customer is created in the account when missing
	Contract  string
	Reporting string // default portal
	Interval  string // default monthly
	Meter     string
	Register  string
	Digits    int // default 6
	Decimals  int
	Unit      string
}

// Register creates (or finds) the customer, contract, meter and register of spec in
// the account and returns the register's id.
func Register(t testing.TB, db sqlx.ExtContext, acc store.Account, spec RegisterSpec) int64 {
	t.Helper()
	ctx := context.Background()
	if spec.Reporting == "" {
		spec.Reporting = "portal"
	}
	if spec.Interval == "" {
		spec.Interval = "monthly"
	}
	if spec.Digits == 0 {
		spec.Digits = 6
	}
	var id int64
	err := sqlx.GetContext(ctx, db, &id, `WITH cu AS (
			INSERT INTO customers (tenant_id, account_id, external_id)
			SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM customers WHERE account_id = $2 AND external_id = $3 AND deleted_at IS NULL)
			RETURNING id
		), c AS (
			SELECT id FROM cu UNION ALL SELECT id FROM customers WHERE account_id = $2 AND external_id = $3 AND deleted_at IS NULL
		), ct AS (
			INSERT INTO contracts (tenant_id, customer_id, number, reporting, "interval") SELECT $1, id, $4, $5, $6 FROM c
			ON CONFLICT (customer_id, number) DO UPDATE SET reporting = EXCLUDED.reporting RETURNING id
		), m AS (
			INSERT INTO meters (tenant_id, contract_id, number) SELECT $1, id, $7 FROM ct
			ON CONFLICT (contract_id, number) DO UPDATE SET number = EXCLUDED.number RETURNING id
		)
		INSERT INTO registers (tenant_id, meter_id, name, unit, digits, decimals) SELECT $1, id, $8, NULLIF($9, ''), $10, $11 FROM m
		ON CONFLICT (meter_id, name) DO UPDATE SET digits = EXCLUDED.digits RETURNING id`,
		acc.TenantID, acc.ID, spec.Customer, spec.Contract, spec.Reporting, spec.Interval, spec.Meter, spec.Register,
		spec.Unit, spec.Digits, spec.Decimals)
	if err != nil {
		t.Fatalf("storetest: register: %v", err)
	}
	return id
}

// Released stores a released reading of the register (as the contracts import does).
func Released(t testing.TB, db sqlx.ExtContext, tenantID, registerID int64, value, readOn string) int64 {
	t.Helper()
	var id int64
	if err := sqlx.GetContext(context.Background(), db, &id, `INSERT INTO readings (tenant_id, register_id, value, read_on, status, source, released_at)
		VALUES ($1, $2, $3, $4, 'released', 'import', now()) RETURNING id`, tenantID, registerID, value, readOn); err != nil {
		t.Fatalf("storetest: released reading: %v", err)
	}
	return id
}
