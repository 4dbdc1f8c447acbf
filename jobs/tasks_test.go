package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
)

// Every payload type must reach the handler registered for exactly its own type:
// asynq's ServeMux falls back to prefix matching, so a missing handler could silently
// land in the handler of a shorter name.
func TestEveryTaskTypeRoutesToItsOwnHandler(t *testing.T) {
	mux := NewHandlers(Deps{}).Mux()
	seen := map[string]bool{}
	for _, p := range Payloads() {
		if seen[p.TaskType()] {
			t.Errorf("task type %q declared twice", p.TaskType())
		}
		seen[p.TaskType()] = true
		task, err := NewTask(p)
		if err != nil {
			t.Fatalf("NewTask(%T): %v", p, err)
		}
		if task.Type() != p.TaskType() {
			t.Errorf("NewTask(%T).Type() = %q, want %q", p, task.Type(), p.TaskType())
		}
		_, pattern := mux.Handler(task)
		if pattern != p.TaskType() {
			t.Errorf("task %q is routed to pattern %q", p.TaskType(), pattern)
		}
	}
	// With prefix matching, a declared type that is a prefix of another would catch it if
	// the longer one ever lost its handler.
	for a := range seen {
		for b := range seen {
			if a != b && strings.HasPrefix(b, a) {
				t.Errorf("task type %q is a prefix of %q", a, b)
			}
		}
	}
}

func TestUndecodablePayloadIsNotRetried(t *testing.T) {
	mux := NewHandlers(Deps{}).Mux()
	for _, p := range Payloads() {
		err := mux.ProcessTask(context.Background(), asynq.NewTask(p.TaskType(), []byte("{not json")))
		if !errors.Is(err, asynq.SkipRetry) {
			t.Errorf("%s: bad payload gave %v, want SkipRetry", p.TaskType(), err)
		}
	}
}

func TestNewTaskPutsPayloadOnItsQueue(t *testing.T) {
	for _, p := range Payloads() {
		task, err := NewTask(p)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(task.Payload()) {
			t.Errorf("%s payload is not JSON: %q", p.TaskType(), task.Payload())
		}
	}
	if (ImportPreview{}).Queue() != QueueImports || (PurgeUploads{}).Queue() != QueuePeriodic {
		t.Errorf("imports and periodic work must run on their own queues")
	}
}
