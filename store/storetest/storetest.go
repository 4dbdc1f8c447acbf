// Package storetest gives every test package its own fresh PostgreSQL database and its
// own Redis DB index, so `go test ./...` can run packages in parallel against the real
// services. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
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

// Logger is TEMPORARY until the storetest rewrite lands.
func Logger(t testing.TB) *slog.Logger { return slog.New(slog.NewTextHandler(os.Stderr, nil)) }
