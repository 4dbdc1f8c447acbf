package jobs

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"portalwerk/store"
	"portalwerk/store/storetest"
)

// An import or job run whose task was never enqueued, or was lost with Redis, gets it
// back from the sweep, once however often the sweep runs; finished or previewed imports
// and finished runs do not.
func TestResumeEnqueuesMissingTasksOnce(t *testing.T) {
	ctx := context.Background()
	b := setup(t)
	acc := storetest.Account(t, b.db, "", "huber", "")
	uploadID := storetest.Upload(t, b.db, acc.TenantID, "a.csv", make([]byte, 10))
	ids := map[store.ImportStatus]string{}
	for _, status := range []store.ImportStatus{store.ImportQueued, store.ImportPreviewing, store.ImportPreviewed, store.ImportApplying, store.ImportDone, store.ImportFailed} {
		id := store.NewID()
		if err := store.CreateImport(ctx, b.db, store.NewImport{ID: id, TenantID: acc.TenantID, AccountID: acc.ID, CreatedBy: acc.ID,
			UploadID: uploadID, Profile: "emails", Filename: "a.csv", Options: store.Options{}}); err != nil {
			t.Fatal(err)
		}
		b.db.MustExec(`UPDATE imports SET status = $2 WHERE id = $1`, id, status)
		ids[status] = id
	}
	wantImports := []string{"import-apply:" + ids[store.ImportApplying], "import-preview:" + ids[store.ImportPreviewing], "import-preview:" + ids[store.ImportQueued]}
	slices.Sort(wantImports)

	// Runs committed without their task: the enqueue after the commit was lost.
	runs := map[store.RunStatus]string{}
	for _, status := range []store.RunStatus{store.RunQueued, store.RunRunning, store.RunDone, store.RunFailed} {
		id := store.NewID()
		a := ImportApply{ImportID: "run-" + id, TenantID: acc.TenantID} // any registered type stands in for a job's task
		payload, _ := json.Marshal(a)
		if err := store.CreateRun(ctx, b.db, store.NewRun{ID: id, TenantID: acc.TenantID, AccountID: acc.ID, CreatedBy: acc.ID,
			Kind: store.RunInvitations, TaskType: a.TaskType(), TaskQueue: QueueDefault, TaskID: "run:" + id, TaskPayload: payload}); err != nil {
			t.Fatal(err)
		}
		b.db.MustExec(`UPDATE job_runs SET status = $2 WHERE id = $1`, id, status)
		runs[status] = id
	}
	wantRuns := []string{"run:" + runs[store.RunQueued], "run:" + runs[store.RunRunning]}
	slices.Sort(wantRuns)

	var mine []string
	for _, id := range ids {
		mine = append(mine, id)
	}
	for _, id := range runs {
		mine = append(mine, id)
	}
	w := &ResumeRunsWorker{DB: b.db, Client: b.client}
	for run := range 2 {
		if _, err := w.Work(ctx, task(t, ResumeRuns{Slot: time.Now().Format(time.RFC3339Nano)})); err != nil {
			t.Fatal(err)
		}
		if got := b.pending(t, QueueImports, mine...); !slices.Equal(got, wantImports) {
			t.Fatalf("sweep %d: pending import tasks %v, want %v", run+1, got, wantImports)
		}
		if got := b.pending(t, QueueDefault, mine...); !slices.Equal(got, wantRuns) {
			t.Fatalf("sweep %d: pending run tasks %v, want %v", run+1, got, wantRuns)
		}
	}

	// Redis loses everything: the next sweep puts the tasks back.
	rdb := redis.NewClient(&redis.Options{Addr: b.opt.Addr, DB: b.opt.DB})
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Work(ctx, task(t, ResumeRuns{Slot: "after-flush"})); err != nil {
		t.Fatal(err)
	}
	// Read the lists the worker takes tasks from: the inspector would call the queues
	// unknown, as this client registered them in asynq:queues before the flush and asynq
	// clients register a queue once per process.
	for queue, want := range map[string][]string{QueueImports: wantImports, QueueDefault: wantRuns} {
		got, err := rdb.LRange(ctx, "asynq:{"+queue+"}:pending", 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		got = slices.DeleteFunc(got, func(id string) bool {
			return !slices.ContainsFunc(mine, func(m string) bool { return strings.Contains(id, m) })
		})
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("after the flush, queue %s: pending tasks %v, want %v", queue, got, want)
		}
	}
}
