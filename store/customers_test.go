package store_test

import (
	"testing"

	"portalwerk/store"
	"portalwerk/store/storetest"
)

// An external ID of 1 to 19 digits finds an exact match first, else its 20-digit form.
func TestListCustomersByExternalID(t *testing.T) {
	t.Parallel()
	b := setup(t)
	add := func(acc store.Account, ext string, trashed bool) int64 {
		t.Helper()
		var id int64
		if err := b.tx.GetContext(b.ctx, &id, `INSERT INTO customers (tenant_id, account_id, external_id, deleted_at)
			VALUES ($1, $2, $3, CASE WHEN $4 THEN now() END) RETURNING id`, acc.TenantID, acc.ID, ext, trashed); err != nil {
			t.Fatal(err)
		}
		return id
	}
	padded := add(b.acc, "00000000001200100300", false)
	exact := add(b.acc, "4711", false)
	add(b.acc, "00000000000000004711", false)
	trashed := add(b.acc, "00000000000000000815", true)
	other := storetest.Account(t, b.tx, b.acc.Tenant, "maier", store.RoleAdmin)
	add(other, "00000000000000000042", false)

	for _, tc := range []struct {
		ext   string
		trash bool
		want  []int64
	}{
		{"1200100300", false, []int64{padded}},
		{"00000000001200100300", false, []int64{padded}},
		{"4711", false, []int64{exact}},       // the exact match wins over the padded one
		{"815", false, nil},                   // only in the trash
		{"815", true, []int64{trashed}},       // the trash is searched the same way
		{"42", false, nil},                    // another account's
		{"K-1", false, nil},                   // not digits: as typed only
		{"012345678901234567890", false, nil}, // 21 digits
	} {
		list, err := store.ListCustomers(b.ctx, b.tx, store.CustomerFilter{AccountID: b.acc.ID, ExternalID: tc.ext, Trash: tc.trash, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, c := range list {
			got = append(got, c.PortalID)
		}
		if len(got) != len(tc.want) || len(got) > 0 && got[0] != tc.want[0] {
			t.Errorf("external_id=%s trash=%v: got %v, want %v", tc.ext, tc.trash, got, tc.want)
		}
	}
}
