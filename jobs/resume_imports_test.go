package jobs

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"

	"portalwerk/store"
	"portalwerk/store/storetest"
)

// An import whose task was never enqueued, or was lost with Redis, gets it back from
// the sweep, once however often the sweep runs; finished or previewed imports do not.
func TestResumeImportsEnqueuesMissingTasksOnce(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t)
	addr, index := storetest.RedisDB(t)
	redisOpt := asynq.RedisClientOpt{Addr: addr, DB: index}
	client := asynq.NewClient(redisOpt)
	t.Cleanup(func() { client.Close() })
	insp := asynq.NewInspector(redisOpt)
	t.Cleanup(func() { insp.Close() })

	_, hash := store.NewAPIKey()
	acc, err := store.CreateAccount(ctx, db, "resume-test", "huber", store.RoleAdmin, false, hash)
	if err != nil {
		t.Fatal(err)
	}
	uploadID := store.NewID()
	if err := store.InTx(ctx, db, func(tx *sqlx.Tx) error {
		_, err := store.SaveUpload(ctx, tx, uploadID, acc.TenantID, "a.csv", strings.NewReader("Nutzerfremdnummer;E-Mail\n"), 1<<20)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ids := map[store.ImportStatus]string{}
	for _, status := range []store.ImportStatus{store.ImportQueued, store.ImportPreviewing, store.ImportPreviewed, store.ImportApplying, store.ImportDone, store.ImportFailed} {
		id := store.NewID()
		if err := store.CreateImport(ctx, db, store.NewImport{ID: id, TenantID: acc.TenantID, AccountID: acc.ID, CreatedBy: acc.ID,
			UploadID: uploadID, Profile: "emails", Filename: "a.csv", Options: store.Options{}}); err != nil {
			t.Fatal(err)
		}
		db.MustExec(`UPDATE imports SET status = $2 WHERE id = $1`, id, status)
		ids[status] = id
	}
	want := []string{"import-apply:" + ids[store.ImportApplying], "import-preview:" + ids[store.ImportPreviewing], "import-preview:" + ids[store.ImportQueued]}
	slices.Sort(want)

	h := NewHandlers(Deps{DB: db, Queue: client, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	pending := func() []string {
		t.Helper()
		tasks, err := insp.ListPendingTasks(QueueImports, asynq.PageSize(100))
		if errors.Is(err, asynq.ErrQueueNotFound) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, task := range tasks {
			got = append(got, task.ID)
		}
		slices.Sort(got)
		return got
	}
	for run := range 2 {
		if err := h.resumeImports(ctx, ResumeImports{Slot: time.Now().Format(time.RFC3339Nano)}); err != nil {
			t.Fatal(err)
		}
		if got := pending(); !slices.Equal(got, want) {
			t.Fatalf("sweep %d: pending tasks %v, want %v", run+1, got, want)
		}
	}

	// Redis loses everything: the next sweep puts the tasks back.
	rdb := redis.NewClient(&redis.Options{Addr: addr, DB: index})
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := h.resumeImports(ctx, ResumeImports{Slot: "after-flush"}); err != nil {
		t.Fatal(err)
	}
	// Read the list the worker takes tasks from: the inspector would call the queue
	// unknown, as this client registered it in asynq:queues before the flush and asynq
	// clients register a queue once per process.
	got, err := rdb.LRange(ctx, "asynq:{"+QueueImports+"}:pending", 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("after the flush: pending tasks %v, want %v", got, want)
	}
}
