package mail

import (
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOutboxDir(t *testing.T) {
	t.Parallel()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for raw, want := range map[string]string{
		DefaultURL:                  filepath.Join(wd, "var", "outbox"),
		"file://./":                 wd,
		"file://../shared/outbox":   filepath.Join(filepath.Dir(wd), "shared", "outbox"),
		"file:///srv/mail/outbox":   "/srv/mail/outbox",
		"file://localhost/srv/mail": "/srv/mail",
		"file:///srv/mit%20space":   "/srv/mit space",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		got, err := outboxDir(u)
		if err != nil || got != want {
			t.Errorf("outboxDir(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
	for _, raw := range []string{"file://var/outbox", "file://", "file://mailhost/outbox"} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := outboxDir(u); err == nil {
			t.Errorf("outboxDir(%q) = %q, want error", raw, got)
		}
	}
}

func TestNewValid(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"", // DefaultURL
		"file:///tmp/outbox",
		"smtp://relay.example.org",
		"smtp://relay.example.org:587",
		"smtps://user%40example.org:p%3Ass@relay.example.org",
		"SMTP://relay.example.org:25",
	} {
		if _, err := New(raw, "Portalwerk <noreply@portalwerk.local>", discard); err != nil {
			t.Errorf("New(%q): %v", raw, err)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	const from = "noreply@portalwerk.local"
	for _, tc := range []struct{ url, from string }{
		{"ftp://x", from},
		{"smtp://", from},
		{"smtp://:25", from},
		{"smtp://relay.example.org:0", from},
		{"smtp://relay.example.org:99999", from},
		{"smtp://user:geheim@relay.example.org:abc", from},
		{"relay.example.org:25", from},
		{"mailto:ops@example.org", from},
		{"file://var/outbox", from},
		{"smtp://relay.example.org", ""},
		{"smtp://relay.example.org", "not an address"},
	} {
		_, err := New(tc.url, tc.from, discard)
		if err == nil {
			t.Errorf("New(%q, %q): no error", tc.url, tc.from)
			continue
		}
		if strings.Contains(err.Error(), "geheim") {
			t.Errorf("New(%q): error leaks the password: %v", tc.url, err)
		}
	}
}

var discard = slog.New(slog.DiscardHandler)
