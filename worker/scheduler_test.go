package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"portalwerk/jobs"
	"portalwerk/jobs/config"
	"portalwerk/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// Two scheduler replicas firing for the same slots enqueue each slot exactly once.
func TestTwoSchedulersEnqueueEachSlotOnce(t *testing.T) {
	addr, db := storetest.RedisDB(t)
	redisOpt := asynq.RedisClientOpt{Addr: addr, DB: db}
	// Start from empty queues: TestRunCommands' worker may have run an earlier round's tasks.
	rdb := redis.NewClient(&redis.Options{Addr: addr, DB: db})
	defer rdb.Close()
	if err := rdb.FlushDB(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	var replicas []*scheduler
	for range 2 {
		q := asynq.NewClient(redisOpt)
		t.Cleanup(func() { q.Close() })
		replicas = append(replicas, &scheduler{client: jobs.NewClient(q), jobs: jobs.Periodics(cfg.Schedules), log: storetest.Logger(t)})
	}
	job := replicas[0].jobs[0]
	if job.Name != jobs.TypePurgeUploads {
		t.Fatalf("first periodic job is %q", job.Name)
	}
	slot := job.Schedule.Next(time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC))
	var slots []time.Time
	for range 5 {
		slots = append(slots, slot)
		slot = job.Schedule.Next(slot)
	}

	var wg sync.WaitGroup
	for _, s := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, sl := range slots {
				if err := s.enqueue(context.Background(), s.jobs[0], sl); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()

	insp := asynq.NewInspector(redisOpt)
	defer insp.Close()
	tasks, err := insp.ListPendingTasks(jobs.QueuePeriodic, asynq.PageSize(100))
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != len(slots) {
		t.Fatalf("got %d tasks for %d slots", len(tasks), len(slots))
	}
	ids := map[string]bool{}
	for _, task := range tasks {
		ids[task.ID] = true
		// The purge runs per tenant: the slot's task is its fan-out.
		if task.Type != jobs.TypeFanOut {
			t.Errorf("task type %q", task.Type)
		}
	}
	for _, sl := range slots {
		if !ids[jobs.TypeFanOut+":"+jobs.TypePurgeUploads+"@"+jobs.SlotKey(sl)] {
			t.Errorf("slot %s not enqueued", jobs.SlotKey(sl))
		}
	}
}

func TestRunCommands(t *testing.T) {
	env := map[string]string{"DATABASE_URL": storetest.DatabaseURL(t), "REDIS_URL": storetest.RedisURL(t), "OPS_PASSWORD": "x"}
	getenv := func(k string) string { return env[k] }
	if err := run(context.Background(), []string{"frobnicate"}, getenv); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("unknown command: %v", err)
	}
	if err := run(context.Background(), []string{"--help"}, getenv); err != nil {
		t.Errorf("--help: %v", err)
	}
	bad := func(k string) string {
		if k == "WORKER_CONCURRENCY" {
			return "viele"
		}
		return getenv(k)
	}
	if err := run(context.Background(), nil, bad); err == nil || !strings.Contains(err.Error(), "WORKER_CONCURRENCY") {
		t.Errorf("bad setting: %v", err)
	}
	// Worker and scheduler start and stop cleanly when their context ends.
	for _, args := range [][]string{nil, {"scheduler"}} {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- run(ctx, args, getenv) }()
		time.Sleep(500 * time.Millisecond)
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("worker %v: %v", args, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("worker %v did not stop", args)
		}
	}
}

func TestFinalFailure(t *testing.T) {
	boom := errors.New("boom")
	for _, c := range []struct {
		err        error
		retry, max int
		final      bool
	}{
		{boom, 0, 25, false},
		{boom, 24, 25, false},
		{boom, 25, 25, true},
		{fmt.Errorf("bad payload: %w", asynq.SkipRetry), 0, 25, true},
		{boom, 0, 0, true},
	} {
		if got := isFinal(c.err, c.retry, c.max); got != c.final {
			t.Errorf("isFinal(%v, %d, %d) = %v, want %v", c.err, c.retry, c.max, got, c.final)
		}
	}
}
