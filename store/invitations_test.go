package store_test

import (
	"testing"
	"time"

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
	run := store.NewRun{ID: store.NewID(), TenantID: b.acc.TenantID, AccountID: b.acc.ID, CreatedBy: b.acc.ID,
		Kind: store.RunInvitations, TaskType: "invitations:send", TaskQueue: "mail", TaskID: "invitations:test", TaskPayload: []byte(`{}`)}
	if err := store.CreateRun(b.ctx, b.tx, run); err != nil {
		t.Fatal(err)
	}
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
