package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// PortalRegister is a register as the portal's reading page shows it: its two latest
// released readings and the unreleased one, if any.
type PortalRegister struct {
	ID           int64      `db:"id"`
	Contract     string     `db:"contract"`
	Interval     string     `db:"interval"`
	Meter        string     `db:"meter"`
	Name         string     `db:"name"`
	Unit         *string    `db:"unit"`
	Digits       int        `db:"digits"`
	Decimals     int        `db:"decimals"`
	HowToReadURL *string    `db:"how_to_read_url"`
	LastValue    *string    `db:"last_value"`
	LastOn       *time.Time `db:"last_on"`
	LastSource   *string    `db:"last_source"`
	PrevValue    *string    `db:"prev_value"`
	PrevOn       *time.Time `db:"prev_on"`
	OpenValue    *string    `db:"open_value"`
	OpenOn       *time.Time `db:"open_on"`
	OpenOK       *bool      `db:"open_plausible"`
	// History for the plausibility rules: released readings, the first one's date and
	// the consumption from the first to the last, overflows included.
	Count       int        `db:"n"`
	FirstOn     *time.Time `db:"first_on"`
	Consumption string     `db:"consumption"`
}

const portalRegisterSelect = `SELECT g.id, ct.number AS contract, ct."interval", m.number AS meter, g.name, g.unit, g.digits, g.decimals,
		g.how_to_read_url, l1.value::text AS last_value, l1.read_on AS last_on, l1.source AS last_source,
		l2.value::text AS prev_value, l2.read_on AS prev_on,
		o.value::text AS open_value, o.read_on AS open_on, o.plausible AS open_plausible,
		COALESCE(h.n, 0) AS n, h.first_on, COALESCE(h.consumption, 0)::text AS consumption
	FROM contracts ct JOIN meters m ON m.contract_id = ct.id JOIN registers g ON g.meter_id = m.id
	LEFT JOIN LATERAL (SELECT r.value, r.read_on, r.source FROM readings r WHERE r.register_id = g.id AND r.status = 'released'
		ORDER BY r.read_on DESC, r.id DESC LIMIT 1) l1 ON true
	LEFT JOIN LATERAL (SELECT r.value, r.read_on FROM readings r WHERE r.register_id = g.id AND r.status = 'released'
		ORDER BY r.read_on DESC, r.id DESC OFFSET 1 LIMIT 1) l2 ON true
	LEFT JOIN readings o ON o.register_id = g.id AND o.status <> 'released'
	LEFT JOIN LATERAL (SELECT count(*) AS n, min(read_on) AS first_on,
			COALESCE(sum(CASE WHEN diff < 0 THEN diff + (10::numeric ^ g.digits)::bigint ELSE diff END), 0) AS consumption
		FROM (SELECT r.read_on, r.value - lag(r.value) OVER (ORDER BY r.read_on, r.id) AS diff
			FROM readings r WHERE r.register_id = g.id AND r.status = 'released') s) h ON true
	WHERE ct.tenant_id = $1 AND ct.customer_id = $2 AND ct.reporting = 'portal'`

// PortalRegisters lists the registers of the customer's contracts that report through
// the portal, by contract, meter and register.
func PortalRegisters(ctx context.Context, db sqlx.QueryerContext, tenantID, customerID int64) ([]PortalRegister, error) {
	out := []PortalRegister{}
	if err := sqlx.SelectContext(ctx, db, &out, portalRegisterSelect+` ORDER BY ct.number, m.number, g.name, g.id`, tenantID, customerID); err != nil {
		return nil, fmt.Errorf("portal registers of customer %d: %w", customerID, err)
	}
	return out, nil
}

// GetPortalRegister returns one of them; ErrNotFound for any other register.
func GetPortalRegister(ctx context.Context, db sqlx.QueryerContext, tenantID, customerID, registerID int64) (PortalRegister, error) {
	return getOne[PortalRegister](ctx, db, fmt.Sprintf("portal register %d", registerID), portalRegisterSelect+` AND g.id = $3`,
		tenantID, customerID, registerID)
}

// ContactOf returns the contact with portal access the identity acts as for the
// customer, nil when it acts as the customer itself.
func ContactOf(ctx context.Context, db sqlx.QueryerContext, tenantID, identityID, customerID int64) (*int64, error) {
	var ids []int64
	if err := sqlx.SelectContext(ctx, db, &ids, `SELECT pc.contact_id FROM portal_contacts pc JOIN contacts p ON p.id = pc.contact_id
		WHERE pc.tenant_id = $1 AND pc.identity_id = $2 AND p.customer_id = $3 ORDER BY pc.contact_id LIMIT 1`,
		tenantID, identityID, customerID); err != nil {
		return nil, fmt.Errorf("contact of identity %d: %w", identityID, err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return &ids[0], nil
}

// ReleasedReading is one released reading of a register, for the history page.
type ReleasedReading struct {
	RegisterID int64     `db:"register_id"`
	Value      string    `db:"value"`
	ReadOn     time.Time `db:"read_on"`
}

// PortalReleasedReadings lists the released readings of the customer's portal
// registers, by register and date.
func PortalReleasedReadings(ctx context.Context, db sqlx.QueryerContext, tenantID, customerID int64) ([]ReleasedReading, error) {
	out := []ReleasedReading{}
	if err := sqlx.SelectContext(ctx, db, &out, `SELECT r.register_id, r.value::text AS value, r.read_on
		FROM contracts ct JOIN meters m ON m.contract_id = ct.id JOIN registers g ON g.meter_id = m.id
		JOIN readings r ON r.register_id = g.id AND r.status = 'released'
		WHERE ct.tenant_id = $1 AND ct.customer_id = $2 AND ct.reporting = 'portal'
		ORDER BY r.register_id, r.read_on, r.id`, tenantID, customerID); err != nil {
		return nil, fmt.Errorf("released readings of customer %d: %w", customerID, err)
	}
	return out, nil
}
