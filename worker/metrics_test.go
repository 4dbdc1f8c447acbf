package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
)

func TestWorkerMetrics(t *testing.T) {
	t.Parallel()
	m := newMetrics()
	mux := asynq.NewServeMux()
	mux.Use(m.middleware)
	mux.HandleFunc("test:ok", func(context.Context, *asynq.Task) error { return nil })
	mux.HandleFunc("test:fails", func(context.Context, *asynq.Task) error { return errors.New("kaputt") })
	for _, typ := range []string{"test:ok", "test:ok", "test:fails"} {
		mux.ProcessTask(context.Background(), asynq.NewTask(typ, nil))
	}
	m.mailsSent.Add(3)
	m.mailsFailed.Inc()

	srv := httptest.NewServer(m.handler("ops", "secret"))
	defer srv.Close()
	scrape := func(user, pass string) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+"/metrics", nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := scrape("ops", "secret")
	if code != http.StatusOK {
		t.Fatalf("scrape: %d", code)
	}
	for _, want := range []string{
		`portalwerk_task_duration_seconds_count{type="test:ok"} 2`,
		`portalwerk_task_duration_seconds_bucket{type="test:fails",le="0.01"} 1`,
		`portalwerk_tasks_processed_total{type="test:ok"} 2`,
		`portalwerk_tasks_processed_total{type="test:fails"} 1`,
		`portalwerk_tasks_failed_total{type="test:fails"} 1`,
		"portalwerk_mails_sent_total 3",
		"portalwerk_mails_failed_total 1",
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("worker /metrics lacks %s", want)
		}
	}
	if strings.Contains(body, `portalwerk_tasks_failed_total{type="test:ok"}`) {
		t.Error("a task that succeeded counts as failed")
	}
	for _, c := range [][2]string{{"", ""}, {"ops", "falsch"}} {
		if code, _ := scrape(c[0], c[1]); code != http.StatusUnauthorized {
			t.Errorf("scrape as %q/%q: %d, want 401", c[0], c[1], code)
		}
	}
	closed := httptest.NewServer(m.handler("ops", ""))
	defer closed.Close()
	req, _ := http.NewRequest("GET", closed.URL+"/metrics", nil)
	req.SetBasicAuth("ops", "")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without OPS_PASSWORD: %v %v", resp, err)
	}
}
