// Package storetest gives every test package its own fresh PostgreSQL database and its
// own Redis DB index, so `go test ./...` can run packages in parallel against the real
// services. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }
//
// A test that needs no committed data works in TestTx, rolled back at its end; the
// factories (Account, Upload, Import) create fresh tenants, so tests may run in
// parallel and again (go test -count=2) on the same database.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"

	"portalwerk/store"
)

// env is shared by the tests of one package (one test binary), as River shares its pool.
type env struct {
	dbOnce  sync.Once
	dbURL   string
	dbName  string
	db      *sqlx.DB
	dbErr   error
	rdbOnce sync.Once
	rdbIdx  int
	rdbTok  string
	rdbErr  error
}

var shared env

func adminURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

func redisAddr() string {
	if a := os.Getenv("TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Main runs the package's tests and drops what they created.
func Main(m *testing.M) int {
	code := m.Run()
	ctx := context.Background()
	if shared.db != nil {
		shared.db.Close()
		if admin, err := sqlx.Open("postgres", adminURL()); err == nil {
			if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+shared.dbName+` WITH (FORCE)`); err != nil {
				fmt.Fprintln(os.Stderr, "storetest: drop database:", err)
			}
			admin.Close()
		}
	}
	if shared.rdbTok != "" {
		rdb := redis.NewClient(&redis.Options{Addr: redisAddr(), DB: shared.rdbIdx})
		rdb.FlushDB(ctx)
		rdb.Close()
		lock := redis.NewClient(&redis.Options{Addr: redisAddr()})
		key := lockKey(shared.rdbIdx)
		if v, _ := lock.Get(ctx, key).Result(); v == shared.rdbTok {
			lock.Del(ctx, key)
		}
		lock.Close()
	}
	return code
}

// DatabaseURL returns the URL of the package's migrated database, creating it on first use.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	DB(t)
	return shared.dbURL
}

// DB returns the package's migrated database, creating it on first use.
func DB(t testing.TB) *sqlx.DB {
	t.Helper()
	shared.dbOnce.Do(func() {
		ctx := context.Background()
		shared.dbName = "pw_test_" + randomHex(6)
		admin, err := store.Open(ctx, adminURL())
		if err != nil {
			shared.dbErr = fmt.Errorf("connect to PostgreSQL (TEST_DATABASE_URL): %w", err)
			return
		}
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+shared.dbName); err != nil {
			shared.dbErr = fmt.Errorf("create test database: %w", err)
			return
		}
		u, err := url.Parse(adminURL())
		if err != nil {
			shared.dbErr = err
			return
		}
		u.Path = "/" + shared.dbName
		shared.dbURL = u.String()
		if shared.db, shared.dbErr = store.Open(ctx, shared.dbURL); shared.dbErr != nil {
			return
		}
		shared.dbErr = store.Migrate(ctx, shared.db)
	})
	if shared.dbErr != nil {
		t.Fatalf("storetest: %v", shared.dbErr)
	}
	return shared.db
}

func lockKey(i int) string { return fmt.Sprintf("portalwerk:test:redis-db:%d", i) }

// RedisDB returns the address and the DB index reserved for this package, flushed.
func RedisDB(t testing.TB) (addr string, db int) {
	t.Helper()
	shared.rdbOnce.Do(func() {
		ctx := context.Background()
		lock := redis.NewClient(&redis.Options{Addr: redisAddr()})
		defer lock.Close()
		tok := randomHex(8)
		// DB 0 is left to local development; indexes 1–15 are handed out to packages.
		for i := 1; i < 16; i++ {
			ok, err := lock.SetNX(ctx, lockKey(i), tok, time.Hour).Result()
			if err != nil {
				shared.rdbErr = fmt.Errorf("reserve a Redis DB (TEST_REDIS_ADDR): %w", err)
				return
			}
			if ok {
				shared.rdbIdx, shared.rdbTok = i, tok
				rdb := redis.NewClient(&redis.Options{Addr: redisAddr(), DB: i})
				defer rdb.Close()
				shared.rdbErr = rdb.FlushDB(ctx).Err()
				return
			}
		}
		shared.rdbErr = fmt.Errorf("no free Redis DB index among 1-15")
	})
	if shared.rdbErr != nil {
		t.Fatalf("storetest: %v", shared.rdbErr)
	}
	return redisAddr(), shared.rdbIdx
}

// RedisURL returns the package's Redis as a redis:// URL.
func RedisURL(t testing.TB) string {
	addr, db := RedisDB(t)
	return fmt.Sprintf("redis://%s/%d", addr, db)
}

// TestTx returns a transaction on the package's database that is rolled back when the
// test ends, as River's riverdbtest.TestTx: what the test writes is never seen by others.
func TestTx(t testing.TB) *sqlx.Tx {
	t.Helper()
	tx, err := DB(t).BeginTxx(context.Background(), nil)
	if err != nil {
		t.Fatalf("storetest: begin: %v", err)
	}
	t.Cleanup(func() { tx.Rollback() })
	return tx
}

// Logger returns a logger that writes to the test's log (t.Log), so its lines show with
// the test that wrote them. Lines logged after the test ended (by a goroutine it left
// behind) are dropped.
func Logger(t testing.TB) *slog.Logger {
	log, _ := LoggerAndLines(t)
	return log
}

// LoggerAndLines is Logger, and a function returning every line logged so far, for the
// tests that check what is (or is never) logged.
func LoggerAndLines(t testing.TB) (*slog.Logger, func() string) {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	lines := func() string {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.all.String()
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})), lines
}

type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
	all  strings.Builder
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.all.Write(p)
	if !w.done {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

// Tenant returns a fresh tenant slug no other test uses.
func Tenant() string { return "t-" + randomHex(8) }

// Account creates an account with a fresh API key in the tenant, creating the tenant
// when it is missing; tenant "" is a fresh tenant of its own, role "" an admin.
func Account(t testing.TB, db sqlx.ExtContext, tenant, name, role string) store.Account {
	t.Helper()
	if tenant == "" {
		tenant = Tenant()
	}
	if role == "" {
		role = store.RoleAdmin
	}
	_, hash := store.NewAPIKey()
	acc, err := store.CreateAccount(context.Background(), db, tenant, name, role, false, hash)
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	return acc
}

// Upload stores content as a file the tenant uploaded and returns the upload's id.
func Upload(t testing.TB, db sqlx.ExtContext, tenantID int64, filename string, content []byte) string {
	t.Helper()
	id := store.NewID()
	if _, err := store.SaveUpload(context.Background(), db, id, tenantID, filename, bytes.NewReader(content), int64(len(content))); err != nil {
		t.Fatalf("storetest: %v", err)
	}
	return id
}

// Import creates a queued import of the upload for the account (which also creates it)
// and returns it as stored.
func Import(t testing.TB, db sqlx.ExtContext, acc store.Account, uploadID, profile string, opts store.Options) store.Import {
	t.Helper()
	ctx := context.Background()
	var filename string
	if err := sqlx.GetContext(ctx, db, &filename, `SELECT filename FROM uploads WHERE id = $1`, uploadID); err != nil {
		t.Fatalf("storetest: upload %s: %v", uploadID, err)
	}
	if opts == nil {
		opts = store.Options{}
	}
	id := store.NewID()
	if err := store.CreateImport(ctx, db, store.NewImport{ID: id, TenantID: acc.TenantID, AccountID: acc.ID, CreatedBy: acc.ID,
		UploadID: uploadID, Profile: profile, Filename: filename, Options: opts}); err != nil {
		t.Fatalf("storetest: %v", err)
	}
	im, err := store.ImportByID(ctx, db, id)
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	return im
}
