package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/lib/pq"

	"portalwerk/store"
	"portalwerk/store/storetest"
)

// The claim records a login token per claimed row, the i-th row in customer order with
// the i-th id, in the claim's own transaction; ids left over record nothing.
func TestRecipientClaimRecordsTokens(t *testing.T) {
	b := setup(t)
	claim, err := store.PrepareRecipientClaim(b.ctx, storetest.DB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer claim.Close()
	run := b.invitationRun(t)
	var customers []int64
	for i := range 5 {
		var id int64
		if err := b.tx.GetContext(b.ctx, &id, `WITH c AS (
				INSERT INTO customers (tenant_id, account_id, external_id, email) VALUES ($1, $2, $3, $4) RETURNING id, tenant_id, email),
			i AS (INSERT INTO portal_identities (tenant_id, email) SELECT tenant_id, email FROM c RETURNING id)
			INSERT INTO invitation_recipients (run_id, customer_id, tenant_id, email, identity_id)
			SELECT $5, c.id, c.tenant_id, c.email, i.id FROM c, i RETURNING customer_id`,
			b.acc.TenantID, b.acc.ID, "k"+string(rune('a'+i)), "r"+string(rune('a'+i))+"@example.org", run.ID); err != nil {
			t.Fatal(err)
		}
		customers = append(customers, id)
	}
	expires := time.Now().Add(time.Hour).Truncate(time.Second)
	first := []string{store.NewID(), store.NewID(), store.NewID()}
	got, err := claim.Claim(b.ctx, b.tx, run.ID, first, expires)
	if err != nil {
		t.Fatal(err)
	}
	rest := []string{store.NewID(), store.NewID(), store.NewID()}
	more, err := claim.Claim(b.ctx, b.tx, run.ID, rest, expires)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || len(more) != 2 {
		t.Fatalf("claimed %d, then %d of 5 rows; want 3 and 2", len(got), len(more))
	}
	ids := append(first, rest[:2]...)
	for i, r := range append(got, more...) {
		if r.CustomerID != customers[i] || r.TokenID != ids[i] || r.Attempt != 1 {
			t.Errorf("claim %d: customer %d, token %s, attempt %d; want customer %d, token %s, attempt 1",
				i, r.CustomerID, r.TokenID, r.Attempt, customers[i], ids[i])
		}
		var tok struct {
			Customer int64     `db:"customer_id"`
			Identity int64     `db:"identity_id"`
			Purpose  string    `db:"purpose"`
			Run      string    `db:"run_id"`
			Expires  time.Time `db:"expires_at"`
		}
		if err := b.tx.GetContext(b.ctx, &tok, `SELECT customer_id, identity_id, purpose, run_id, expires_at
			FROM login_tokens WHERE id = $1 AND tenant_id = $2`, r.TokenID, b.acc.TenantID); err != nil {
			t.Fatalf("token of claim %d: %v", i, err)
		}
		if tok.Customer != r.CustomerID || tok.Identity != r.IdentityID || tok.Purpose != "invite" || tok.Run != run.ID || !tok.Expires.Equal(expires) {
			t.Errorf("token of claim %d: %+v", i, tok)
		}
	}
	var left int
	if err := b.tx.GetContext(b.ctx, &left, `SELECT count(*) FROM login_tokens WHERE id = $1`, rest[2]); err != nil || left != 0 {
		t.Errorf("the unused id was recorded %d times (%v)", left, err)
	}
}

// The tenant and job run of invitation recipients and login tokens are checked per
// statement (migration 0052) as strictly as the foreign keys they replace: a row naming
// no tenant or no run is refused on insert and on an update that sets them, a tenant
// they name cannot be deleted, and deleting a run deletes its recipients and unlinks its
// tokens, as the foreign keys' actions did.
func TestMailBatchReferencesChecked(t *testing.T) {
	b := setup(t)
	run := b.invitationRun(t)
	var customer, identity int64
	if err := b.tx.GetContext(b.ctx, &customer, `INSERT INTO customers (tenant_id, account_id, external_id, email)
		VALUES ($1, $2, 'K-1', 'k1@example.org') RETURNING id`, b.acc.TenantID, b.acc.ID); err != nil {
		t.Fatal(err)
	}
	if err := b.tx.GetContext(b.ctx, &identity, `INSERT INTO portal_identities (tenant_id, email) VALUES ($1, 'k1@example.org') RETURNING id`, b.acc.TenantID); err != nil {
		t.Fatal(err)
	}
	const noTenant, noRun, none = -1, "00000000-0000-4000-8000-000000000000", -1
	recipient := `INSERT INTO invitation_recipients (run_id, customer_id, tenant_id, email, identity_id) VALUES ($1, $2, $3, 'k1@example.org', $4)`
	token := `INSERT INTO login_tokens (id, tenant_id, identity_id, customer_id, purpose, run_id, expires_at)
		VALUES (gen_random_uuid(), $1, $2, $3, 'invite', $4, now() + interval '1 day')`
	b.refusedFK(t, "recipient without tenant", recipient, run.ID, customer, noTenant, identity)
	b.refusedFK(t, "recipient without run", recipient, noRun, customer, b.acc.TenantID, identity)
	b.refusedFK(t, "token without tenant", token, noTenant, identity, customer, run.ID)
	b.refusedFK(t, "token without run", token, b.acc.TenantID, identity, customer, noRun)
	b.refusedFK(t, "recipient without customer", recipient, run.ID, none, b.acc.TenantID, identity)
	b.refusedFK(t, "recipient without identity", recipient, run.ID, customer, b.acc.TenantID, none)
	b.refusedFK(t, "token without customer", token, b.acc.TenantID, identity, none, run.ID)
	b.refusedFK(t, "token without identity", token, b.acc.TenantID, none, customer, run.ID)

	// Real references pass, many rows in one statement as in one.
	if _, err := b.tx.ExecContext(b.ctx, recipient, run.ID, customer, b.acc.TenantID, identity); err != nil {
		t.Fatalf("recipient: %v", err)
	}
	res, err := b.tx.ExecContext(b.ctx, `INSERT INTO login_tokens (id, tenant_id, identity_id, customer_id, purpose, run_id, expires_at)
		SELECT gen_random_uuid(), $1, $2, $3, 'invite', $4, now() + interval '1 day' FROM generate_series(1, 20)`,
		b.acc.TenantID, identity, customer, run.ID)
	if err != nil {
		t.Fatalf("tokens: %v", err)
	}
	if n, _ := res.RowsAffected(); n != 20 {
		t.Errorf("recorded %d tokens, want 20", n)
	}
	if _, err := b.tx.ExecContext(b.ctx, token, b.acc.TenantID, identity, customer, nil); err != nil {
		t.Errorf("token without a run: %v", err)
	}
	b.refusedFK(t, "recipient moved to no tenant", `UPDATE invitation_recipients SET tenant_id = $1 WHERE run_id = $2`, noTenant, run.ID)
	b.refusedFK(t, "token moved to no run", `UPDATE login_tokens SET run_id = $1 WHERE run_id = $2`, noRun, run.ID)
	b.refusedFK(t, "recipient moved to no customer", `UPDATE invitation_recipients SET customer_id = $1 WHERE run_id = $2`, none, run.ID)
	b.refusedFK(t, "token moved to no identity", `UPDATE login_tokens SET identity_id = $1 WHERE run_id = $2`, none, run.ID)
	b.refusedFK(t, "delete the tenant", `DELETE FROM tenants WHERE id = $1`, b.acc.TenantID)
	b.refusedFK(t, "delete the identity a recipient names", `DELETE FROM portal_identities WHERE id = $1`, identity)

	if _, err := b.tx.ExecContext(b.ctx, `DELETE FROM job_runs WHERE id = $1`, run.ID); err != nil {
		t.Fatalf("delete the run: %v", err)
	}
	var recipients, linked, tokens int
	if err := b.tx.GetContext(b.ctx, &recipients, `SELECT count(*) FROM invitation_recipients WHERE customer_id = $1`, customer); err != nil {
		t.Fatal(err)
	}
	if err := b.tx.GetContext(b.ctx, &linked, `SELECT count(*) FROM login_tokens WHERE run_id = $1`, run.ID); err != nil {
		t.Fatal(err)
	}
	if err := b.tx.GetContext(b.ctx, &tokens, `SELECT count(*) FROM login_tokens WHERE customer_id = $1`, customer); err != nil {
		t.Fatal(err)
	}
	if recipients != 0 || linked != 0 || tokens != 21 {
		t.Errorf("after deleting the run: %d recipients, %d tokens of the run, %d tokens; want 0, 0, 21", recipients, linked, tokens)
	}

	// Deleting an identity deletes its tokens; deleting customers (the trash purge)
	// deletes their tokens and recipients, the others' stay.
	if _, err := b.tx.ExecContext(b.ctx, `DELETE FROM portal_identities WHERE id = $1`, identity); err != nil {
		t.Fatalf("delete the identity: %v", err)
	}
	if err := b.tx.GetContext(b.ctx, &tokens, `SELECT count(*) FROM login_tokens WHERE customer_id = $1`, customer); err != nil {
		t.Fatal(err)
	}
	if tokens != 0 {
		t.Errorf("after deleting the identity: %d of its tokens left", tokens)
	}
	run2 := b.invitationRun(t)
	var keep []int64
	for i := range 3 {
		var c, id int64
		email := fmt.Sprintf("p%d@example.org", i)
		if err := b.tx.GetContext(b.ctx, &c, `INSERT INTO customers (tenant_id, account_id, external_id, email) VALUES ($1, $2, $3, $4) RETURNING id`,
			b.acc.TenantID, b.acc.ID, fmt.Sprintf("P-%d", i), email); err != nil {
			t.Fatal(err)
		}
		if err := b.tx.GetContext(b.ctx, &id, `INSERT INTO portal_identities (tenant_id, email) VALUES ($1, $2) RETURNING id`, b.acc.TenantID, email); err != nil {
			t.Fatal(err)
		}
		if _, err := b.tx.ExecContext(b.ctx, recipient, run2.ID, c, b.acc.TenantID, id); err != nil {
			t.Fatal(err)
		}
		if _, err := b.tx.ExecContext(b.ctx, token, b.acc.TenantID, id, c, run2.ID); err != nil {
			t.Fatal(err)
		}
		keep = append(keep, c)
	}
	if _, err := b.tx.ExecContext(b.ctx, `DELETE FROM customers WHERE id = ANY($1)`, pq.Array(keep[:2])); err != nil {
		t.Fatalf("delete customers: %v", err)
	}
	if err := b.tx.GetContext(b.ctx, &recipients, `SELECT count(*) FROM invitation_recipients WHERE run_id = $1`, run2.ID); err != nil {
		t.Fatal(err)
	}
	if err := b.tx.GetContext(b.ctx, &tokens, `SELECT count(*) FROM login_tokens WHERE run_id = $1`, run2.ID); err != nil {
		t.Fatal(err)
	}
	if recipients != 1 || tokens != 1 {
		t.Errorf("after deleting 2 of 3 customers: %d recipients, %d tokens; want 1 and 1", recipients, tokens)
	}
}

// The selection is recorded slice by slice, each slice in its own transaction: a slice
// links its pending recipients to their identities at once (a mailed link opens before
// the selection is complete), the call that finds fewer customers than its limit
// completes the selection (links to the tenant's other customers with the address, the
// total), and a call after that changes nothing. A retry after any slice continues
// after the last recorded customer.
func TestInvitationSelectionInSlices(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t)
	huber := storetest.Account(t, db, "", "huber", "")
	maier := storetest.Account(t, db, huber.Tenant, "maier", "")
	add := func(acc store.Account, ext, email string, invited bool) int64 {
		t.Helper()
		var id int64
		if err := db.GetContext(ctx, &id, `INSERT INTO customers (tenant_id, account_id, external_id, email, invited_at)
			VALUES ($1, $2, $3, NULLIF($4, ''), CASE WHEN $5 THEN now() END) RETURNING id`, acc.TenantID, acc.ID, ext, email, invited); err != nil {
			t.Fatal(err)
		}
		return id
	}
	ids := []int64{
		add(huber, "K-1", "Anna@Example.org ", false),
		add(huber, "K-2", "", false),
		add(huber, "K-3", "bert@example.org", false),
		add(huber, "K-4", "carl@example.org", false),
		add(huber, "K-5", "dora@example.org", false),
	}
	other := add(maier, "M-1", "anna@example.org", false)

	newRun := func() store.Run {
		t.Helper()
		r := store.NewRun{ID: store.NewID(), TenantID: huber.TenantID, AccountID: huber.ID, CreatedBy: huber.ID, Kind: store.RunInvitations,
			Params: []byte(`{"all_uninvited":true}`), TaskType: "invitations:send", TaskQueue: "mail", TaskID: "invitations:" + store.NewID(), TaskPayload: []byte(`{}`)}
		if err := store.CreateRun(ctx, db, r); err != nil {
			t.Fatal(err)
		}
		run, err := store.RunByID(ctx, db, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		return run
	}
	recorded := func(run store.Run) (rows int, total *int64) {
		t.Helper()
		if err := db.GetContext(ctx, &rows, `SELECT count(*) FROM invitation_recipients WHERE run_id = $1`, run.ID); err != nil {
			t.Fatal(err)
		}
		if err := db.GetContext(ctx, &total, `SELECT progress_total FROM job_runs WHERE id = $1`, run.ID); err != nil {
			t.Fatal(err)
		}
		return rows, total
	}
	linked := func(customer int64) bool {
		t.Helper()
		var ok bool
		if err := db.GetContext(ctx, &ok, `SELECT EXISTS (SELECT 1 FROM portal_identity_customers ic
			JOIN portal_identities i ON i.id = ic.identity_id WHERE i.email = 'anna@example.org' AND ic.customer_id = $1)`, customer); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	sel := store.InvitationSelection{AllUninvited: true}

	run := newRun()
	for i, want := range []int{2, 4, 5, 5} {
		done, err := store.SelectInvitationRecipients(ctx, db, run, sel, 2)
		if err != nil {
			t.Fatal(err)
		}
		rows, total := recorded(run)
		if rows != want || done != (i >= 2) || (total != nil) != done {
			t.Fatalf("call %d: %d recipients, done %v, total %v; want %d, done %v", i+1, rows, done, total, want, i >= 2)
		}
		if i == 0 && (!linked(ids[0]) || linked(other)) {
			t.Errorf("after the first slice: Anna linked to her own customer %v (want true), to Maier's %v (want false)", linked(ids[0]), linked(other))
		}
		if i == 0 {
			// Anna's mail goes out while the rest is selected.
			if _, err := db.ExecContext(ctx, `UPDATE invitation_recipients SET status = 'sent' WHERE run_id = $1 AND customer_id = $2`, run.ID, ids[0]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !linked(other) {
		t.Error("the completed selection did not link Anna's identity (mailed before it completed) to her customer at Maier")
	}
	var got []struct {
		Customer int64   `db:"customer_id"`
		Status   string  `db:"status"`
		Skip     *string `db:"skip_reason"`
		Identity *int64  `db:"identity_id"`
	}
	if err := db.SelectContext(ctx, &got, `SELECT customer_id, status, skip_reason, identity_id FROM invitation_recipients
		WHERE run_id = $1 ORDER BY customer_id`, run.ID); err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		wantStatus := "pending"
		switch i {
		case 0:
			wantStatus = "sent"
		case 1:
			wantStatus = "skipped"
		}
		if r.Customer != ids[i] || r.Status != wantStatus || (r.Identity == nil) != (i == 1) || (r.Skip != nil) != (i == 1) {
			t.Errorf("recipient %d: %+v; want customer %d %s", i, r, ids[i], wantStatus)
		}
	}

	// A slice as large as what is left is not the last: the next call finds nothing
	// and completes the selection.
	run = newRun()
	for i, wantDone := range []bool{false, true} {
		done, err := store.SelectInvitationRecipients(ctx, db, run, sel, 5)
		if err != nil {
			t.Fatal(err)
		}
		if rows, total := recorded(run); done != wantDone || rows != 5 || (total != nil && *total != 5) || (total != nil) != done {
			t.Errorf("limit 5, call %d: done %v, %d recipients, total %v", i+1, done, rows, total)
		}
	}
}

// The references of a meter request's rows are checked per statement (migration 0053)
// as strictly as the foreign keys they replace: a row naming no tenant, contract,
// contact, identity or customer is refused, also on an update that sets it; a tenant
// they name cannot be deleted; deleting a contract, a contact or a customer (with its
// contacts and contracts) deletes the rows naming them.
func TestMeterRequestReferencesChecked(t *testing.T) {
	b := setup(t)
	var customer, contract, contact, identity int64
	for _, q := range []struct {
		dst *int64
		sql string
	}{
		{&customer, `INSERT INTO customers (tenant_id, account_id, external_id) VALUES ($1, $2, 'K-1') RETURNING id`},
		{&contract, `INSERT INTO contracts (tenant_id, customer_id, number, reporting, "interval")
			SELECT $1, id, 'V-1', 'portal', 'monthly' FROM customers WHERE account_id = $2 RETURNING id`},
		{&contact, `INSERT INTO contacts (tenant_id, customer_id, name, email)
			SELECT $1, id, 'Anna Berg', 'anna@example.org' FROM customers WHERE account_id = $2 RETURNING id`},
		{&identity, `INSERT INTO portal_identities (tenant_id, email) SELECT $1, 'anna@example.org' WHERE $2::bigint IS NOT NULL RETURNING id`},
	} {
		if err := b.tx.GetContext(b.ctx, q.dst, q.sql, b.acc.TenantID, b.acc.ID); err != nil {
			t.Fatal(err)
		}
	}
	const none = -1
	ready := `INSERT INTO portal_ready_results (batch, tenant_id, contract_id, period) VALUES ('b1', $1, $2, '2026-11')`
	requested := `INSERT INTO meter_request_contracts (contract_id, period, tenant_id, batch) VALUES ($1, '2026-11', $2, 'b1')`
	recipient := `INSERT INTO meter_request_recipients (tenant_id, contact_id, period, batch, identity_id, customer_id, email, period_start, period_end)
		VALUES ($1, $2, '2026-11', 'b1', $3, $4, 'anna@example.org', '2026-11-01', '2026-11-30')`
	b.refusedFK(t, "ready result without tenant", ready, none, contract)
	b.refusedFK(t, "ready result without contract", ready, b.acc.TenantID, none)
	b.refusedFK(t, "requested contract without contract", requested, none, b.acc.TenantID)
	b.refusedFK(t, "requested contract without tenant", requested, contract, none)
	b.refusedFK(t, "recipient without tenant", recipient, none, contact, identity, customer)
	b.refusedFK(t, "recipient without contact", recipient, b.acc.TenantID, none, identity, customer)
	b.refusedFK(t, "recipient without identity", recipient, b.acc.TenantID, contact, none, customer)
	b.refusedFK(t, "recipient without customer", recipient, b.acc.TenantID, contact, identity, none)
	for _, q := range []struct {
		sql  string
		args []any
	}{{ready, []any{b.acc.TenantID, contract}}, {requested, []any{contract, b.acc.TenantID}},
		{recipient, []any{b.acc.TenantID, contact, identity, customer}}} {
		if _, err := b.tx.ExecContext(b.ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	b.refusedFK(t, "recipient moved to no contact", `UPDATE meter_request_recipients SET contact_id = $1`, none)
	b.refusedFK(t, "ready result moved to no contract", `UPDATE portal_ready_results SET contract_id = $1`, none)
	b.refusedFK(t, "delete the tenant", `DELETE FROM tenants WHERE id = $1`, b.acc.TenantID)

	count := func(table string) int {
		t.Helper()
		var n int
		if err := b.tx.GetContext(b.ctx, &n, `SELECT count(*) FROM `+table+` WHERE tenant_id = $1`, b.acc.TenantID); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if _, err := b.tx.ExecContext(b.ctx, `DELETE FROM contacts WHERE id = $1`, contact); err != nil {
		t.Fatalf("delete the contact: %v", err)
	}
	if n := count("meter_request_recipients"); n != 0 {
		t.Errorf("after deleting the contact: %d of its meter-request recipients left", n)
	}
	if _, err := b.tx.ExecContext(b.ctx, `DELETE FROM customers WHERE id = $1`, customer); err != nil {
		t.Fatalf("delete the customer: %v", err)
	}
	if r, c := count("portal_ready_results"), count("meter_request_contracts"); r != 0 || c != 0 {
		t.Errorf("after deleting the customer (and its contract): %d ready results, %d requested contracts left", r, c)
	}
}

// A run's progress merges its figures into the counts: a count the job wrote on its own
// meanwhile (an invitation batch's not_found, recorded by the selection's last slice
// while the first mails go out) is kept.
func TestSetRunProgressKeepsOtherCounts(t *testing.T) {
	b := setup(t)
	run := b.invitationRun(t)
	if _, err := store.StartRun(b.ctx, b.tx, run.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.tx.ExecContext(b.ctx, `UPDATE job_runs SET counts = counts || '{"not_found": 2}' WHERE id = $1`, run.ID); err != nil {
		t.Fatal(err)
	}
	if err := store.SetRunProgress(b.ctx, b.tx, run.ID, store.RunCounts{"sent": 3, "failed": 0}, 3, nil); err != nil {
		t.Fatal(err)
	}
	got, err := store.RunByID(b.ctx, b.tx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Counts["not_found"] != 2 || got.Counts["sent"] != 3 {
		t.Errorf("counts %v: want not_found 2 kept beside sent 3", got.Counts)
	}
}

// invitationRun records an invitation batch of the bundle's account, in its transaction.
func (b *testBundle) invitationRun(t *testing.T) store.NewRun {
	t.Helper()
	id := store.NewID()
	run := store.NewRun{ID: id, TenantID: b.acc.TenantID, AccountID: b.acc.ID, CreatedBy: b.acc.ID,
		Kind: store.RunInvitations, TaskType: "invitations:send", TaskQueue: "mail", TaskID: "invitations:" + id, TaskPayload: []byte(`{}`)}
	if err := store.CreateRun(b.ctx, b.tx, run); err != nil {
		t.Fatal(err)
	}
	return run
}
