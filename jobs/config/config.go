// Package config reads Portalwerk's settings from the environment, with working local
// defaults, for every process. Everything is parsed and checked here, once, so that a
// wrong value stops the process at start with an error naming its variable.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Config is every setting of every process; each field names its variable. The mains
// hand each part only the fields it uses.
type Config struct {
	DatabaseURL       string        // DATABASE_URL
	RedisURL          string        // REDIS_URL
	HTTPAddr          string        // HTTP_ADDR
	WorkerMetricsAddr string        // WORKER_METRICS_ADDR; "" = the worker serves no metrics
	PublicBaseURL     string        // PUBLIC_BASE_URL
	MailURL           string        // MAIL_URL
	MailFrom          string        // MAIL_FROM
	LoginKeys         []LoginKey    // LOGIN_KEYS
	UploadMaxBytes    int64         // UPLOAD_MAX_BYTES
	OpsUser           string        // OPS_USER
	OpsPassword       string        // OPS_PASSWORD
	OpsReadOnly       bool          // OPS_READONLY
	WorkerConcurrency int           // WORKER_CONCURRENCY
	MailConnections   int           // MAIL_CONNECTIONS
	ImportConcurrency int           // IMPORT_CONCURRENCY
	UploadRetention   time.Duration // UPLOAD_RETENTION
	Schedules         Schedules     // METER_REQUEST_CRON, PURGE_CRON, TRASH_PURGE_CRON, RESUME_CRON
	Development       bool          // APP_ENV=development
}

// LoginKey is one key of LOGIN_KEYS; the first one signs new login links, the others
// still open the links they made.
type LoginKey struct {
	ID     string
	Secret [32]byte
}

// Schedules are the cron schedules of the periodic jobs, in Europe/Berlin time unless
// the spec names its own CRON_TZ.
type Schedules struct {
	MeterRequests cron.Schedule // METER_REQUEST_CRON
	PurgeUploads  cron.Schedule // PURGE_CRON
	PurgeTrash    cron.Schedule // TRASH_PURGE_CRON
	ResumeRuns    cron.Schedule // RESUME_CRON
}

// Load reads the settings through getenv (os.Getenv in the binaries).
func Load(getenv func(string) string) (Config, error) {
	str := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	c := Config{
		DatabaseURL:       str("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portalwerk?sslmode=disable"),
		RedisURL:          str("REDIS_URL", "redis://127.0.0.1:6379/0"),
		HTTPAddr:          str("HTTP_ADDR", ":8080"),
		WorkerMetricsAddr: getenv("WORKER_METRICS_ADDR"),
		PublicBaseURL:     str("PUBLIC_BASE_URL", "http://localhost:8080"),
		MailURL:           str("MAIL_URL", "file://./var/outbox"),
		MailFrom:          str("MAIL_FROM", "Portalwerk <noreply@portalwerk.local>"),
		OpsUser:           str("OPS_USER", "ops"),
		OpsPassword:       getenv("OPS_PASSWORD"),
		Development:       getenv("APP_ENV") == "development",
	}
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	c.UploadMaxBytes, err = parse("UPLOAD_MAX_BYTES", str("UPLOAD_MAX_BYTES", "268435456"), positive(parseInt64))
	check(err)
	c.OpsReadOnly, err = parse("OPS_READONLY", str("OPS_READONLY", "true"), strconv.ParseBool)
	check(err)
	c.WorkerConcurrency, err = parse("WORKER_CONCURRENCY", str("WORKER_CONCURRENCY", "10"), positive(strconv.Atoi))
	check(err)
	c.MailConnections, err = parse("MAIL_CONNECTIONS", str("MAIL_CONNECTIONS", "4"), positive(strconv.Atoi))
	check(err)
	c.ImportConcurrency, err = parse("IMPORT_CONCURRENCY", str("IMPORT_CONCURRENCY", "2"), positive(strconv.Atoi))
	check(err)
	c.UploadRetention, err = parse("UPLOAD_RETENTION", str("UPLOAD_RETENTION", "720h"), positive(time.ParseDuration))
	check(err)
	c.LoginKeys, err = parse("LOGIN_KEYS", getenv("LOGIN_KEYS"), parseLoginKeys)
	check(err)
	c.Schedules.MeterRequests, err = parse("METER_REQUEST_CRON", str("METER_REQUEST_CRON", "0 6 * * *"), parseSchedule)
	check(err)
	c.Schedules.PurgeUploads, err = parse("PURGE_CRON", str("PURGE_CRON", "17 * * * *"), parseSchedule)
	check(err)
	c.Schedules.PurgeTrash, err = parse("TRASH_PURGE_CRON", str("TRASH_PURGE_CRON", "30 3 * * *"), parseSchedule)
	check(err)
	c.Schedules.ResumeRuns, err = parse("RESUME_CRON", str("RESUME_CRON", "* * * * *"), parseSchedule)
	check(err)
	return c, errors.Join(errs...)
}

func parseInt64(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) }

// positive refuses zero and negative values of a number or duration.
func positive[T int | int64 | time.Duration](fn func(string) (T, error)) func(string) (T, error) {
	return func(s string) (T, error) {
		v, err := fn(s)
		if err == nil && v <= 0 {
			err = errors.New("must be positive")
		}
		return v, err
	}
}

func parse[T any](name, value string, fn func(string) (T, error)) (T, error) {
	v, err := fn(value)
	if err != nil {
		return v, fmt.Errorf("config: %s=%q: %w", name, redact(name, value), err)
	}
	return v, nil
}

// redact keeps secrets out of error messages.
func redact(name, value string) string {
	if name == "LOGIN_KEYS" {
		return "…"
	}
	return value
}

// berlin is the time zone of the schedules: the users' working day.
const berlin = "Europe/Berlin"

func parseSchedule(spec string) (cron.Schedule, error) {
	if !strings.HasPrefix(spec, "CRON_TZ=") && !strings.HasPrefix(spec, "TZ=") {
		spec = "CRON_TZ=" + berlin + " " + spec
	}
	return cron.ParseStandard(spec)
}

// parseLoginKeys reads `kid1:base64key,kid2:base64key` (standard padded base64 of 32
// bytes each). Empty means no keys: only the processes that mint or open login links
// need them, and they say so when they start.
func parseLoginKeys(s string) ([]LoginKey, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var keys []LoginKey
	seen := map[string]bool{}
	for i, part := range strings.Split(s, ",") {
		id, b64, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || id == "" {
			return nil, fmt.Errorf("key %d: want kid:base64key", i+1)
		}
		if strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != "" {
			return nil, fmt.Errorf("key %d: the key id %q may hold only letters, digits, - and _", i+1, id)
		}
		if seen[id] {
			return nil, fmt.Errorf("key id %q given twice", id)
		}
		seen[id] = true
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("key %q: want 32 bytes in standard base64 (openssl rand -base64 32)", id)
		}
		k := LoginKey{ID: id}
		copy(k.Secret[:], raw)
		keys = append(keys, k)
	}
	return keys, nil
}

// Logger is the process logger: JSON in production, text in development, on stderr.
func (c Config) Logger() *slog.Logger {
	if c.Development {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, nil))
}
