// Package store is Portalwerk's PostgreSQL storage: schema migrations, queries and the
// streaming of uploaded files. It imports no other project package.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // registers the "postgres" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrNotFound is returned when a row does not exist or belongs to another tenant; callers
// answer both the same way.
var ErrNotFound = errors.New("not found")

// Open connects to PostgreSQL and checks the connection.
func Open(ctx context.Context, url string) (*sqlx.DB, error) {
	db, err := sqlx.Open("postgres", url)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(10)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("ping database: %w", err)
	}
	return db, nil
}

// OpenProbe connects a pool of one connection for health checks, apart from the pool of
// Open, so that a check still answers while every connection of that pool is busy.
func OpenProbe(ctx context.Context, url string) (*sqlx.DB, error) {
	db, err := Open(ctx, url)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	return db, nil
}

// migrationLock is the advisory-lock key that serialises concurrent migrators.
const migrationLock = 0x706f7274616c // "portal"

// Migrate applies every embedded migration not applied yet, each in its own transaction.
// Several processes may call it at once: an advisory lock lets one run at a time.
func Migrate(ctx context.Context, db *sqlx.DB) error {
	conn, err := db.Connx(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock)

	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		version := strings.TrimSuffix(strings.TrimPrefix(name, "migrations/"), ".sql")
		var done bool
		if err := conn.GetContext(ctx, &done, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, version); err != nil {
			return fmt.Errorf("migrate: check %s: %w", version, err)
		}
		if done {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		tx, err := conn.BeginTxx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate: apply %s: %w", version, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, version); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate: record %s: %w", version, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate: commit %s: %w", version, err)
		}
	}
	return nil
}

// InTx runs fn in a transaction and commits when it returns nil. However fn ends, the
// transaction does not outlive InTx: on an error it is rolled back and the error comes
// back wrapped (with the rollback's own error, should that fail too); on a panic it is
// rolled back and the panic goes on up.
func InTx(ctx context.Context, db *sqlx.DB, fn func(tx *sqlx.Tx) error) (err error) {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	done := false
	defer func() {
		if done {
			return
		}
		rerr := tx.Rollback()
		if err == nil { // fn panicked
			return
		}
		// A cancelled ctx has rolled the transaction back already: sql.ErrTxDone.
		if rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
			err = fmt.Errorf("roll back: %w (rollback failed: %v)", err, rerr)
			return
		}
		err = fmt.Errorf("rolled back: %w", err)
	}()
	if err = fn(tx); err != nil {
		return err
	}
	done = true // a failed commit ends the transaction too
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// getOne reads the single row of query into a T: ErrNotFound when there is none, any
// other error wrapped with what was read.
func getOne[T any](ctx context.Context, db sqlx.QueryerContext, what, query string, args ...any) (T, error) {
	var v, zero T
	err := sqlx.GetContext(ctx, db, &v, query, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return zero, fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	if err != nil {
		return zero, fmt.Errorf("%s: %w", what, err)
	}
	return v, nil
}
