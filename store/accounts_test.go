package store_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"portalwerk/store"
	"portalwerk/store/storetest"
)

func TestCreateAccount(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if b.acc.Tenant == "" || b.acc.Name != "huber" || !b.acc.IsAdmin() || b.acc.CanTransfer {
		t.Errorf("account %+v", b.acc)
	}
	// A second account joins the existing tenant.
	maier := storetest.Account(t, b.tx, b.acc.Tenant, "maier", store.RoleMember)
	if maier.TenantID != b.acc.TenantID || maier.IsAdmin() {
		t.Errorf("second account %+v of tenant %d", maier, b.acc.TenantID)
	}
	got, err := store.AccountByName(b.ctx, b.tx, b.acc.TenantID, "maier")
	if err != nil || got != maier {
		t.Errorf("AccountByName: %+v, %v", got, err)
	}
	other := storetest.Account(t, b.tx, "", "maier", store.RoleAdmin)
	if _, err := store.AccountByName(b.ctx, b.tx, other.TenantID, "huber"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another tenant's account by name: %v, want ErrNotFound", err)
	}
}

// A taken name is ErrExists. (It aborts the transaction, so this test commits.)
func TestCreateAccountDuplicate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.DB(t)
	acc := storetest.Account(t, db, "", "huber", store.RoleAdmin)
	_, hash := store.NewAPIKey()
	if _, err := store.CreateAccount(ctx, db, acc.Tenant, "huber", store.RoleMember, false, hash); !errors.Is(err, store.ErrExists) {
		t.Errorf("duplicate account: %v, want ErrExists", err)
	}
	// The same name in another tenant is another account.
	if _, err := store.CreateAccount(ctx, db, storetest.Tenant(), "huber", store.RoleMember, false, hash); err != nil {
		t.Errorf("same name, other tenant: %v", err)
	}
}

// An API key is stored only as its hash: the key appears nowhere in the row, and only
// the right key finds the account.
func TestAccountByKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	key, hash := store.NewAPIKey()
	acc, err := store.CreateAccount(b.ctx, b.tx, storetest.Tenant(), "huber", store.RoleAdmin, true, hash)
	if err != nil {
		t.Fatal(err)
	}
	got, err := store.AccountByKey(b.ctx, b.tx, key)
	if err != nil || got != acc || !got.CanTransfer {
		t.Errorf("AccountByKey: %+v, %v; want %+v", got, err, acc)
	}
	for _, wrong := range []string{"", "pw_", key + "x", strings.TrimPrefix(key, "pw_"), string(hash)} {
		if _, err := store.AccountByKey(b.ctx, b.tx, wrong); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("key %q: %v, want ErrNotFound", wrong, err)
		}
	}
	var row string
	if err := b.tx.GetContext(b.ctx, &row, `SELECT a::text FROM accounts a WHERE id = $1`, acc.ID); err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(key, "pw_"))
	for _, form := range []string{key, strings.TrimPrefix(key, "pw_"), hex.EncodeToString([]byte(key)), hex.EncodeToString(raw)} {
		if strings.Contains(row, form) {
			t.Errorf("the accounts row %s contains the key (%s)", row, form)
		}
	}
	if !strings.Contains(row, hex.EncodeToString(hash)) {
		t.Errorf("the accounts row %s does not hold the key's hash", row)
	}
}

func TestUpdateAccount(t *testing.T) {
	t.Parallel()
	b := setup(t)
	role, transfer := store.RoleMember, true
	newKey, newHash := store.NewAPIKey()
	got, err := store.UpdateAccount(b.ctx, b.tx, b.acc.Tenant, b.acc.Name, store.AccountUpdate{Role: &role, CanTransfer: &transfer, KeyHash: newHash})
	if err != nil || got.Role != store.RoleMember || !got.CanTransfer || got.ID != b.acc.ID {
		t.Fatalf("update: %+v, %v", got, err)
	}
	if byKey, err := store.AccountByKey(b.ctx, b.tx, newKey); err != nil || byKey.ID != b.acc.ID {
		t.Errorf("new key: %+v, %v", byKey, err)
	}
	// Nil fields stay.
	if got, err := store.UpdateAccount(b.ctx, b.tx, b.acc.Tenant, b.acc.Name, store.AccountUpdate{}); err != nil || got.Role != store.RoleMember || !got.CanTransfer {
		t.Errorf("empty update: %+v, %v", got, err)
	}
	for _, missing := range [][2]string{{b.acc.Tenant, "niemand"}, {storetest.Tenant(), b.acc.Name}} {
		if _, err := store.UpdateAccount(b.ctx, b.tx, missing[0], missing[1], store.AccountUpdate{Role: &role}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("update of missing %s/%s: %v, want ErrNotFound", missing[0], missing[1], err)
		}
	}
}

func TestGetCustomer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var id int64
	if err := b.tx.GetContext(b.ctx, &id, `INSERT INTO customers (tenant_id, account_id, external_id, email)
		VALUES ($1, $2, 'k1', 'a@x.de') RETURNING id`, b.acc.TenantID, b.acc.ID); err != nil {
		t.Fatal(err)
	}
	c, err := store.GetCustomer(b.ctx, b.tx, b.acc.TenantID, id)
	if err != nil || c.PortalID != id || c.Account != "huber" || c.Email == nil || *c.Email != "a@x.de" {
		t.Errorf("customer: %+v, %v", c, err)
	}
	other := storetest.Account(t, b.tx, "", "huber", store.RoleAdmin)
	if _, err := store.GetCustomer(b.ctx, b.tx, other.TenantID, id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another tenant's customer: %v, want ErrNotFound", err)
	}
}
