package config

import (
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
		c.HTTPAddr != ":8080" || !c.OpsReadOnly || c.MeterRequestCron != "0 6 * * *" || c.OpsPassword != "" {
		t.Errorf("defaults: %+v", c)
	}
	if !strings.Contains(c.DatabaseURL, "sslmode=disable") {
		t.Errorf("local DATABASE_URL must disable TLS for lib/pq: %s", c.DatabaseURL)
	}
}

func TestBadValuesNameTheVariable(t *testing.T) {
	for name, value := range map[string]string{
		"UPLOAD_MAX_BYTES": "viel", "UPLOAD_RETENTION": "30 Tage", "WORKER_CONCURRENCY": "0", "OPS_READONLY": "vielleicht",
	} {
		_, err := Load(env(map[string]string{name: value}))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q: got %v, want an error naming the variable", name, value, err)
		}
	}
}
