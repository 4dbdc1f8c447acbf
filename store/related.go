package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// Appointment is a booked appointment of a customer.
type Appointment struct {
	ID        int64     `db:"id" json:"id"`
	StartsAt  time.Time `db:"starts_at" json:"starts_at"`
	Subject   string    `db:"subject" json:"subject"`
	CreatedAt time.Time `db:"created_at" json:"created_at"`
}

// VisitReport is the report of a visit at a customer; dates are YYYY-MM-DD.
type VisitReport struct {
	ID        int64     `db:"id" json:"id"`
	VisitedOn string    `db:"visited_on" json:"visited_on"`
	Text      string    `db:"text" json:"text"`
	CreatedAt time.Time `db:"created_at" json:"created_at"`
}

// VisitBlock is a period in which a customer does not want to be visited.
type VisitBlock struct {
	ID        int64     `db:"id" json:"id"`
	From      string    `db:"from_date" json:"from"`
	Until     string    `db:"until_date" json:"until"`
	Reason    string    `db:"reason" json:"reason"`
	CreatedAt time.Time `db:"created_at" json:"created_at"`
}

// Related data are added unpinned (account_id NULL): they belong to the history of the
// customer's current account and follow it (migration 0048).

// AddAppointment books an appointment for the customer, in its account's history.
func AddAppointment(ctx context.Context, db sqlx.QueryerContext, c Customer, startsAt time.Time, subject string) (Appointment, error) {
	return getOne[Appointment](ctx, db, "add appointment", `INSERT INTO appointments (customer_id, starts_at, subject)
		VALUES ($1, $2, $3) RETURNING id, starts_at, subject, created_at`, c.PortalID, startsAt, subject)
}

// AddVisitReport records a visit report for the customer.
func AddVisitReport(ctx context.Context, db sqlx.QueryerContext, c Customer, visitedOn, text string) (VisitReport, error) {
	return getOne[VisitReport](ctx, db, "add visit report", `INSERT INTO visit_reports (customer_id, visited_on, text)
		VALUES ($1, $2, $3) RETURNING id, to_char(visited_on, 'YYYY-MM-DD') AS visited_on, text, created_at`,
		c.PortalID, visitedOn, text)
}

// AddVisitBlock records a period without visits for the customer.
func AddVisitBlock(ctx context.Context, db sqlx.QueryerContext, c Customer, from, until, reason string) (VisitBlock, error) {
	return getOne[VisitBlock](ctx, db, "add visit block", `INSERT INTO visit_blocks (customer_id, from_date, until_date, reason)
		VALUES ($1, $2, $3, $4) RETURNING id, to_char(from_date, 'YYYY-MM-DD') AS from_date,
			to_char(until_date, 'YYYY-MM-DD') AS until_date, reason, created_at`, c.PortalID, from, until, reason)
}

// Appointments lists the customer's appointments in its account's history, by time.
func Appointments(ctx context.Context, db sqlx.QueryerContext, c Customer) ([]Appointment, error) {
	return listRelated[Appointment](ctx, db, "appointments", `SELECT id, starts_at, subject, created_at FROM appointments
		WHERE customer_id = $1 AND `+inHistory+` ORDER BY starts_at, id`, c)
}

// VisitReports lists the customer's visit reports, by date.
func VisitReports(ctx context.Context, db sqlx.QueryerContext, c Customer) ([]VisitReport, error) {
	return listRelated[VisitReport](ctx, db, "visit reports", `SELECT id, to_char(visited_on, 'YYYY-MM-DD') AS visited_on, text, created_at
		FROM visit_reports WHERE customer_id = $1 AND `+inHistory+` ORDER BY visited_on, id`, c)
}

// VisitBlocks lists the customer's visit blocks, by start.
func VisitBlocks(ctx context.Context, db sqlx.QueryerContext, c Customer) ([]VisitBlock, error) {
	return listRelated[VisitBlock](ctx, db, "visit blocks", `SELECT id, to_char(from_date, 'YYYY-MM-DD') AS from_date,
			to_char(until_date, 'YYYY-MM-DD') AS until_date, reason, created_at
		FROM visit_blocks WHERE customer_id = $1 AND `+inHistory+` ORDER BY from_date, id`, c)
}

// inHistory is true for a related row of the customer (customer_id = $1) in the history
// of its account ($2): unpinned, or pinned to that account (moved away and back).
const inHistory = `(account_id IS NULL OR account_id = $2)`

func listRelated[T any](ctx context.Context, db sqlx.QueryerContext, what, query string, c Customer) ([]T, error) {
	out := []T{}
	if err := sqlx.SelectContext(ctx, db, &out, query, c.PortalID, c.AccountID); err != nil {
		return nil, fmt.Errorf("list %s of customer %d: %w", what, c.PortalID, err)
	}
	return out, nil
}
