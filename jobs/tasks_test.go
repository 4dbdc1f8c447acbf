package jobs

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"portalwerk/store/storetest"
)

func TestMain(m *testing.M) {
	if os.Getenv(inviteChildRun) != "" {
		os.Exit(inviteChild()) // the kill test's worker process
	}
	if os.Getenv(meterChildRun) != "" {
		os.Exit(meterChild()) // the meter-request kill test's worker process
	}
	os.Exit(storetest.Main(m))
}

func registry(t *testing.T, regs ...Registration) *Registry {
	t.Helper()
	r, err := NewRegistry(regs...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// sample returns a value of every registered args type, as the routing tests need one.
func samples() []Args {
	var out []Args
	for _, reg := range Tasks(Deps{}) {
		out = append(out, reg.args)
	}
	return out
}

// Every registered type must reach the worker registered for exactly its own type:
// asynq's ServeMux falls back to prefix matching, so a missing handler could silently
// land in the handler of a shorter name.
func TestEveryTaskTypeRoutesToItsOwnHandler(t *testing.T) {
	reg := registry(t, Tasks(Deps{})...)
	mux := reg.Mux(storetest.Logger(t))
	if len(reg.Types()) != len(Tasks(Deps{})) {
		t.Fatalf("registry has %d types for %d registrations", len(reg.Types()), len(Tasks(Deps{})))
	}
	for _, a := range samples() {
		task := asynq.NewTask(a.TaskType(), []byte("{}"))
		if _, pattern := mux.Handler(task); pattern != a.TaskType() {
			t.Errorf("task %q is routed to pattern %q", a.TaskType(), pattern)
		}
		if !strings.Contains(a.TaskType(), ":") {
			t.Errorf("task type %q is not noun:verb", a.TaskType())
		}
	}
	client := NewClient(nil)
	for _, typ := range reg.Types() {
		if !client.known[typ] {
			t.Errorf("the client does not know registered type %q", typ)
		}
	}
}

func TestRegistryRefusesDuplicatesAndPrefixes(t *testing.T) {
	w := &ImportApplyWorker{}
	if _, err := NewRegistry(Register[ImportApply](w), Register[ImportApply](w)); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate type: %v", err)
	}
	if _, err := NewRegistry(Register[shortArgs](shortWorker{}), Register[ImportApply](w)); err == nil || !strings.Contains(err.Error(), "prefix") {
		t.Errorf("prefix type: %v", err)
	}
}

// shortArgs is a type whose name is a prefix of import:apply.
type shortArgs struct{}

func (shortArgs) TaskType() string { return "import:app" }
func (shortArgs) Queue() string    { return QueueDefault }
func (shortArgs) TaskID() string   { return "short" }
func (shortArgs) Tenant() int64    { return 0 }

type shortWorker struct{}

func (shortWorker) Work(context.Context, *Task[shortArgs]) (any, error) { return nil, nil }

func TestUndecodablePayloadIsNotRetried(t *testing.T) {
	mux := registry(t, Tasks(Deps{})...).Mux(storetest.Logger(t))
	for _, a := range samples() {
		err := mux.ProcessTask(context.Background(), asynq.NewTask(a.TaskType(), []byte("{not json")))
		if !errors.Is(err, asynq.SkipRetry) {
			t.Errorf("%s: bad payload gave %v, want SkipRetry", a.TaskType(), err)
		}
	}
}

func TestEnqueueRefusesUnregisteredTypes(t *testing.T) {
	addr, index := storetest.RedisDB(t)
	q := asynq.NewClient(asynq.RedisClientOpt{Addr: addr, DB: index})
	t.Cleanup(func() { q.Close() })
	client := NewClient(q)
	_, err := client.Enqueue(context.Background(), shortArgs{})
	var unknown *UnknownTaskTypeError
	if !errors.As(err, &unknown) || unknown.Type != "import:app" {
		t.Fatalf("unregistered type: %v", err)
	}
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: addr, DB: index})
	t.Cleanup(func() { insp.Close() })
	if _, err := insp.GetTaskInfo(QueueDefault, "short"); err == nil {
		t.Errorf("the refused task is on the queue")
	}
	// A registered type is enqueued once per task id.
	for i, want := range []bool{true, false} {
		added, err := client.Enqueue(context.Background(), ImportApply{ImportID: "e1", TenantID: 7})
		if err != nil || added != want {
			t.Errorf("enqueue %d: added=%v err=%v, want %v", i+1, added, err, want)
		}
	}
}

// echoArgs is a task for the test below: its worker answers with a summary.
type echoArgs struct {
	N        int   `json:"n"`
	TenantID int64 `json:"tenant_id"`
}

func (echoArgs) TaskType() string { return "test:echo" }
func (echoArgs) Queue() string    { return QueueDefault }
func (a echoArgs) TaskID() string { return "echo-" + string(rune('a'+a.N)) }
func (a echoArgs) Tenant() int64  { return a.TenantID }

type echoWorker struct{ done chan struct{} }

func (w echoWorker) Work(ctx context.Context, t *Task[echoArgs]) (any, error) {
	defer close(w.done)
	t.Log.InfoContext(ctx, "echo")
	return map[string]int{"n": t.Args.N * 2}, nil
}

// Through a real asynq server, a worker's summary becomes the task's JSON result, and
// its logger carries the task's id, type and tenant.
func TestTaskWritesItsSummaryAsResult(t *testing.T) {
	addr, index := storetest.RedisDB(t)
	opt := asynq.RedisClientOpt{Addr: addr, DB: index}
	q := asynq.NewClient(opt)
	t.Cleanup(func() { q.Close() })
	w := echoWorker{done: make(chan struct{})}
	reg := registry(t, Register[echoArgs](w))
	client := &Client{q: q, known: map[string]bool{"test:echo": true}}
	log, logs := storetest.LoggerAndLines(t)

	srv := asynq.NewServer(opt, asynq.Config{Concurrency: 1, Queues: map[string]int{QueueDefault: 1},
		Logger: discardAsynq{}, ShutdownTimeout: time.Second})
	if err := srv.Start(reg.Mux(log)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	args := echoArgs{N: 21, TenantID: 42}
	if _, err := client.Enqueue(context.Background(), args); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the task did not run")
	}
	insp := asynq.NewInspector(opt)
	t.Cleanup(func() { insp.Close() })
	var info *asynq.TaskInfo
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var err error
		info, err = insp.GetTaskInfo(QueueDefault, args.TaskID())
		if err == nil && info.State == asynq.TaskStateCompleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task not completed: %v %v", info, err)
		}
	}
	if string(info.Result) != `{"n":42}` {
		t.Errorf("result %q, want the summary as JSON", info.Result)
	}
	var line string
	for _, l := range strings.Split(logs(), "\n") {
		if strings.Contains(l, "msg=echo") {
			line = l
		}
	}
	for _, want := range []string{"task_id=" + args.TaskID(), "task_type=test:echo", "tenant_id=42"} {
		if !strings.Contains(line, want) {
			t.Errorf("log line %q lacks %s", line, want)
		}
	}
}

type discardAsynq struct{}

func (discardAsynq) Debug(...any) {}
func (discardAsynq) Info(...any)  {}
func (discardAsynq) Warn(...any)  {}
func (discardAsynq) Error(...any) {}
func (discardAsynq) Fatal(...any) {}

func TestArgsRunOnTheirQueues(t *testing.T) {
	for _, a := range samples() {
		if a.Queue() == "" {
			t.Errorf("%T has no queue", a)
		}
	}
	if (ImportPreview{}).Queue() != QueueImports || (PurgeUploads{}).Queue() != QueuePeriodic || (FanOut{}).Queue() != QueuePeriodic {
		t.Errorf("imports and periodic work must run on their own queues")
	}
}
