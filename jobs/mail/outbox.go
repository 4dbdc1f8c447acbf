package mail

import (
	"context"
	"crypto/rand"
	"fmt"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// maxIDLen keeps outbox file names well below common 255-byte limits.
const maxIDLen = 100

// fileSender writes each message as an .eml file into dir, for development
// and for environments without a mail relay.
type fileSender struct {
	dir  string
	from *netmail.Address
}

// Open returns the outbox itself: files need no connection.
func (s *fileSender) Open(context.Context) (Conn, error) { return fileConn{s}, nil }

type fileConn struct{ *fileSender }

func (fileConn) Close() error { return nil }

func (s *fileSender) Send(ctx context.Context, msgs []Message) ([]error, error) {
	if err := os.MkdirAll(s.dir, 0o750); err != nil {
		return nil, fmt.Errorf("mail: create outbox: %w", err)
	}
	results := make([]error, len(msgs))
	var last int64
	for i, m := range msgs {
		if ctx.Err() != nil {
			results[i] = fmt.Errorf("%w: %w", ErrNotSent, context.Cause(ctx))
			continue
		}
		msg, err := buildMsg(s.from, m)
		if err != nil {
			results[i] = err
			continue
		}
		// Strictly increasing stamps keep names unique within a batch even
		// with a coarse clock and repeated IDs.
		stamp := max(time.Now().UnixNano(), last+1)
		last = stamp
		results[i] = writeAtomic(s.dir, fmt.Sprintf("%d-%s.eml", stamp, fileTag(m.ID)), msg)
	}
	return results, nil
}

// writeAtomic writes msg under a temporary name and renames it, so readers
// of the outbox never see a half-written .eml file.
func writeAtomic(dir, name string, msg *gomail.Msg) error {
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("mail: create outbox file: %w", err)
	}
	_, err = msg.WriteTo(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("mail: write outbox file: %w", err)
	}
	return nil
}

// fileTag makes id safe for a file name, or returns a random tag if id is
// empty.
func fileTag(id string) string {
	if id == "" {
		return strings.ToLower(rand.Text())
	}
	tag := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			r == '-', r == '_', r == '.', r == '@', r == '+':
			return r
		default:
			return '_'
		}
	}, id)
	if len(tag) > maxIDLen {
		tag = tag[:maxIDLen]
	}
	return tag
}
