// Package config reads Portalwerk's settings from the environment, with working local
// defaults, for every process.
package config

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"
)

// Config is every setting of every process; each field names its variable.
type Config struct {
	DatabaseURL       string        // DATABASE_URL
	RedisURL          string        // REDIS_URL
	HTTPAddr          string        // HTTP_ADDR
	PublicBaseURL     string        // PUBLIC_BASE_URL
	MailURL           string        // MAIL_URL
	MailFrom          string        // MAIL_FROM
	LoginKeys         string        // LOGIN_KEYS
	UploadMaxBytes    int64         // UPLOAD_MAX_BYTES
	OpsUser           string        // OPS_USER
	OpsPassword       string        // OPS_PASSWORD
	OpsReadOnly       bool          // OPS_READONLY
	WorkerConcurrency int           // WORKER_CONCURRENCY
	ImportConcurrency int           // IMPORT_CONCURRENCY
	MeterRequestCron  string        // METER_REQUEST_CRON
	UploadRetention   time.Duration // UPLOAD_RETENTION
	Development       bool          // APP_ENV=development
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
		DatabaseURL:      str("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portalwerk?sslmode=disable"),
		RedisURL:         str("REDIS_URL", "redis://127.0.0.1:6379/0"),
		HTTPAddr:         str("HTTP_ADDR", ":8080"),
		PublicBaseURL:    str("PUBLIC_BASE_URL", "http://localhost:8080"),
		MailURL:          str("MAIL_URL", "file://./var/outbox"),
		MailFrom:         str("MAIL_FROM", "Portalwerk <noreply@portalwerk.local>"),
		LoginKeys:        getenv("LOGIN_KEYS"),
		OpsUser:          str("OPS_USER", "ops"),
		OpsPassword:      getenv("OPS_PASSWORD"),
		MeterRequestCron: str("METER_REQUEST_CRON", "0 6 * * *"),
		Development:      getenv("APP_ENV") == "development",
	}
	var err error
	if c.UploadMaxBytes, err = parse("UPLOAD_MAX_BYTES", str("UPLOAD_MAX_BYTES", "268435456"), parseInt64); err != nil {
		return c, err
	}
	if c.OpsReadOnly, err = parse("OPS_READONLY", str("OPS_READONLY", "true"), strconv.ParseBool); err != nil {
		return c, err
	}
	if c.WorkerConcurrency, err = parse("WORKER_CONCURRENCY", str("WORKER_CONCURRENCY", "10"), strconv.Atoi); err != nil {
		return c, err
	}
	if c.ImportConcurrency, err = parse("IMPORT_CONCURRENCY", str("IMPORT_CONCURRENCY", "2"), strconv.Atoi); err != nil {
		return c, err
	}
	if c.UploadRetention, err = parse("UPLOAD_RETENTION", str("UPLOAD_RETENTION", "720h"), time.ParseDuration); err != nil {
		return c, err
	}
	if c.UploadMaxBytes <= 0 || c.WorkerConcurrency <= 0 || c.ImportConcurrency <= 0 || c.UploadRetention <= 0 {
		return c, fmt.Errorf("UPLOAD_MAX_BYTES, WORKER_CONCURRENCY, IMPORT_CONCURRENCY and UPLOAD_RETENTION must be positive")
	}
	return c, nil
}

func parseInt64(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) }

func parse[T any](name, value string, fn func(string) (T, error)) (T, error) {
	v, err := fn(value)
	if err != nil {
		return v, fmt.Errorf("config: %s=%q: %w", name, value, err)
	}
	return v, nil
}

// Logger is the process logger: JSON in production, text in development, on stderr.
func (c Config) Logger() *slog.Logger {
	if c.Development {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, nil))
}
