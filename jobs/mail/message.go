package mail

import (
	"crypto/rand"
	"fmt"
	netmail "net/mail"
	"strings"

	gomail "github.com/wneessen/go-mail"
)

// headerMessageID carries Message.ID so duplicates can be traced in
// mailboxes and outbox files.
const headerMessageID gomail.Header = "X-Portalwerk-Message-ID"

// buildMsg turns m into a go-mail message from the given sender. An error
// concerns this message only (e.g. an invalid recipient address).
func buildMsg(from *netmail.Address, m Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	msg.FromMailAddress(from)
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("mail: invalid recipient: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	// go-mail would use the container's hostname; the sender's domain is
	// what spam filters expect on the right of a Message-ID.
	msg.SetMessageIDWithValue(rand.Text() + "@" + domain(from.Address))
	if m.ID != "" {
		msg.SetGenHeader(headerMessageID, m.ID)
	}
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// domain returns the part of addr after the last "@".
func domain(addr string) string {
	return addr[strings.LastIndexByte(addr, '@')+1:]
}
