package importer

import (
	"slices"
	"strings"
	"testing"

	"portalwerk/store"
)

// The customers recheck is a fixed list of named statements per mode and transfer, one
// per lookup stage and the same for any number of rows (the statements are built without
// the rows); the lookup order is own live customers, own trash, then the other accounts'
// live customers and trash, and only a transfer searches other accounts.
func TestCustomersStagesByMode(t *testing.T) {
	im := store.Import{TenantID: 1, AccountID: 2}
	checks := []string{"analyze matches", "record matches", "key exists", "login taken"}
	for _, tc := range []struct {
		opts store.Options
		want []string
	}{
		{store.Options{"mode": "create", "keys": "external_id", "transfer": "none"},
			append([]string{"start matches", "match live"}, checks...)},
		{store.Options{"mode": "update", "keys": "external_id", "transfer": "none"},
			append([]string{"start matches", "match live", "match trash"}, checks...)},
		{store.Options{"mode": "sync", "keys": "portal_id", "transfer": "none"},
			append([]string{"start matches", "match live", "match trash"}, checks...)},
		{store.Options{"mode": "sync", "keys": "external_id", "transfer": "move"},
			append([]string{"start matches", "match live", "match trash", "match other accounts", "match other accounts' trash"}, checks...)},
		{store.Options{"mode": "update", "keys": "external_id", "transfer": "copy"},
			append([]string{"start matches", "match live", "match trash", "match other accounts", "match other accounts' trash"}, checks...)},
	} {
		var got []string
		for _, s := range newCustomersProfile(tc.opts).stages("staging_x", im) {
			if !strings.Contains(s.sql, "staging_x") && s.name != "start matches" && s.name != "analyze matches" {
				t.Errorf("%v: stage %q does not read the staging table", tc.opts, s.name)
			}
			got = append(got, s.name)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%v: stages %q, want %q", tc.opts, got, tc.want)
		}
	}
}
