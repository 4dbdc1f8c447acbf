package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jmoiron/sqlx"
)

// ChunkSize is the size of one stored piece of an uploaded file.
const ChunkSize = 1 << 20

// ErrTooLarge is returned when an upload exceeds its limit; nothing of it is kept.
var ErrTooLarge = errors.New("upload too large")

// SaveUpload streams r into the upload's chunks, one chunk in memory at a time. Run it
// inside a transaction: a failure or ErrTooLarge must leave nothing behind.
func SaveUpload(ctx context.Context, tx sqlx.ExtContext, id string, tenantID int64, filename string, r io.Reader, maxBytes int64) (int64, error) {
	if _, err := tx.ExecContext(ctx, `INSERT INTO uploads (id, tenant_id, filename, size) VALUES ($1, $2, $3, 0)`, id, tenantID, filename); err != nil {
		return 0, fmt.Errorf("save upload: %w", err)
	}
	buf := make([]byte, ChunkSize)
	var size int64
	for seq := 0; ; seq++ {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			size += int64(n)
			if size > maxBytes {
				return size, ErrTooLarge
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO upload_chunks (upload_id, seq, data) VALUES ($1, $2, $3)`, id, seq, buf[:n]); err != nil {
				return size, fmt.Errorf("save upload chunk %d: %w", seq, err)
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return size, fmt.Errorf("read upload: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE uploads SET size = $2 WHERE id = $1`, id, size); err != nil {
		return size, fmt.Errorf("save upload size: %w", err)
	}
	return size, nil
}

// OpenUpload streams a stored upload back, fetching one chunk at a time.
func OpenUpload(ctx context.Context, db sqlx.QueryerContext, id string) io.Reader {
	return &uploadReader{ctx: ctx, db: db, id: id}
}

type uploadReader struct {
	ctx  context.Context
	db   sqlx.QueryerContext
	id   string
	seq  int
	buf  []byte
	done bool
}

func (u *uploadReader) Read(p []byte) (int, error) {
	for len(u.buf) == 0 {
		if u.done {
			return 0, io.EOF
		}
		err := sqlx.GetContext(u.ctx, u.db, &u.buf, `SELECT data FROM upload_chunks WHERE upload_id = $1 AND seq = $2`, u.id, u.seq)
		if errors.Is(err, sql.ErrNoRows) {
			u.done = true
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("read upload %s chunk %d: %w", u.id, u.seq, err)
		}
		u.seq++
	}
	n := copy(p, u.buf)
	u.buf = u.buf[n:]
	return n, nil
}

// PurgeUploads deletes the tenant's stored files uploaded before the cutoff and returns
// how many; other tenants' files stay.
func PurgeUploads(ctx context.Context, db sqlx.ExecerContext, tenantID int64, before time.Time) (int64, error) {
	res, err := db.ExecContext(ctx, `DELETE FROM uploads WHERE tenant_id = $1 AND created_at < $2`, tenantID, before)
	if err != nil {
		return 0, fmt.Errorf("purge uploads of tenant %d: %w", tenantID, err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
