// Package jobs declares Portalwerk's task types and does the work behind them. A task
// type is declared once, in its own file: the type-name constant, the payload (IDs only)
// whose TaskType method returns it, and the handler.
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"

	"portalwerk/jobs/config"
	"portalwerk/jobs/mail"
)

// Queues. Imports run on their own asynq server with its own slots, so a pile of large
// files can never take the slots that mail and portal work need.
const (
	QueueMail     = "mail"
	QueueDefault  = "default"
	QueuePeriodic = "periodic"
	QueueImports  = "imports"
)

// Payload is a task's arguments; it names its own type, queue and task id, so the
// enqueuing side and the working side cannot drift apart. The task id names one run of
// the work: enqueuing the same id again adds nothing.
type Payload interface {
	TaskType() string
	Queue() string
	TaskID() string
}

// Payloads lists one value of every task payload; the routing test walks it.
func Payloads() []Payload {
	return []Payload{ImportPreview{}, ImportApply{}, PurgeUploads{}, ResumeImports{}}
}

// NewTask is the only way to build a task: the payload decides type, queue and task id.
// Tasks are retained 48 h after they finish so that a repeated id is still recognised.
func NewTask[P Payload](p P, opts ...asynq.Option) (*asynq.Task, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode %s payload: %w", p.TaskType(), err)
	}
	opts = append([]asynq.Option{asynq.Queue(p.Queue()), asynq.TaskID(p.TaskID()), asynq.Retention(48 * time.Hour)}, opts...)
	return asynq.NewTask(p.TaskType(), b, opts...), nil
}

// Enqueue puts p's task on the queue. It reports false, and no error, when a task with
// the same id is already there: that run has been enqueued before.
func Enqueue[P Payload](ctx context.Context, q *asynq.Client, p P) (bool, error) {
	task, err := NewTask(p)
	if err != nil {
		return false, err
	}
	_, err = q.EnqueueContext(ctx, task)
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("enqueue %s: %w", p.TaskID(), err)
	}
	return true, nil
}

// Deps are what the handlers work with.
type Deps struct {
	DB     *sqlx.DB
	Queue  *asynq.Client
	Mail   mail.Sender
	Config config.Config
	Log    *slog.Logger
	Now    func() time.Time
}

// Handlers does the work of every task type.
type Handlers struct {
	Deps
}

// NewHandlers returns the handlers over deps.
func NewHandlers(d Deps) *Handlers {
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Handlers{Deps: d}
}

// Mux routes every task type to its handler.
func (h *Handlers) Mux() *asynq.ServeMux {
	mux := asynq.NewServeMux()
	handle(mux, h.previewImport)
	handle(mux, h.applyImport)
	handle(mux, h.purgeUploads)
	handle(mux, h.resumeImports)
	return mux
}

// handle registers fn for P's task type; a payload that cannot be decoded can never
// succeed, so it is not retried.
func handle[P Payload](mux *asynq.ServeMux, fn func(context.Context, P) error) {
	var zero P
	mux.HandleFunc(zero.TaskType(), func(ctx context.Context, t *asynq.Task) error {
		var p P
		if err := json.Unmarshal(t.Payload(), &p); err != nil {
			return fmt.Errorf("decode %s payload: %v: %w", t.Type(), err, asynq.SkipRetry)
		}
		return fn(ctx, p)
	})
}

// lastAttempt says whether a failure now is final: asynq will not retry the task.
func lastAttempt(ctx context.Context) bool {
	n, ok1 := asynq.GetRetryCount(ctx)
	max, ok2 := asynq.GetMaxRetry(ctx)
	return ok1 && ok2 && n >= max
}
