package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	netmail "net/mail"

	gomail "github.com/wneessen/go-mail"
)

// smtpSender dials SMTP connections. Send uses one fresh connection per batch; Open
// gives a connection that is kept for many batches. It holds no connection itself, so
// it is safe for concurrent use.
type smtpSender struct {
	host string
	opts []gomail.Option
	from *netmail.Address
	log  *slog.Logger
}

func (s *smtpSender) Send(ctx context.Context, msgs []Message) ([]error, error) {
	c := &smtpConn{s: s}
	defer c.Close()
	return c.Send(ctx, msgs)
}

func (s *smtpSender) Open(ctx context.Context) (Conn, error) {
	c := &smtpConn{s: s}
	if err := c.dial(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// smtpConn is one SMTP connection reused for batch after batch; after the server cut it
// off, the next batch dials again. Not for concurrent use.
type smtpConn struct {
	s      *smtpSender
	client *gomail.Client // nil until dialled and after the connection broke
}

func (c *smtpConn) dial(ctx context.Context) error {
	client, err := gomail.NewClient(c.s.host, c.s.opts...)
	if err != nil {
		return fmt.Errorf("mail: configure SMTP client: %w", err)
	}
	if err := client.DialWithContext(ctx); err != nil {
		return fmt.Errorf("mail: connect to SMTP server %s: %w", client.ServerAddr(), err)
	}
	c.client = client
	return nil
}

// Close ends the connection (QUIT). Every message already has its result; a failing
// QUIT changes none, so it is only logged.
func (c *smtpConn) Close() error {
	if c.client == nil {
		return nil
	}
	if err := c.client.Close(); err != nil {
		c.s.log.Warn("mail: closing SMTP connection", slog.String("server", c.client.ServerAddr()), slog.Any("err", err))
	}
	c.client = nil
	return nil
}

func (c *smtpConn) Send(ctx context.Context, msgs []Message) ([]error, error) {
	results := make([]error, len(msgs))
	built := make([]*gomail.Msg, len(msgs))
	pending := 0
	for i, m := range msgs {
		built[i], results[i] = buildMsg(c.s.from, m)
		if results[i] == nil {
			pending++
		}
	}
	if pending == 0 {
		return results, nil
	}
	if c.client == nil {
		if err := c.dial(ctx); err != nil {
			return nil, err
		}
	}

	// Once the connection is gone (or ctx is done) every further attempt
	// would fail the same way, possibly only after a timeout each.
	var broken error
	for i, msg := range built {
		if msg == nil {
			continue
		}
		if broken == nil && ctx.Err() != nil {
			broken = fmt.Errorf("%w: %w", ErrNotSent, context.Cause(ctx))
		}
		if broken != nil {
			results[i] = broken
			continue
		}
		if err := c.client.Send(msg); err != nil {
			// An error go-mail reports after the server accepted the data
			// leaves the message taken: count it as sent so a retry does not
			// mail the resident twice.
			if !msg.IsDelivered() {
				results[i] = fmt.Errorf("mail: send: %w", err)
			}
			if se, ok := errors.AsType[*gomail.SendError](err); ok && connLost(se) {
				// No answer before the data went out: this message did not go out either.
				broken = fmt.Errorf("%w, SMTP connection lost: %w", ErrNotSent, err)
				results[i] = broken
			}
		}
	}
	if broken != nil {
		// The next batch dials afresh.
		_ = c.client.Close()
		c.client = nil
	}
	return results, nil
}

// connLost says whether a message failed because the connection was gone before its data
// was sent: the connection check, or MAIL FROM, RCPT TO or DATA without any answer of
// the server (an answer has a reply code).
func connLost(se *gomail.SendError) bool {
	switch se.Reason {
	case gomail.ErrConnCheck:
		return true
	case gomail.ErrSMTPMailFrom, gomail.ErrSMTPRcptTo, gomail.ErrSMTPData:
		return se.ErrorCode() == 0
	}
	return false
}
