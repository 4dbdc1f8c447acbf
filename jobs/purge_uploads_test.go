package jobs

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"portalwerk/store"
	"portalwerk/store/storetest"
)

func TestPurgeUploadsRemovesOnlyTheTenantsOldFiles(t *testing.T) {
	ctx := context.Background()
	b := setup(t)
	acc, other := storetest.Account(t, b.db, "", "huber", ""), storetest.Account(t, b.db, "", "huber", "")
	old, fresh := storetest.Upload(t, b.db, acc.TenantID, "a.csv", make([]byte, store.ChunkSize+10)), storetest.Upload(t, b.db, acc.TenantID, "a.csv", make([]byte, 10))
	othersOld := storetest.Upload(t, b.db, other.TenantID, "a.csv", make([]byte, 10))
	b.db.MustExec(`UPDATE uploads SET created_at = now() - interval '31 days' WHERE id = ANY($1)`, "{"+old+","+othersOld+"}")
	// A cancelled import's staging table is dropped too.
	importID := store.NewID()
	if err := store.CreateImport(ctx, b.db, store.NewImport{ID: importID, TenantID: acc.TenantID, AccountID: acc.ID, CreatedBy: acc.ID,
		UploadID: fresh, Profile: "emails", Filename: "a.csv", Options: store.Options{}}); err != nil {
		t.Fatal(err)
	}
	staging := `staging."import_` + strings.ReplaceAll(importID, "-", "") + `"`
	b.db.MustExec(`CREATE TABLE ` + staging + ` (row_num int)`)
	b.db.MustExec(`UPDATE imports SET status = 'cancelled' WHERE id = $1`, importID)

	w := &PurgeUploadsWorker{DB: b.db, Retention: 720 * time.Hour, Now: time.Now}
	res, err := w.Work(ctx, task(t, PurgeUploads{TenantID: acc.TenantID, Slot: "test"}))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.(map[string]any)["files"], res.(map[string]any)["staging_tables"]) != "1 1" {
		t.Errorf("summary %v, want one file and one staging table", res)
	}
	var left []string
	b.db.Select(&left, `SELECT id::text FROM uploads WHERE tenant_id = ANY($1)`, fmt.Sprintf("{%d,%d}", acc.TenantID, other.TenantID))
	slices.Sort(left)
	want := []string{fresh, othersOld}
	slices.Sort(want)
	if !slices.Equal(left, want) {
		t.Errorf("uploads left %v, want %v (the other tenant's old file stays for its own purge)", left, want)
	}
	var chunks int
	b.db.Get(&chunks, `SELECT count(*) FROM upload_chunks WHERE upload_id = $1`, old)
	if chunks != 0 {
		t.Errorf("%d chunks of the purged upload left", chunks)
	}
	var table *string
	b.db.Get(&table, `SELECT to_regclass($1)::text`, staging)
	if table != nil {
		t.Errorf("staging table of the cancelled import still exists")
	}
}

// The purge's slot task fans out to one task per tenant; running the fan-out again, or
// from a second scheduler replica, adds none.
func TestFanOutEnqueuesOneTaskPerTenantAndSlot(t *testing.T) {
	ctx := context.Background()
	b := setup(t)
	tenants := []int64{storetest.Account(t, b.db, "", "huber", "").TenantID, storetest.Account(t, b.db, "", "huber", "").TenantID, storetest.Account(t, b.db, "", "huber", "").TenantID}
	job := purgeUploadsJob(nil)
	slot := time.Date(2026, 12, 1, 5, 17, 0, 0, time.UTC)
	fan, ok := job.Args(slot).(FanOut)
	if !ok || fan.TaskID() != "tenants:fan-out:uploads:purge@2026-12-01T05:17:00Z" {
		t.Fatalf("slot task %#v", job.Args(slot))
	}
	w := &FanOutWorker{DB: b.db, Client: b.client, Jobs: []Periodic{job}}
	for run := range 2 {
		res, err := w.Work(ctx, task(t, fan))
		if err != nil {
			t.Fatal(err)
		}
		all, _ := store.TenantIDs(ctx, b.db)
		if got := res.(map[string]any); got["tenants"] != len(all) || (run == 1 && got["enqueued"] != 0) {
			t.Errorf("run %d: summary %v", run+1, got)
		}
	}
	got := b.pending(t, QueuePeriodic)
	for _, id := range tenants {
		want := fmt.Sprintf("uploads:purge:%d@2026-12-01T05:17:00Z", id)
		if !slices.Contains(got, want) {
			t.Errorf("no task %s among %v", want, got)
		}
	}
	all, _ := store.TenantIDs(ctx, b.db)
	if len(got) != len(all) {
		t.Errorf("%d pending tasks for %d tenants", len(got), len(all))
	}
	// The next slot is a new task per tenant.
	if _, err := w.Work(ctx, task(t, FanOut{Job: job.Name, Slot: SlotKey(slot.Add(time.Hour))})); err != nil {
		t.Fatal(err)
	}
	if n := len(b.pending(t, QueuePeriodic)); n != 2*len(all) {
		t.Errorf("after the next slot: %d pending tasks, want %d", n, 2*len(all))
	}
	// A fan-out of a job nobody declared can never succeed.
	if _, err := w.Work(ctx, task(t, FanOut{Job: "nothing:here", Slot: SlotKey(slot)})); err == nil {
		t.Errorf("fan-out of an unknown job succeeded")
	}
}

func TestPurgeTrashAfterFourteenDays(t *testing.T) {
	ctx := context.Background()
	b := setup(t)
	acc := storetest.Account(t, b.db, "", "huber", "")
	var old, recent int64
	b.db.Get(&old, `INSERT INTO customers (tenant_id, account_id, external_id, deleted_at)
		VALUES ($1, $2, 'K-1', now() - interval '15 days') RETURNING id`, acc.TenantID, acc.ID)
	b.db.Get(&recent, `INSERT INTO customers (tenant_id, account_id, external_id, deleted_at)
		VALUES ($1, $2, 'K-2', now() - interval '13 days') RETURNING id`, acc.TenantID, acc.ID)
	b.db.MustExec(`INSERT INTO appointments (customer_id, account_id, starts_at) VALUES ($1, $2, now())`, old, acc.ID)

	w := &PurgeTrashWorker{DB: b.db, Now: time.Now}
	res, err := w.Work(ctx, task(t, PurgeTrash{TenantID: acc.TenantID, Slot: "test"}))
	if err != nil {
		t.Fatal(err)
	}
	if res.(map[string]any)["customers"] != int64(1) {
		t.Errorf("summary %v, want one customer purged", res)
	}
	var left []int64
	b.db.Select(&left, `SELECT id FROM customers WHERE tenant_id = $1`, acc.TenantID)
	if len(left) != 1 || left[0] != recent {
		t.Errorf("customers left %v, want only %d", left, recent)
	}
	var appts int
	b.db.Get(&appts, `SELECT count(*) FROM appointments WHERE account_id = $1`, acc.ID)
	if appts != 1 {
		t.Errorf("%d appointments after the purge, want the booked one kept", appts)
	}
	if job := purgeTrashJob(nil); job.PerTenant == nil || job.PerTenant(7, time.Date(2026, 12, 2, 2, 30, 0, 0, time.UTC)).TaskID() != "customers:purge-trash:7@2026-12-02T02:30:00Z" {
		t.Errorf("the trash purge must run per tenant with the tenant and slot in its task id")
	}
}
