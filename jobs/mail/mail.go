// Package mail delivers batches of e-mails (invitations, meter-reading
// requests) either over SMTP or into a local outbox directory, depending on
// MAIL_URL.
package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"net/url"
	"path/filepath"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// DefaultURL is used when MAIL_URL is empty: mails land in ./var/outbox.
const DefaultURL = "file://./var/outbox"

// smtpTimeout bounds the dial and every single SMTP command; go-mail extends
// the deadline per message, so it does not limit the length of a batch.
const smtpTimeout = 30 * time.Second

// Message is one mail to one recipient.
type Message struct {
	To      string // one recipient address
	Subject string
	Text    string // plain-text body
	HTML    string // optional HTML alternative
	// ID is an optional stable id (e.g. job id + recipient), used for the
	// outbox file name and as header X-Portalwerk-Message-ID so duplicates
	// are traceable.
	ID string
}

// Sender delivers a batch over one connection. The returned slice has one
// entry per message (nil = sent), so the caller can record per-recipient
// results; the error is for a failure of the batch as a whole (e.g. cannot
// connect), in which case nothing was sent and the slice is nil.
//
// Open gives a connection of its own that Conn.Send reuses for batch after
// batch: senders that mail many batches in parallel open one Conn each.
type Sender interface {
	Send(ctx context.Context, msgs []Message) ([]error, error)
	Open(ctx context.Context) (Conn, error)
}

// Conn is one connection kept open for many batches; Send has Sender.Send's
// results. A Conn is used by one goroutine at a time.
type Conn interface {
	Send(ctx context.Context, msgs []Message) ([]error, error)
	Close() error
}

// ErrNotSent marks a message that never reached the server (the connection
// was lost before it, or ctx ended): trying it again cannot send it twice.
var ErrNotSent = errors.New("mail: not sent")

// Temporary says whether a message's error is worth another try later: the
// server answered 4xx, or the message never reached it. A 5xx answer, or a
// message that cannot be built, is permanent.
func Temporary(err error) bool {
	if errors.Is(err, ErrNotSent) {
		return true
	}
	if se, ok := errors.AsType[*gomail.SendError](err); ok {
		return se.IsTemp() || se.ErrorCode() >= 400 && se.ErrorCode() < 500
	}
	return false
}

// New parses mailURL (MAIL_URL; empty means DefaultURL) and from (MAIL_FROM)
// and returns the matching Sender:
//
//	smtp://user:pass@host:port   STARTTLS if offered (default port 25)
//	smtps://user:pass@host:port  implicit TLS (default port 465)
//	file:///abs/dir, file://./rel/dir  one .eml file per message
//
// User and password are optional and URL-escaped; with a user, AUTH PLAIN is
// used, which go-mail refuses over an unencrypted connection to anything but
// localhost. The SMTP transport logs through log.
func New(mailURL, from string, log *slog.Logger) (Sender, error) {
	sender, err := netmail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("mail: invalid MAIL_FROM %q: %w", from, err)
	}
	if mailURL == "" {
		mailURL = DefaultURL
	}
	u, err := url.Parse(mailURL)
	if err != nil {
		// url.Error repeats the whole URL, password included; keep only the cause.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return nil, fmt.Errorf("mail: invalid MAIL_URL: %w", err)
	}
	switch u.Scheme {
	case "file":
		dir, err := outboxDir(u)
		if err != nil {
			return nil, err
		}
		return &fileSender{dir: dir, from: sender}, nil
	case "smtp", "smtps":
		host, opts, err := smtpOptions(u)
		if err != nil {
			return nil, err
		}
		return &smtpSender{host: host, opts: opts, from: sender, log: log}, nil
	default:
		return nil, fmt.Errorf("mail: unsupported MAIL_URL scheme %q (want smtp, smtps or file)", u.Scheme)
	}
}

// outboxDir returns the absolute directory named by a file:// URL. The
// documented default file://./var/outbox parses as host "." and path
// "/var/outbox", so a host of "." or ".." starts a path relative to the
// working directory.
func outboxDir(u *url.URL) (string, error) {
	p := u.Path
	switch u.Host {
	case "", "localhost":
	case ".", "..":
		p = u.Host + p
	default:
		return "", fmt.Errorf("mail: file MAIL_URL names host %q; use file:///abs/dir or file://./rel/dir", u.Host)
	}
	if p == "" {
		return "", errors.New("mail: file MAIL_URL has no directory")
	}
	dir, err := filepath.Abs(filepath.FromSlash(p))
	if err != nil {
		return "", fmt.Errorf("mail: resolve outbox directory: %w", err)
	}
	return dir, nil
}

// smtpOptions turns an smtp:// or smtps:// URL into go-mail client options.
func smtpOptions(u *url.URL) (string, []gomail.Option, error) {
	host := u.Hostname()
	if host == "" {
		return "", nil, errors.New("mail: MAIL_URL has no SMTP host")
	}
	port := gomail.DefaultPort
	if u.Scheme == "smtps" {
		port = gomail.DefaultPortSSL
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", nil, fmt.Errorf("mail: MAIL_URL %s has invalid port %q", u.Redacted(), p)
		}
		port = n
	}
	// Per mail only MAIL, RCPT, DATA and the data: the server ends the mail transaction
	// with its answer to the data (RFC 5321 4.1.1.4), so go-mail's RSET after it and the
	// NOOPs it checks the connection with before each message and each RSET were three
	// round trips per mail that changed nothing. A connection found dead at MAIL FROM
	// instead of at the NOOP is a message not sent all the same (smtpConn.Send).
	opts := []gomail.Option{gomail.WithPort(port), gomail.WithTimeout(smtpTimeout), gomail.WithoutRset(), gomail.WithoutNoop()}
	if u.Scheme == "smtps" {
		opts = append(opts, gomail.WithSSL())
	} else {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if user := u.User.Username(); user != "" {
		pass, _ := u.User.Password()
		// PLAIN explicitly: go-mail's auto-discovery never picks PLAIN before
		// TLS, even for localhost relays.
		opts = append(opts,
			gomail.WithSMTPAuth(gomail.SMTPAuthPlain),
			gomail.WithUsername(user),
			gomail.WithPassword(pass),
		)
	}
	return host, opts, nil
}
