package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/robfig/cron/v3"

	"portalwerk/jobs"
	"portalwerk/jobs/config"
)

// periodic is a job the scheduler enqueues once per slot of its schedule.
type periodic struct {
	name     string
	schedule cron.Schedule
	payload  func(slot time.Time) jobs.Payload
}

// scheduler enqueues every periodic job with a task id built from the job and its slot,
// so any number of replicas enqueue each slot exactly once.
type scheduler struct {
	queue *asynq.Client
	jobs  []periodic
	log   *slog.Logger
}

func runScheduler(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	redisOpt, err := asynq.ParseRedisURI(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	client := asynq.NewClient(redisOpt)
	defer client.Close()
	s, err := newScheduler(client, log)
	if err != nil {
		return err
	}
	log.Info("scheduler started", slog.Int("jobs", len(s.jobs)))
	return s.run(ctx)
}

func newScheduler(client *asynq.Client, log *slog.Logger) (*scheduler, error) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		return nil, fmt.Errorf("load Europe/Berlin: %w", err)
	}
	parse := func(spec string) (cron.Schedule, error) {
		sch, err := cron.ParseStandard("CRON_TZ=" + berlin.String() + " " + spec)
		if err != nil {
			return nil, fmt.Errorf("schedule %q: %w", spec, err)
		}
		return sch, nil
	}
	purge, err := parse("17 * * * *")
	if err != nil {
		return nil, err
	}
	resume, err := parse("* * * * *")
	if err != nil {
		return nil, err
	}
	return &scheduler{queue: client, log: log, jobs: []periodic{{
		name:     jobs.TypePurgeUploads,
		schedule: purge,
		payload:  func(slot time.Time) jobs.Payload { return jobs.PurgeUploads{Slot: slotKey(slot)} },
	}, {
		name:     jobs.TypeResumeImports,
		schedule: resume,
		payload:  func(slot time.Time) jobs.Payload { return jobs.ResumeImports{Slot: slotKey(slot)} },
	}}}, nil
}

func slotKey(slot time.Time) string { return slot.UTC().Format(time.RFC3339) }

// run sleeps until the next slot of any job and enqueues what is due, until ctx ends.
func (s *scheduler) run(ctx context.Context) error {
	next := make([]time.Time, len(s.jobs))
	now := time.Now()
	for i, j := range s.jobs {
		next[i] = j.schedule.Next(now)
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
				s.log.Error("enqueue periodic job", slog.String("job", j.name), slog.String("slot", slotKey(next[i])), slog.Any("err", err))
			}
			next[i] = j.schedule.Next(next[i])
		}
	}
}

// enqueue adds the job's task for one slot; a replica that comes second finds the task
// id taken and enqueues nothing.
func (s *scheduler) enqueue(ctx context.Context, j periodic, slot time.Time) error {
	added, err := jobs.Enqueue(ctx, s.queue, j.payload(slot))
	if err != nil {
		return err
	}
	if !added {
		s.log.Debug("periodic job already enqueued", slog.String("job", j.name), slog.String("slot", slotKey(slot)))
		return nil
	}
	s.log.Info("periodic job enqueued", slog.String("job", j.name), slog.String("slot", slotKey(slot)))
	return nil
}
