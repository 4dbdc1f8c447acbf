package main

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"portalwerk/jobs"
	"portalwerk/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// Two scheduler replicas firing for the same slots enqueue each slot exactly once.
func TestTwoSchedulersEnqueueEachSlotOnce(t *testing.T) {
	addr, db := storetest.RedisDB(t)
	redisOpt := asynq.RedisClientOpt{Addr: addr, DB: db}
	log := storetest.Logger(t)
	var replicas []*scheduler
	for range 2 {
		client := asynq.NewClient(redisOpt)
		t.Cleanup(func() { client.Close() })
		s, err := newScheduler(client, log)
		if err != nil {
			t.Fatal(err)
		}
		replicas = append(replicas, s)
	}
	job := replicas[0].jobs[0]
	slot := job.schedule.Next(time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC))
	var slots []time.Time
	for range 5 {
		slots = append(slots, slot)
		slot = job.schedule.Next(slot)
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
		if task.Type != jobs.TypePurgeUploads {
			t.Errorf("task type %q", task.Type)
		}
	}
	for _, sl := range slots {
		if !ids[jobs.TypePurgeUploads+"@"+slotKey(sl)] {
			t.Errorf("slot %s not enqueued", slotKey(sl))
		}
	}
}
