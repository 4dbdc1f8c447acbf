package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	netmail "net/mail"

	gomail "github.com/wneessen/go-mail"
)

// smtpSender sends each batch over one fresh SMTP connection. It holds no
// connection between batches, so it is safe for concurrent use.
type smtpSender struct {
	host string
	opts []gomail.Option
	from *netmail.Address
	log  *slog.Logger
}

func (s *smtpSender) Send(ctx context.Context, msgs []Message) ([]error, error) {
	results := make([]error, len(msgs))
	built := make([]*gomail.Msg, len(msgs))
	pending := 0
	for i, m := range msgs {
		built[i], results[i] = buildMsg(s.from, m)
		if results[i] == nil {
			pending++
		}
	}
	if pending == 0 {
		return results, nil
	}

	client, err := gomail.NewClient(s.host, s.opts...)
	if err != nil {
		return nil, fmt.Errorf("mail: configure SMTP client: %w", err)
	}
	if err := client.DialWithContext(ctx); err != nil {
		return nil, fmt.Errorf("mail: connect to SMTP server %s: %w", client.ServerAddr(), err)
	}
	defer func() {
		// Every message already has its result; a failing QUIT changes none.
		if err := client.Close(); err != nil {
			s.log.WarnContext(ctx, "mail: closing SMTP connection", slog.String("server", client.ServerAddr()), slog.Any("err", err))
		}
	}()

	// Once the connection is gone (or ctx is done) every further attempt
	// would fail the same way, possibly only after a timeout each.
	var broken error
	for i, msg := range built {
		if msg == nil {
			continue
		}
		if broken == nil && ctx.Err() != nil {
			broken = fmt.Errorf("mail: not sent: %w", context.Cause(ctx))
		}
		if broken != nil {
			results[i] = broken
			continue
		}
		if err := client.Send(msg); err != nil {
			// go-mail sends RSET after an accepted DATA and reports its
			// failure, yet the server has taken the message: count it as sent
			// so a retry does not mail the resident twice.
			if !msg.IsDelivered() {
				results[i] = fmt.Errorf("mail: send: %w", err)
			}
			if se, ok := errors.AsType[*gomail.SendError](err); ok && se.Reason == gomail.ErrConnCheck {
				broken = fmt.Errorf("mail: not sent, SMTP connection lost: %w", err)
			}
		}
	}
	return results, nil
}
