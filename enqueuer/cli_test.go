package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"portalwerk/store"
	"portalwerk/store/storetest"
)

// cli runs the enqueuer's command line in process against the package's database.
func cli(t *testing.T, args ...string) (string, error) {
	t.Helper()
	env := map[string]string{"DATABASE_URL": storetest.DatabaseURL(t)}
	var out bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, &out)
	return out.String(), err
}

func TestHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"help"}, {"--help"}, {"-h"}, {"serve", "--help"}, {"migrate", "-h"}, {"account", "--help"},
		{"account", "create", "--help"}, {"account", "update", "-h"}, {"account", "list", "--help"},
	} {
		out, err := cli(t, args...)
		if err != nil || !strings.Contains(out, "usage: enqueuer") {
			t.Errorf("%v: %v %q", args, err, out)
		}
		if args[0] == "account" && len(args) > 2 && !strings.Contains(out, "-tenant") {
			t.Errorf("%v does not list the flags: %q", args, out)
		}
	}
	if _, err := cli(t, "deploy"); err == nil || !strings.Contains(err.Error(), "usage: enqueuer") {
		t.Errorf("unknown command: %v", err)
	}
}

func TestAccountCLI(t *testing.T) {
	t.Parallel()
	tenant := storetest.Tenant()
	out, err := cli(t, "account", "create", "--tenant", tenant, "--name", "huber", "--role", "admin", "--can-transfer")
	var created map[string]any
	if err != nil || json.Unmarshal([]byte(out), &created) != nil || created["api_key"] == "" || created["role"] != "admin" || created["can_transfer"] != true {
		t.Fatalf("create: %v %q", err, out)
	}
	if _, err := cli(t, "account", "create", "--tenant", tenant, "--name", "maier"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli(t, "account", "create", "--tenant", tenant, "--name", "huber"); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Errorf("second create: %v", err)
	}
	out, err = cli(t, "account", "list", "--tenant", tenant)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"account":"huber"`) || !strings.Contains(lines[1], `"role":"member"`) {
		t.Errorf("list: %q", out)
	}
	if key := created["api_key"].(string); strings.Contains(out, key) || strings.Contains(out, "api_key") {
		t.Errorf("list shows a key: %q", out)
	}
	for _, l := range lines {
		var a struct {
			Tenant, Account, Role string
			CanTransfer           *bool `json:"can_transfer"`
		}
		if err := json.Unmarshal([]byte(l), &a); err != nil || a.Tenant != tenant || a.CanTransfer == nil {
			t.Errorf("list line %q: %v", l, err)
		}
	}
	if _, err := cli(t, "account", "list", "--tenant", "gibt-es-nicht-"+tenant); err == nil || !strings.Contains(err.Error(), "no tenant") {
		t.Errorf("list of a missing tenant: %v", err)
	}
	out, err = cli(t, "account", "update", "--tenant", tenant, "--name", "maier", "--role", "admin", "--new-key")
	if err != nil || !strings.Contains(out, `"api_key":"pw_`) || !strings.Contains(out, `"role":"admin"`) {
		t.Errorf("update: %v %q", err, out)
	}
	if _, err := cli(t, "account", "update", "--tenant", tenant, "--name", "niemand", "--role", "admin"); err == nil || !strings.Contains(err.Error(), "no account") {
		t.Errorf("update of a missing account: %v", err)
	}
}

func TestTenantSlugChecked(t *testing.T) {
	t.Parallel()
	for _, slug := range []string{"HV Müller", "hv_mueller", "-hv", "hv-", "hv/../x", strings.Repeat("a", 64)} {
		for _, sub := range []string{"create", "update", "list"} {
			args := []string{"account", sub, "--tenant", slug}
			if sub != "list" {
				args = append(args, "--name", "huber")
			}
			_, err := cli(t, args...)
			if err == nil || !strings.Contains(err.Error(), "lower-case letters a-z, digits") {
				t.Errorf("%s --tenant %q: %v", sub, slug, err)
			}
		}
	}
	var n int
	if err := storetest.DB(t).Get(&n, `SELECT count(*) FROM tenants WHERE slug = 'HV Müller'`); err != nil || n != 0 {
		t.Errorf("a refused slug was stored: %d %v", n, err)
	}
	if _, err := cli(t, "account", "create", "--tenant", "hv-mueller-"+strings.ToLower(store.NewID()[:8]), "--name", "huber"); err != nil {
		t.Errorf("a good slug: %v", err)
	}
}
