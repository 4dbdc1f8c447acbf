package config

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.UploadMaxBytes != 256<<20 || c.UploadRetention != 720*time.Hour || c.MailURL != "file://./var/outbox" ||
		c.HTTPAddr != ":8080" || !c.OpsReadOnly || c.OpsPassword != "" || c.LoginKeys != nil {
		t.Errorf("defaults: %+v", c)
	}
	if !strings.Contains(c.DatabaseURL, "sslmode=disable") {
		t.Errorf("local DATABASE_URL must disable TLS for lib/pq: %s", c.DatabaseURL)
	}
	// METER_REQUEST_CRON defaults to 06:00 Berlin time, also across the change to summer time.
	berlinTZ, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	for _, from := range []time.Time{
		time.Date(2026, 12, 1, 7, 0, 0, 0, berlinTZ),
		time.Date(2026, 3, 28, 7, 0, 0, 0, berlinTZ),
	} {
		next := c.Schedules.MeterRequests.Next(from).In(berlinTZ)
		if next.Hour() != 6 || next.Minute() != 0 || next.Day() != from.Day()+1 {
			t.Errorf("meter requests after %s: %s, want 06:00 the next day", from, next)
		}
	}
	if next := c.Schedules.ResumeRuns.Next(time.Date(2026, 12, 1, 7, 0, 30, 0, time.UTC)); !next.Equal(time.Date(2026, 12, 1, 7, 1, 0, 0, time.UTC)) {
		t.Errorf("resume sweep: next %s, want every minute", next)
	}
	if next := c.Schedules.PurgeTrash.Next(time.Date(2026, 12, 1, 7, 0, 0, 0, berlinTZ)).In(berlinTZ); next.Hour() != 3 || next.Minute() != 30 || next.Day() != 2 {
		t.Errorf("trash purge: next %s, want 03:30 the next day", next)
	}
	if next := c.Schedules.PurgeUploads.Next(time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC)); next.Minute() != 17 {
		t.Errorf("purge: next %s, want minute 17", next)
	}
}

func TestBadValuesNameTheVariable(t *testing.T) {
	short := base64.StdEncoding.EncodeToString([]byte("too short"))
	for name, value := range map[string]string{
		"UPLOAD_MAX_BYTES": "viel", "UPLOAD_RETENTION": "30 Tage", "WORKER_CONCURRENCY": "0", "OPS_READONLY": "vielleicht",
		"IMPORT_CONCURRENCY": "-1", "METER_REQUEST_CRON": "täglich um 6", "PURGE_CRON": "61 * * * *", "RESUME_CRON": "* *",
		"LOGIN_KEYS": "k1:" + short, "TRASH_PURGE_CRON": "jeden Tag",
	} {
		_, err := Load(env(map[string]string{name: value}))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q: got %v, want an error naming the variable", name, value, err)
		}
	}
}

func TestLoginKeys(t *testing.T) {
	k1 := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	k2 := base64.StdEncoding.EncodeToString([]byte("fedcba9876543210fedcba9876543210"))
	c, err := Load(env(map[string]string{"LOGIN_KEYS": "2026b:" + k2 + ", 2026a:" + k1}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.LoginKeys) != 2 || c.LoginKeys[0].ID != "2026b" || c.LoginKeys[1].ID != "2026a" ||
		string(c.LoginKeys[1].Secret[:]) != "0123456789abcdef0123456789abcdef" {
		t.Fatalf("keys: %+v", c.LoginKeys)
	}
	for _, bad := range []string{"nokid", ":" + k1, "a:" + k1 + ",a:" + k2, "a b:" + k1, "a:not base64!"} {
		_, err := Load(env(map[string]string{"LOGIN_KEYS": bad}))
		if err == nil || !strings.Contains(err.Error(), "LOGIN_KEYS") {
			t.Errorf("LOGIN_KEYS=%q: got %v", bad, err)
		}
		// A key never appears in the error.
		if err != nil && strings.Contains(err.Error(), k1) {
			t.Errorf("LOGIN_KEYS=%q: error shows the key: %v", bad, err)
		}
	}
}
