package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"
)

// Args are a task's arguments (IDs only, never file bytes). They name their own type,
// queue and task id, so the enqueuing side and the working side cannot drift apart. The
// task id names one run of the work: enqueuing the same id again adds nothing.
type Args interface {
	TaskType() string
	Queue() string
	TaskID() string
	// Tenant is the tenant the task works for; 0 for work across tenants.
	Tenant() int64
}

// Task is one execution of a task as its worker sees it.
type Task[A Args] struct {
	Args A
	ID   string
	// Log carries task_id, task_type and, for a tenant's task, tenant_id.
	Log *slog.Logger
	// Result is where asynq keeps the task's result; nil outside an asynq server.
	Result *asynq.ResultWriter
}

// Worker does the work of one task type. It returns a short summary, which becomes the
// task's JSON result in the dashboard. A user's mistake is not an error: the worker
// records it where the user reads it and returns a summary saying so.
type Worker[A Args] interface {
	Work(ctx context.Context, t *Task[A]) (summary any, err error)
}

// Registration is one task type with its worker.
type Registration struct {
	args   Args // a zero value, naming the type and queue
	handle func(ctx context.Context, log *slog.Logger, t *asynq.Task) error
}

// Register makes w the worker of A's task type.
func Register[A Args](w Worker[A]) Registration {
	var zero A
	return Registration{args: zero, handle: func(ctx context.Context, log *slog.Logger, at *asynq.Task) error {
		var a A
		if err := json.Unmarshal(at.Payload(), &a); err != nil {
			// A payload that cannot be decoded can never succeed.
			return fmt.Errorf("decode %s payload: %v: %w", at.Type(), err, asynq.SkipRetry)
		}
		id, _ := asynq.GetTaskID(ctx)
		log = log.With(slog.String("task_id", id), slog.String("task_type", at.Type()))
		if tenant := a.Tenant(); tenant != 0 {
			log = log.With(slog.Int64("tenant_id", tenant))
		}
		t := &Task[A]{Args: a, ID: id, Log: log, Result: at.ResultWriter()}
		summary, err := w.Work(ctx, t)
		if err != nil {
			return err
		}
		if t.Result == nil {
			return nil
		}
		b, err := json.Marshal(summary)
		if err == nil {
			_, err = t.Result.Write(b)
		}
		if err != nil {
			// The work is done and recorded; only the dashboard's copy is missing.
			log.WarnContext(ctx, "write task result", slog.Any("err", err))
		}
		return nil
	}}
}

// Type is the registered task type.
func (r Registration) Type() string { return r.args.TaskType() }

// Registry holds one registration per task type.
type Registry struct {
	regs map[string]Registration
}

// NewRegistry checks that no type is registered twice and that no type is a prefix of
// another: asynq's ServeMux falls back to prefix matching, so a type that lost its
// handler would silently land in the handler of a shorter name.
func NewRegistry(regs ...Registration) (*Registry, error) {
	r := &Registry{regs: map[string]Registration{}}
	for _, reg := range regs {
		typ := reg.Type()
		if _, dup := r.regs[typ]; dup {
			return nil, fmt.Errorf("task type %q registered twice", typ)
		}
		r.regs[typ] = reg
	}
	for a := range r.regs {
		for b := range r.regs {
			if a != b && strings.HasPrefix(b, a) {
				return nil, fmt.Errorf("task type %q is a prefix of %q", a, b)
			}
		}
	}
	return r, nil
}

// Types lists the registered task types, sorted.
func (r *Registry) Types() []string {
	out := make([]string, 0, len(r.regs))
	for t := range r.regs {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// Mux routes every registered type to its worker, logging through log.
func (r *Registry) Mux(log *slog.Logger) *asynq.ServeMux {
	mux := asynq.NewServeMux()
	for typ, reg := range r.regs {
		mux.HandleFunc(typ, func(ctx context.Context, t *asynq.Task) error { return reg.handle(ctx, log, t) })
	}
	return mux
}

// retention keeps finished tasks 48 h, so a repeated task id is still recognised and the
// dashboard shows the result.
const retention = 48 * time.Hour

// UnknownTaskTypeError is returned for a task type no worker is registered for: its task
// would only retry into asynq's not-found handler (River refuses unknown kinds alike).
type UnknownTaskTypeError struct{ Type string }

func (e *UnknownTaskTypeError) Error() string {
	return fmt.Sprintf("task type %q is not registered", e.Type)
}

// Client enqueues tasks of the registered types.
type Client struct {
	q     *asynq.Client
	known map[string]bool
}

// NewClient enqueues through q the task types that Tasks registers.
func NewClient(q *asynq.Client) *Client {
	known := map[string]bool{}
	for _, reg := range Tasks(Deps{}) {
		known[reg.Type()] = true
	}
	return &Client{q: q, known: known}
}

// Enqueue puts a's task on its queue. It reports false, and no error, when a task with
// the same id is already there: that run has been enqueued before.
func (c *Client) Enqueue(ctx context.Context, a Args) (bool, error) {
	payload, err := json.Marshal(a)
	if err != nil {
		return false, fmt.Errorf("encode %s payload: %w", a.TaskType(), err)
	}
	return c.enqueue(ctx, a.TaskType(), a.Queue(), a.TaskID(), payload)
}

func (c *Client) enqueue(ctx context.Context, typ, queue, id string, payload []byte) (bool, error) {
	if !c.known[typ] {
		return false, &UnknownTaskTypeError{Type: typ}
	}
	task := asynq.NewTask(typ, payload, asynq.Queue(queue), asynq.TaskID(id), asynq.Retention(retention))
	_, err := c.q.EnqueueContext(ctx, task)
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("enqueue %s: %w", id, err)
	}
	return true, nil
}

// lastAttempt says whether a failure now is final: asynq will not retry the task.
func lastAttempt(ctx context.Context) bool {
	n, ok1 := asynq.GetRetryCount(ctx)
	max, ok2 := asynq.GetMaxRetry(ctx)
	return ok1 && ok2 && n >= max
}
