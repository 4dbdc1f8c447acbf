package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"portalwerk/jobs"
)

// scheduler enqueues every periodic job with a task id built from the job and its slot,
// so any number of replicas enqueue each slot exactly once.
type scheduler struct {
	client *jobs.Client
	jobs   []jobs.Periodic
	log    *slog.Logger
}

func runScheduler(ctx context.Context, redisOpt asynq.RedisConnOpt, periodic []jobs.Periodic, log *slog.Logger) error {
	q := asynq.NewClient(redisOpt)
	defer q.Close()
	s := &scheduler{client: jobs.NewClient(q), jobs: periodic, log: log}
	log.Info("scheduler started", slog.Int("jobs", len(s.jobs)))
	return s.run(ctx)
}

// run sleeps until the next slot of any job and enqueues what is due, until ctx ends.
func (s *scheduler) run(ctx context.Context) error {
	next := make([]time.Time, len(s.jobs))
	now := time.Now()
	for i, j := range s.jobs {
		next[i] = j.Schedule.Next(now)
	}
	for {
		soonest := next[0]
		for _, t := range next[1:] {
			if t.Before(soonest) {
				soonest = t
			}
		}
		timer := time.NewTimer(time.Until(soonest))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
		for i, j := range s.jobs {
			if next[i].After(time.Now()) {
				continue
			}
			if err := s.enqueue(ctx, j, next[i]); err != nil {
				s.log.Error("enqueue periodic job", slog.String("job", j.Name), slog.String("slot", jobs.SlotKey(next[i])), slog.Any("err", err))
			}
			next[i] = j.Schedule.Next(next[i])
		}
	}
}

// enqueue adds the job's task for one slot; a replica that comes second finds the task
// id taken and enqueues nothing.
func (s *scheduler) enqueue(ctx context.Context, j jobs.Periodic, slot time.Time) error {
	added, err := s.client.Enqueue(ctx, j.Args(slot))
	if err != nil {
		return err
	}
	if !added {
		s.log.Debug("periodic job already enqueued", slog.String("job", j.Name), slog.String("slot", jobs.SlotKey(slot)))
		return nil
	}
	s.log.Info("periodic job enqueued", slog.String("job", j.Name), slog.String("slot", jobs.SlotKey(slot)))
	return nil
}
