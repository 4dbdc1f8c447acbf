package store_test

import (
	"context"
	"errors"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"portalwerk/store"
	"portalwerk/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// testBundle is what most tests work with: a transaction rolled back at the end and a
// fresh tenant's account in it.
type testBundle struct {
	ctx context.Context
	tx  *sqlx.Tx
	acc store.Account
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	tx := storetest.TestTx(t)
	return &testBundle{ctx: context.Background(), tx: tx, acc: storetest.Account(t, tx, "", "huber", store.RoleAdmin)}
}

// freshDatabase creates an empty database next to the package's and returns a pool on it.
func freshDatabase(t *testing.T) *sqlx.DB {
	t.Helper()
	ctx := context.Background()
	name := "pw_test_fresh_" + store.NewID()[:8]
	admin := storetest.DB(t)
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Error(err)
		}
	})
	u, err := url.Parse(storetest.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	db, err := store.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Several processes migrating an empty database at once take turns; migrating again
// changes nothing.
func TestMigrateConcurrentAndIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := freshDatabase(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- store.Migrate(ctx, db)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent migrate: %v", err)
		}
	}
	var applied []string
	if err := db.SelectContext(ctx, &applied, `SELECT version FROM schema_migrations ORDER BY version`); err != nil {
		t.Fatal(err)
	}
	if len(applied) == 0 || applied[0] != "0001_init" {
		t.Fatalf("applied migrations %v", applied)
	}
	for range 2 {
		if err := store.Migrate(ctx, db); err != nil {
			t.Fatalf("migrate again: %v", err)
		}
	}
	var again []string
	if err := db.SelectContext(ctx, &again, `SELECT version FROM schema_migrations ORDER BY version`); err != nil {
		t.Fatal(err)
	}
	if len(again) != len(applied) {
		t.Errorf("migrating again recorded %v, first run %v", again, applied)
	}
	// The package's own database, migrated by storetest, takes another run too.
	if err := store.Migrate(ctx, storetest.DB(t)); err != nil {
		t.Fatalf("migrate the package database again: %v", err)
	}
}

func tenantExists(t *testing.T, db sqlx.QueryerContext, slug string) bool {
	t.Helper()
	var n int
	if err := sqlx.GetContext(context.Background(), db, &n, `SELECT count(*) FROM tenants WHERE slug = $1`, slug); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// InTx commits when fn succeeds and rolls back when it fails or panics; the panic goes
// on up, and the transaction does not keep its connection.
func TestInTx(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// One connection only: a transaction left open would block the next InTx.
	db, err := store.Open(ctx, storetest.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	insert := func(tx *sqlx.Tx, slug string) {
		t.Helper()
		if _, err := tx.ExecContext(ctx, `INSERT INTO tenants (slug) VALUES ($1)`, slug); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("commit", func(t *testing.T) {
		slug := storetest.Tenant()
		if err := store.InTx(ctx, db, func(tx *sqlx.Tx) error { insert(tx, slug); return nil }); err != nil {
			t.Fatal(err)
		}
		if !tenantExists(t, db, slug) {
			t.Error("committed tenant missing")
		}
	})

	t.Run("error", func(t *testing.T) {
		slug := storetest.Tenant()
		errBoom := errors.New("boom")
		err := store.InTx(ctx, db, func(tx *sqlx.Tx) error { insert(tx, slug); return errBoom })
		if !errors.Is(err, errBoom) {
			t.Fatalf("InTx returned %v, want it to wrap %v", err, errBoom)
		}
		if tenantExists(t, db, slug) {
			t.Error("the failed transaction was committed")
		}
	})

	t.Run("panic", func(t *testing.T) {
		slug := storetest.Tenant()
		func() {
			defer func() {
				if r := recover(); r != "boom" {
					t.Errorf("recovered %v, want the panic of fn", r)
				}
			}()
			store.InTx(ctx, db, func(tx *sqlx.Tx) error { insert(tx, slug); panic("boom") })
			t.Error("InTx did not re-raise the panic")
		}()
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		var n int
		if err := db.GetContext(tctx, &n, `SELECT count(*) FROM tenants WHERE slug = $1`, slug); err != nil {
			t.Fatalf("after the panic: %v (transaction still holding the connection?)", err)
		}
		if n != 0 {
			t.Error("the panicking transaction was committed")
		}
	})

	t.Run("cancelled context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		err := store.InTx(cctx, db, func(tx *sqlx.Tx) error {
			cancel()
			_, err := tx.ExecContext(cctx, `SELECT 1`)
			return err
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("InTx returned %v, want context.Canceled", err)
		}
	})
}
