package jobs

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"

	"portalwerk/store/storetest"
)

// bundle is what the tests of this package work with: the package's database and
// Redis DB, a client and an inspector on it.
type bundle struct {
	db     *sqlx.DB
	opt    asynq.RedisClientOpt
	client *Client
	insp   *asynq.Inspector
}

func setup(t *testing.T) *bundle {
	t.Helper()
	addr, index := storetest.RedisDB(t)
	opt := asynq.RedisClientOpt{Addr: addr, DB: index}
	q := asynq.NewClient(opt)
	t.Cleanup(func() { q.Close() })
	insp := asynq.NewInspector(opt)
	t.Cleanup(func() { insp.Close() })
	// Each test starts with empty queues: the package's Redis DB is its own.
	rdb := redis.NewClient(&redis.Options{Addr: addr, DB: index})
	defer rdb.Close()
	if err := rdb.FlushDB(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	return &bundle{db: storetest.DB(t), opt: opt, client: NewClient(q), insp: insp}
}

// pending lists the ids of the tasks waiting in queue; with mine, only those containing
// one of mine (the database may hold other tests' unfinished work).
func (b *bundle) pending(t *testing.T, queue string, mine ...string) []string {
	t.Helper()
	tasks, err := b.insp.ListPendingTasks(queue, asynq.PageSize(1000))
	if errors.Is(err, asynq.ErrQueueNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, task := range tasks {
		if len(mine) == 0 || slices.ContainsFunc(mine, func(m string) bool { return strings.Contains(task.ID, m) }) {
			ids = append(ids, task.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// task runs a worker on args as the asynq server would, without one.
func task[A Args](t *testing.T, args A) *Task[A] {
	return &Task[A]{Args: args, ID: args.TaskID(), Log: storetest.Logger(t)}
}
