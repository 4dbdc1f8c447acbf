package store_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/lib/pq"

	"portalwerk/store"
	"portalwerk/store/storetest"
)

// customer creates a customer of acc with one appointment, visit report and visit block.
func (b *testBundle) customer(t *testing.T, acc store.Account, externalID, loginID string) store.Customer {
	t.Helper()
	var id int64
	var login *string
	if loginID != "" {
		login = &loginID
	}
	if err := b.tx.GetContext(b.ctx, &id, `INSERT INTO customers (tenant_id, account_id, external_id, last_name, email, login_id, password_hash, invited_at)
		VALUES ($1, $2, $3, 'Müller', 'anna@example.de', $4, CASE WHEN $4::text IS NULL THEN NULL ELSE 'hash' END, now()) RETURNING id`,
		acc.TenantID, acc.ID, externalID, login); err != nil {
		t.Fatal(err)
	}
	c, err := store.GetCustomer(b.ctx, b.tx, acc.TenantID, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.AddAppointment(b.ctx, b.tx, c, time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC), "Wartung"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.AddVisitReport(b.ctx, b.tx, c, "2026-11-20", "Zähler getauscht"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.AddVisitBlock(b.ctx, b.tx, c, "2026-12-20", "2027-01-06", "Betriebsferien"); err != nil {
		t.Fatal(err)
	}
	c, err = store.GetCustomer(b.ctx, b.tx, acc.TenantID, id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (b *testBundle) getCustomer(t *testing.T, id int64) store.Customer {
	t.Helper()
	c, err := store.GetCustomer(b.ctx, b.tx, b.acc.TenantID, id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func related(c store.Customer) [3]int64 {
	return [3]int64{c.Appointments, c.VisitReports, c.VisitBlocks}
}

func TestTransferCopy(t *testing.T) {
	b := setup(t)
	maier := storetest.Account(t, b.tx, b.acc.Tenant, "maier", "")
	src := b.customer(t, b.acc, "K-1", "anna")

	cp, err := store.TransferCustomer(b.ctx, b.tx, b.acc.TenantID, src.PortalID, maier.ID, store.TransferCopy, true)
	if err != nil {
		t.Fatal(err)
	}
	if cp.PortalID == src.PortalID || cp.Account != "maier" || *cp.ExternalID != "K-1" || *cp.LastName != "Müller" {
		t.Errorf("copy %+v", cp)
	}
	if cp.LoginID != nil || cp.InvitedAt != nil {
		t.Errorf("the copy took the login %v or invitation %v of the source", cp.LoginID, cp.InvitedAt)
	}
	if related(cp) != [3]int64{1, 1, 1} {
		t.Errorf("copy's related data %v, want one of each", related(cp))
	}
	if again := b.getCustomer(t, src.PortalID); again.Account != "huber" || related(again) != [3]int64{1, 1, 1} || *again.LoginID != "anna" {
		t.Errorf("the source changed: %+v", again)
	}
	list, err := store.Appointments(b.ctx, b.tx, cp)
	if err != nil || len(list) != 1 || list[0].Subject != "Wartung" {
		t.Errorf("copy's appointments %v %v", list, err)
	}
	// Without related data, a copy starts with none.
	bare, err := store.TransferCustomer(b.ctx, b.tx, b.acc.TenantID, b.customer(t, b.acc, "K-2", "").PortalID, maier.ID, store.TransferCopy, false)
	if err != nil || related(bare) != [3]int64{} {
		t.Errorf("copy without related data: %v %v", related(bare), err)
	}
}

func TestTransferMove(t *testing.T) {
	b := setup(t)
	maier := storetest.Account(t, b.tx, b.acc.Tenant, "maier", "")

	// With related data, everything goes along; a trashed customer comes out of the trash.
	src := b.customer(t, b.acc, "K-1", "anna")
	b.tx.MustExecContext(b.ctx, `UPDATE customers SET deleted_at = now() WHERE id = $1`, src.PortalID)
	mv, err := store.TransferCustomer(b.ctx, b.tx, b.acc.TenantID, src.PortalID, maier.ID, store.TransferMove, true)
	if err != nil {
		t.Fatal(err)
	}
	if mv.PortalID != src.PortalID || mv.Account != "maier" || mv.DeletedAt != nil || *mv.LoginID != "anna" || related(mv) != [3]int64{1, 1, 1} {
		t.Errorf("moved %+v", mv)
	}

	// Without, the related data stays in huber's history: not the customer's any more, not lost.
	src = b.customer(t, b.acc, "K-2", "")
	mv, err = store.TransferCustomer(b.ctx, b.tx, b.acc.TenantID, src.PortalID, maier.ID, store.TransferMove, false)
	if err != nil {
		t.Fatal(err)
	}
	if mv.PortalID != src.PortalID || related(mv) != [3]int64{} {
		t.Errorf("moved without related data: %+v", mv)
	}
	var left int
	b.tx.GetContext(b.ctx, &left, `SELECT count(*) FROM appointments WHERE customer_id = $1 AND account_id = $2`, src.PortalID, b.acc.ID)
	if left != 1 {
		t.Errorf("%d appointments left in the source account's history, want 1", left)
	}
}

func TestTransferRefusesATakenKey(t *testing.T) {
	b := setup(t)
	maier := storetest.Account(t, b.tx, b.acc.Tenant, "maier", "")
	b.customer(t, maier, "K-1", "")
	src := b.customer(t, b.acc, "K-1", "")
	for _, mode := range []store.TransferMode{store.TransferCopy, store.TransferMove} {
		if _, err := store.TransferCustomer(b.ctx, b.tx, b.acc.TenantID, src.PortalID, maier.ID, mode, true); !errors.Is(err, store.ErrConflict) {
			t.Errorf("%s onto a taken key: %v, want ErrConflict", mode, err)
		}
	}
	// Another tenant's customer is not found.
	other := storetest.Account(t, b.tx, "", "huber", "")
	if _, err := store.TransferCustomer(b.ctx, b.tx, other.TenantID, src.PortalID, other.ID, store.TransferMove, true); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another tenant's customer: %v, want ErrNotFound", err)
	}
}

func TestPurgeTrashKeepsAppointments(t *testing.T) {
	b := setup(t)
	old, recent, live := b.customer(t, b.acc, "K-1", "anna"), b.customer(t, b.acc, "K-2", ""), b.customer(t, b.acc, "K-3", "")
	b.tx.MustExecContext(b.ctx, `UPDATE customers SET deleted_at = now() - interval '15 days' WHERE id = $1`, old.PortalID)
	b.tx.MustExecContext(b.ctx, `UPDATE customers SET deleted_at = now() - interval '13 days' WHERE id = $1`, recent.PortalID)
	other := storetest.Account(t, b.tx, "", "huber", "")
	othersOld := b.customer(t, other, "K-1", "")
	b.tx.MustExecContext(b.ctx, `UPDATE customers SET deleted_at = now() - interval '15 days' WHERE id = $1`, othersOld.PortalID)

	n, err := store.PurgeTrash(b.ctx, b.tx, b.acc.TenantID, time.Now().Add(-14*24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("purged %d: %v, want 1", n, err)
	}
	if _, err := store.GetCustomer(b.ctx, b.tx, b.acc.TenantID, old.PortalID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the old trash is still there: %v", err)
	}
	for _, id := range []int64{recent.PortalID, live.PortalID} {
		b.getCustomer(t, id)
	}
	var appts, reports, blocks int
	b.tx.GetContext(b.ctx, &appts, `SELECT count(*) FROM appointments WHERE customer_id IS NULL AND account_id = $1`, b.acc.ID)
	b.tx.GetContext(b.ctx, &reports, `SELECT count(*) FROM visit_reports WHERE customer_id IS NULL AND account_id = $1`, b.acc.ID)
	b.tx.GetContext(b.ctx, &blocks, `SELECT count(*) FROM visit_blocks WHERE customer_id IS NULL`)
	if appts != 1 || reports != 1 || blocks != 0 {
		t.Errorf("after the purge: %d appointments, %d visit reports, %d visit blocks without customer; want 1, 1, 0", appts, reports, blocks)
	}
	// The other tenant's trash waits for its own purge.
	if _, err := store.GetCustomer(b.ctx, b.tx, other.TenantID, othersOld.PortalID); err != nil {
		t.Errorf("another tenant's trash was purged: %v", err)
	}
}

// refusedFK runs sql in a savepoint and expects a foreign key violation (23503).
func (b *testBundle) refusedFK(t *testing.T, what, sql string, args ...any) {
	t.Helper()
	b.refused(t, "23503", what, sql, args...)
}

// refused runs sql in a savepoint and expects the error of SQLSTATE code.
func (b *testBundle) refused(t *testing.T, code, what, sql string, args ...any) {
	t.Helper()
	if _, err := b.tx.ExecContext(b.ctx, `SAVEPOINT refused`); err != nil {
		t.Fatal(err)
	}
	_, err := b.tx.ExecContext(b.ctx, sql, args...)
	var pqErr interface{ SQLState() string }
	if !errors.As(err, &pqErr) || pqErr.SQLState() != code {
		t.Errorf("%s: got %v, want SQLSTATE %s", what, err, code)
	}
	if _, err := b.tx.ExecContext(b.ctx, `ROLLBACK TO SAVEPOINT refused`); err != nil {
		t.Fatal(err)
	}
}

// The related data's account is checked per statement (migration 0047), as strictly as
// the foreign key it replaces: a row naming no account is refused on insert and on
// update, and an account its related data still names cannot be deleted.
func TestRelatedDataAccountChecked(t *testing.T) {
	b := setup(t)
	c := b.customer(t, b.acc, "K-1", "")
	const none = -1
	b.refusedFK(t, "insert appointment", `INSERT INTO appointments (customer_id, account_id, starts_at) VALUES ($1, $2, now())`, c.PortalID, none)
	b.refusedFK(t, "insert visit report", `INSERT INTO visit_reports (customer_id, account_id, visited_on) VALUES ($1, $2, now())`, c.PortalID, none)
	b.refusedFK(t, "insert visit block", `INSERT INTO visit_blocks (customer_id, account_id, from_date, until_date) VALUES ($1, $2, now(), now())`, c.PortalID, none)
	for _, table := range []string{"appointments", "visit_reports", "visit_blocks"} {
		b.refusedFK(t, "update "+table, `UPDATE `+table+` SET account_id = $1 WHERE customer_id = $2`, none, c.PortalID)
	}
	b.refusedFK(t, "delete account", `DELETE FROM accounts WHERE id = $1`, b.acc.ID)

	// A real account passes, for many rows at once.
	maier := storetest.Account(t, b.tx, b.acc.Tenant, "maier", "")
	res, err := b.tx.ExecContext(b.ctx, `INSERT INTO appointments (customer_id, account_id, starts_at)
		SELECT $1, $2, now() + n * interval '1 day' FROM generate_series(1, 50) n`, c.PortalID, maier.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 50 {
		t.Errorf("inserted %d appointments, want 50", n)
	}
}

// A customer's account is checked per statement (migration 0049) as strictly as the
// foreign key it replaces: a customer naming no account is refused on insert and on
// update, an account that only customers name cannot be deleted, and a move of many
// customers to a real account passes.
func TestCustomerAccountChecked(t *testing.T) {
	b := setup(t)
	// Customers without related data: only they name the account.
	if _, err := b.tx.ExecContext(b.ctx, `INSERT INTO customers (tenant_id, account_id, external_id)
		SELECT $1, $2, 'M-' || n FROM generate_series(1, 50) n`, b.acc.TenantID, b.acc.ID); err != nil {
		t.Fatal(err)
	}
	const none = -1
	b.refusedFK(t, "insert customer", `INSERT INTO customers (tenant_id, account_id, external_id) VALUES ($1, $2, 'K-2')`, b.acc.TenantID, none)
	b.refusedFK(t, "move customer", `UPDATE customers SET account_id = $1 WHERE account_id = $2 AND external_id = 'M-1'`, none, b.acc.ID)
	b.refusedFK(t, "delete account", `DELETE FROM accounts WHERE id = $1`, b.acc.ID)

	maier := storetest.Account(t, b.tx, b.acc.Tenant, "maier", "")
	res, err := b.tx.ExecContext(b.ctx, `UPDATE customers SET account_id = $1 WHERE account_id = $2`, maier.ID, b.acc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 50 {
		t.Errorf("moved %d customers, want 50", n)
	}
	// No customer names the account any more: it may go.
	if _, err := b.tx.ExecContext(b.ctx, `DELETE FROM accounts WHERE id = $1`, b.acc.ID); err != nil {
		t.Errorf("delete the emptied account: %v", err)
	}
}

// pinned is how many of the customer's related rows (appointments, visit reports, visit
// blocks) are pinned to an account's history, and to which accounts.
func (b *testBundle) pinned(t *testing.T, customerID int64) map[int64]int {
	t.Helper()
	var rows []struct {
		Account int64 `db:"account_id"`
		N       int   `db:"n"`
	}
	if err := b.tx.SelectContext(b.ctx, &rows, `SELECT account_id, count(*) AS n FROM (
			SELECT account_id FROM appointments WHERE customer_id = $1
			UNION ALL SELECT account_id FROM visit_reports WHERE customer_id = $1
			UNION ALL SELECT account_id FROM visit_blocks WHERE customer_id = $1) x
		WHERE account_id IS NOT NULL GROUP BY account_id`, customerID); err != nil {
		t.Fatal(err)
	}
	out := map[int64]int{}
	for _, r := range rows {
		out[r.Account] = r.N
	}
	return out
}

// Related data follow their customer (migration 0048): they are stored unpinned, a move
// with them writes none, a move without pins them to the source account's history, and
// a customer moved away and back finds its old history again and takes it along on the
// next move with related data.
func TestRelatedDataFollowTheirCustomer(t *testing.T) {
	b := setup(t)
	maier := storetest.Account(t, b.tx, b.acc.Tenant, "maier", "")
	c := b.customer(t, b.acc, "K-1", "")
	if p := b.pinned(t, c.PortalID); len(p) != 0 {
		t.Fatalf("new related data pinned: %v", p)
	}
	if _, err := store.TransferCustomer(b.ctx, b.tx, b.acc.TenantID, c.PortalID, maier.ID, store.TransferMove, true); err != nil {
		t.Fatal(err)
	}
	if p := b.pinned(t, c.PortalID); len(p) != 0 {
		t.Errorf("a move with related data pinned %v", p)
	}

	// Away without related data: huber keeps the history, pinned.
	k2 := b.customer(t, b.acc, "K-2", "")
	if _, err := store.TransferCustomer(b.ctx, b.tx, b.acc.TenantID, k2.PortalID, maier.ID, store.TransferMove, false); err != nil {
		t.Fatal(err)
	}
	if p := b.pinned(t, k2.PortalID); len(p) != 1 || p[b.acc.ID] != 3 {
		t.Fatalf("after the move without related data: pinned %v, want 3 rows to huber", p)
	}
	atMaier := b.getCustomer(t, k2.PortalID)
	if _, err := store.AddAppointment(b.ctx, b.tx, atMaier, time.Date(2026, 12, 9, 9, 0, 0, 0, time.UTC), "bei Maier"); err != nil {
		t.Fatal(err)
	}
	if got := related(b.getCustomer(t, k2.PortalID)); got != [3]int64{1, 0, 0} {
		t.Errorf("at maier: related %v, want only maier's appointment", got)
	}
	// And back with related data: maier's appointment follows, huber's pinned history is
	// the customer's again.
	back, err := store.TransferCustomer(b.ctx, b.tx, b.acc.TenantID, k2.PortalID, b.acc.ID, store.TransferMove, true)
	if err != nil {
		t.Fatal(err)
	}
	if related(back) != [3]int64{2, 1, 1} {
		t.Errorf("back at huber: related %v, want 2, 1, 1", related(back))
	}
	list, err := store.Appointments(b.ctx, b.tx, back)
	if err != nil || len(list) != 2 {
		t.Errorf("back at huber: appointments %v %v", list, err)
	}
	// The next move with related data takes all of it along, unpinned.
	again, err := store.TransferCustomer(b.ctx, b.tx, b.acc.TenantID, k2.PortalID, maier.ID, store.TransferMove, true)
	if err != nil {
		t.Fatal(err)
	}
	if related(again) != [3]int64{2, 1, 1} {
		t.Errorf("at maier again: related %v, want 2, 1, 1", related(again))
	}
	if p := b.pinned(t, k2.PortalID); len(p) != 0 {
		t.Errorf("at maier again: pinned %v, want none", p)
	}
	// A copy takes the customer's history (pinned to its account or not), and the copies
	// are unpinned.
	cp, err := store.TransferCustomer(b.ctx, b.tx, b.acc.TenantID, k2.PortalID, b.acc.ID, store.TransferCopy, true)
	if err != nil {
		t.Fatal(err)
	}
	if related(cp) != [3]int64{2, 1, 1} || len(b.pinned(t, cp.PortalID)) != 0 {
		t.Errorf("copy: related %v, pinned %v", related(cp), b.pinned(t, cp.PortalID))
	}
}

// The purge pins the appointments and visit reports it keeps to the account of their
// customer; rows pinned to another account's history stay there.
func TestPurgeTrashPinsWhatItKeeps(t *testing.T) {
	b := setup(t)
	maier := storetest.Account(t, b.tx, b.acc.Tenant, "maier", "")
	c := b.customer(t, maier, "K-1", "")
	if _, err := store.TransferCustomer(b.ctx, b.tx, b.acc.TenantID, c.PortalID, b.acc.ID, store.TransferMove, false); err != nil {
		t.Fatal(err)
	}
	if _, err := store.AddAppointment(b.ctx, b.tx, b.getCustomer(t, c.PortalID), time.Date(2026, 12, 9, 9, 0, 0, 0, time.UTC), "bei Huber"); err != nil {
		t.Fatal(err)
	}
	b.tx.MustExecContext(b.ctx, `UPDATE customers SET deleted_at = now() - interval '15 days' WHERE id = $1`, c.PortalID)
	if n, err := store.PurgeTrash(b.ctx, b.tx, b.acc.TenantID, time.Now().Add(-14*24*time.Hour)); err != nil || n != 1 {
		t.Fatalf("purged %d: %v, want 1", n, err)
	}
	var rows []struct {
		Subject string `db:"subject"`
		Account int64  `db:"account_id"`
	}
	if err := b.tx.SelectContext(b.ctx, &rows, `SELECT subject, account_id FROM appointments
		WHERE customer_id IS NULL AND account_id IN ($1, $2) ORDER BY account_id = $1 DESC`, b.acc.ID, maier.ID); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Subject != "bei Huber" || rows[0].Account != b.acc.ID || rows[1].Subject != "Wartung" || rows[1].Account != maier.ID {
		t.Errorf("kept appointments %+v, want huber's and maier's", rows)
	}
	var reports int
	b.tx.GetContext(b.ctx, &reports, `SELECT count(*) FROM visit_reports WHERE customer_id IS NULL AND account_id = $1`, maier.ID)
	if reports != 1 {
		t.Errorf("%d visit reports kept in maier's history, want 1", reports)
	}
}

// A related row always has an owner: its customer or its pinned account. Deleting a
// customer other than by the purge, which pins first, is refused while unpinned rows
// would lose their owner.
func TestRelatedDataKeepAnOwner(t *testing.T) {
	b := setup(t)
	c := b.customer(t, b.acc, "K-1", "")
	b.refused(t, "23514", "appointment without owner", `INSERT INTO appointments (starts_at) VALUES (now())`)
	b.refused(t, "23514", "visit report without owner", `INSERT INTO visit_reports (visited_on) VALUES (now())`)
	b.refused(t, "23514", "unpin an orphan", `UPDATE appointments SET customer_id = NULL, account_id = NULL WHERE customer_id = $1`, c.PortalID)
	b.refused(t, "23514", "delete the customer", `DELETE FROM customers WHERE id = $1`, c.PortalID)
}

// A move takes the customer's account as it is when it moves, not as the caller filled
// it in with the batch (the import fills it from its recheck; another transfer may have
// moved the customer since): what stays behind stays with the account it was in.
func TestMoveReadsTheCustomersAccountAsItIs(t *testing.T) {
	b := setup(t)
	maier := storetest.Account(t, b.tx, b.acc.Tenant, "maier", "")
	stale := storetest.Account(t, b.tx, b.acc.Tenant, "schulz", "")
	c := b.customer(t, b.acc, "K-1", "")
	if err := store.StartTransferBatch(b.ctx, b.tx); err != nil {
		t.Fatal(err)
	}
	b.tx.MustExecContext(b.ctx, `INSERT INTO `+store.TransferBatch+` (source_id, to_account, from_account, new_id) VALUES ($1, $2, $3, $1)`,
		c.PortalID, maier.ID, stale.ID)
	if n, err := store.TransferCustomers(b.ctx, b.tx, store.TransferMove, false); err != nil || n != 1 {
		t.Fatalf("moved %d: %v", n, err)
	}
	if p := b.pinned(t, c.PortalID); len(p) != 1 || p[b.acc.ID] != 3 {
		t.Errorf("pinned %v, want 3 rows to huber", p)
	}
	if got := b.getCustomer(t, c.PortalID); got.Account != "maier" || related(got) != [3]int64{} {
		t.Errorf("moved %+v", got)
	}
}

// Migration 0048 unpins the related rows that name their customer's own account and
// keeps the others (left behind by a move without related data, or without customer
// after a purge) pinned.
func TestMigrationUnpinsTheCustomersOwnHistory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := freshDatabase(t)
	later := []string{"0048_related_follow_customer", "0049_customers_account_check", "0050_customers_external_id_index"}
	db.MustExecContext(ctx, `CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`)
	db.MustExecContext(ctx, `INSERT INTO schema_migrations (version) SELECT unnest($1::text[])`, pq.Array(later))
	if err := store.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	huber := storetest.Account(t, db, "", "huber", "")
	maier := storetest.Account(t, db, huber.Tenant, "maier", "")
	var c int64
	if err := db.GetContext(ctx, &c, `INSERT INTO customers (tenant_id, account_id, external_id) VALUES ($1, $2, 'K-1') RETURNING id`, huber.TenantID, maier.ID); err != nil {
		t.Fatal(err)
	}
	db.MustExecContext(ctx, `INSERT INTO appointments (customer_id, account_id, starts_at, subject) VALUES
		($1, $2, now(), 'bei Maier'), ($1, $3, now(), 'bei Huber geblieben'), (NULL, $3, now(), 'gelöschter Kunde')`, c, maier.ID, huber.ID)
	db.MustExecContext(ctx, `DELETE FROM schema_migrations WHERE version = ANY($1)`, pq.Array(later))
	if err := store.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		Subject string        `db:"subject"`
		Account sql.NullInt64 `db:"account_id"`
	}
	if err := db.SelectContext(ctx, &rows, `SELECT subject, account_id FROM appointments ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	want := []sql.NullInt64{{}, {Int64: huber.ID, Valid: true}, {Int64: huber.ID, Valid: true}}
	if len(rows) != 3 || rows[0].Account != want[0] || rows[1].Account != want[1] || rows[2].Account != want[2] {
		t.Errorf("after the migration: %+v, want maier's own unpinned, the others pinned to huber", rows)
	}
	got, err := store.GetCustomer(ctx, db, huber.TenantID, c)
	if err != nil || got.Appointments != 1 {
		t.Errorf("K-1 after the migration: %d appointments, %v; want its own one", got.Appointments, err)
	}
}
