package jobs

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"portalwerk/jobs/config"
	"portalwerk/store"
	"portalwerk/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

func TestPurgeUploadsRemovesOnlyOldFiles(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t)
	_, hash := store.NewAPIKey()
	acc, err := store.CreateAccount(ctx, db, "purge-test", "huber", store.RoleAdmin, false, hash)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{"old": "00000000-0000-4000-8000-000000000001", "new": "00000000-0000-4000-8000-000000000002"}
	for _, id := range ids {
		err := store.InTx(ctx, db, func(tx *sqlx.Tx) error {
			_, err := store.SaveUpload(ctx, tx, id, acc.TenantID, "a.csv", strings.NewReader(strings.Repeat("x", store.ChunkSize+10)), 1<<30)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	db.MustExec(`UPDATE uploads SET created_at = now() - interval '31 days' WHERE id = $1`, ids["old"])
	// A cancelled import's staging table is dropped too.
	importID := "00000000-0000-4000-8000-0000000000aa"
	if err := store.CreateImport(ctx, db, store.NewImport{ID: importID, TenantID: acc.TenantID, AccountID: acc.ID, CreatedBy: acc.ID,
		UploadID: ids["new"], Profile: "emails", Filename: "a.csv", Options: store.Options{}}); err != nil {
		t.Fatal(err)
	}
	db.MustExec(`CREATE TABLE staging."import_000000000000400080000000000000aa" (row_num int)`)
	db.MustExec(`UPDATE imports SET status = 'cancelled' WHERE id = $1`, importID)

	h := NewHandlers(Deps{DB: db, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Config: config.Config{UploadRetention: 720 * time.Hour}})
	if err := h.purgeUploads(ctx, PurgeUploads{Slot: "test", TenantID: acc.TenantID}); err != nil {
		t.Fatal(err)
	}
	var left []string
	db.Select(&left, `SELECT id::text FROM uploads ORDER BY id`)
	if len(left) != 1 || left[0] != ids["new"] {
		t.Errorf("uploads left %v, want only %s", left, ids["new"])
	}
	var chunks int
	db.Get(&chunks, `SELECT count(*) FROM upload_chunks WHERE upload_id = $1`, ids["old"])
	if chunks != 0 {
		t.Errorf("%d chunks of the purged upload left", chunks)
	}
	var staging *string
	db.Get(&staging, `SELECT to_regclass('staging."import_000000000000400080000000000000aa"')::text`)
	if staging != nil {
		t.Errorf("staging table of the cancelled import still exists")
	}
}
