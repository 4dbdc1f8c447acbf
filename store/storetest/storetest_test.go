package storetest_test

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"portalwerk/store"
	"portalwerk/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// What a test writes in its TestTx is gone when the test ends.
func TestTestTxRollsBack(t *testing.T) {
	var tenant string
	t.Run("inner", func(t *testing.T) {
		tx := storetest.TestTx(t)
		tenant = storetest.Account(t, tx, "", "huber", "").Tenant
	})
	var n int
	if err := storetest.DB(t).Get(&n, `SELECT count(*) FROM tenants WHERE slug = $1`, tenant); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("tenant %s of a finished test's TestTx still exists", tenant)
	}
}

// The factories create fresh tenants and what refers to them.
func TestFactories(t *testing.T) {
	tx := storetest.TestTx(t)
	a, b := storetest.Account(t, tx, "", "huber", ""), storetest.Account(t, tx, "", "huber", store.RoleMember)
	if a.TenantID == b.TenantID || a.Tenant == b.Tenant || !a.IsAdmin() || b.IsAdmin() {
		t.Fatalf("accounts %+v and %+v", a, b)
	}
	if c := storetest.Account(t, tx, a.Tenant, "maier", ""); c.TenantID != a.TenantID {
		t.Errorf("account in an existing tenant: %+v", c)
	}
	up := storetest.Upload(t, tx, a.TenantID, "a.csv", []byte("x;y\n"))
	im := storetest.Import(t, tx, a, up, "emails", store.Options{"email_mode": "overwrite"})
	if im.Status != store.ImportQueued || im.UploadID == nil || *im.UploadID != up || im.Filename != "a.csv" ||
		im.Options["email_mode"] != "overwrite" || im.AccountID != a.ID {
		t.Errorf("import %+v", im)
	}
}

// recorder is a testing.TB that keeps what is logged and runs its cleanups on demand.
type recorder struct {
	testing.TB
	lines    []string
	cleanups []func()
}

func (r *recorder) Log(args ...any)  { r.lines = append(r.lines, fmt.Sprint(args...)) }
func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

// The logger writes each line to the test's log; once the test has ended (a goroutine
// it left behind still logging) lines are dropped: t.Log would panic then.
func TestLogger(t *testing.T) {
	r := &recorder{TB: t}
	log := storetest.Logger(r)
	log.Info("import previewed", slog.Int64("rows", 3))
	if len(r.lines) != 1 || !strings.Contains(r.lines[0], `msg="import previewed" rows=3`) || strings.HasSuffix(r.lines[0], "\n") {
		t.Fatalf("logged %q", r.lines)
	}
	for _, f := range r.cleanups {
		f()
	}
	log.Info("after the test")
	if len(r.lines) != 1 {
		t.Errorf("logged after the test ended: %q", r.lines[1:])
	}
	storetest.Logger(t).Debug("to this test's own log")
}
