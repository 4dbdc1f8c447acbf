package store_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"portalwerk/store"
	"portalwerk/store/storetest"
)

// A file of several chunks comes back byte for byte, read in small pieces.
func TestUploadRoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t)
	content := make([]byte, 2*store.ChunkSize+store.ChunkSize/2)
	rand.Read(content)
	id := store.NewID()
	n, err := store.SaveUpload(b.ctx, b.tx, id, b.acc.TenantID, "gross.xlsx", bytes.NewReader(content), int64(len(content)))
	if err != nil || n != int64(len(content)) {
		t.Fatalf("save: %d, %v", n, err)
	}
	var chunks int
	var size int64
	if err := b.tx.QueryRowxContext(b.ctx, `SELECT (SELECT count(*) FROM upload_chunks WHERE upload_id = $1), size
		FROM uploads WHERE id = $1`, id).Scan(&chunks, &size); err != nil {
		t.Fatal(err)
	}
	if chunks != 3 || size != int64(len(content)) {
		t.Errorf("%d chunks, size %d", chunks, size)
	}
	got, err := io.ReadAll(store.OpenUpload(b.ctx, b.tx, id))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, content) {
		t.Errorf("read back %d bytes, differ from the %d stored", len(got), len(content))
	}
	buf := make([]byte, 1000) // small reads across chunk borders
	var pieced []byte
	r := store.OpenUpload(b.ctx, b.tx, id)
	for {
		k, err := r.Read(buf)
		pieced = append(pieced, buf[:k]...)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(pieced, content) {
		t.Error("small reads differ from the stored file")
	}
	if got, err := io.ReadAll(store.OpenUpload(b.ctx, b.tx, store.NewID())); err != nil || len(got) != 0 {
		t.Errorf("missing upload: %d bytes, %v", len(got), err)
	}
}

// A file over the limit is ErrTooLarge and, in its transaction, leaves nothing behind.
func TestUploadTooLarge(t *testing.T) {
	t.Parallel()
	db := storetest.DB(t)
	acc := storetest.Account(t, db, "", "huber", store.RoleAdmin)
	id := store.NewID()
	ctx := t.Context()
	err := store.InTx(ctx, db, func(tx *sqlx.Tx) error {
		_, err := store.SaveUpload(ctx, tx, id, acc.TenantID, "gross.csv", bytes.NewReader(make([]byte, store.ChunkSize+1)), store.ChunkSize)
		return err
	})
	if !errors.Is(err, store.ErrTooLarge) {
		t.Fatalf("save: %v, want ErrTooLarge", err)
	}
	var left int
	if err := db.GetContext(ctx, &left, `SELECT (SELECT count(*) FROM uploads WHERE id = $1) + (SELECT count(*) FROM upload_chunks WHERE upload_id = $1)`, id); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d rows of the rejected upload left", left)
	}
	// Exactly at the limit is fine.
	tx := storetest.TestTx(t)
	if _, err := store.SaveUpload(ctx, tx, store.NewID(), acc.TenantID, "genau.csv", bytes.NewReader(make([]byte, store.ChunkSize)), store.ChunkSize); err != nil {
		t.Errorf("upload at the limit: %v", err)
	}
}

// A tenant's purge deletes its old uploads (chunks and all) and leaves its new ones and
// every other tenant's, old or new; an import of a purged upload keeps its row.
func TestPurgeUploadsPerTenant(t *testing.T) {
	t.Parallel()
	b := setup(t)
	other := storetest.Account(t, b.tx, "", "huber", store.RoleAdmin)
	content := make([]byte, store.ChunkSize+10)
	oldA, newA := storetest.Upload(t, b.tx, b.acc.TenantID, "a.csv", content), storetest.Upload(t, b.tx, b.acc.TenantID, "b.csv", content)
	oldB, newB := storetest.Upload(t, b.tx, other.TenantID, "a.csv", content), storetest.Upload(t, b.tx, other.TenantID, "b.csv", content)
	im := storetest.Import(t, b.tx, b.acc, oldA, "emails", nil)
	if _, err := b.tx.ExecContext(b.ctx, `UPDATE uploads SET created_at = now() - interval '31 days' WHERE id IN ($1, $2)`, oldA, oldB); err != nil {
		t.Fatal(err)
	}
	n, err := store.PurgeUploads(b.ctx, b.tx, b.acc.TenantID, time.Now().Add(-30*24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("purge: %d, %v; want 1", n, err)
	}
	var left []string
	if err := b.tx.SelectContext(b.ctx, &left, `SELECT id FROM uploads WHERE id IN ($1, $2, $3, $4) ORDER BY id`, oldA, newA, oldB, newB); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{newA: true, oldB: true, newB: true}
	if len(left) != 3 || !want[left[0]] || !want[left[1]] || !want[left[2]] {
		t.Errorf("uploads left %v, want %v", left, want)
	}
	var chunks int
	if err := b.tx.GetContext(b.ctx, &chunks, `SELECT count(*) FROM upload_chunks WHERE upload_id = $1`, oldA); err != nil || chunks != 0 {
		t.Errorf("%d chunks of the purged upload left (%v)", chunks, err)
	}
	if got := b.get(t, im.ID); got.UploadID != nil {
		t.Errorf("import still points at the purged upload %s", *got.UploadID)
	}
}
