// Package mailtest is a real SMTP server on loopback for the tests of whatever sends
// mail: it keeps every mail it accepts and can answer a recipient with a temporary or a
// permanent error, as mail servers do.
package mailtest

import (
	"bytes"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Sink is the server; Start runs one for a test.
type Sink struct {
	// Addr is the server's host:port.
	Addr string

	mu          sync.Mutex
	deferOnce   map[string]bool // RCPT TO answered 451 the first time
	reject      map[string]bool // RCPT TO answered 550
	deferAlways map[string]bool // RCPT TO always answered 451
	delay       time.Duration   // before each DATA is accepted
	sessions    int
	mails       []Mail
}

// Mail is one accepted mail: its recipient, its X-Portalwerk-Message-ID and the message.
type Mail struct {
	To, ID string
	Raw    []byte
}

// Start runs a sink until the test ends.
func Start(t testing.TB) *Sink {
	t.Helper()
	s := &Sink{deferOnce: map[string]bool{}, reject: map[string]bool{}, deferAlways: map[string]bool{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(s)
	srv.Domain = "localhost"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	s.Addr = l.Addr().String()
	return s
}

// URL is the sink as MAIL_URL names it.
func (s *Sink) URL() string { return "smtp://" + s.Addr }

// DeferOnce answers the first RCPT TO of addr with 451 (greylisting).
func (s *Sink) DeferOnce(addr string) { s.set(s.deferOnce, addr) }

// DeferAlways answers every RCPT TO of addr with 451.
func (s *Sink) DeferAlways(addr string) { s.set(s.deferAlways, addr) }

// Reject answers every RCPT TO of addr with 550.
func (s *Sink) Reject(addr string) { s.set(s.reject, addr) }

func (s *Sink) set(m map[string]bool, addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m[addr] = true
}

// SetDelay makes every DATA take d before it is accepted.
func (s *Sink) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Sessions is how many SMTP sessions clients opened.
func (s *Sink) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// Received returns every mail accepted so far.
func (s *Sink) Received() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// To returns the mails accepted for addr.
func (s *Sink) To(addr string) []Mail {
	var out []Mail
	for _, m := range s.Received() {
		if m.To == addr {
			out = append(out, m)
		}
	}
	return out
}

func (s *Sink) NewSession(*smtp.Conn) (smtp.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions++
	return &session{s: s}, nil
}

type session struct {
	s  *Sink
	to string
}

func (ss *session) Mail(string, *smtp.MailOptions) error { return nil }
func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if ss.s.reject[to] {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
	}
	if ss.s.deferAlways[to] {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	if ss.s.deferOnce[to] {
		delete(ss.s.deferOnce, to)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "greylisted, try again later"}
	}
	ss.to = to
	return nil
}
func (ss *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	delay := ss.s.delay
	ss.s.mu.Unlock()
	time.Sleep(delay)
	m, err := netmail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	ss.s.mails = append(ss.s.mails, Mail{To: ss.to, ID: m.Header.Get("X-Portalwerk-Message-ID"), Raw: b})
	ss.s.mu.Unlock()
	return nil
}
func (ss *session) Reset()        {}
func (ss *session) Logout() error { return nil }

// Parts decodes a mail's subject and its plain-text and HTML parts.
func Parts(t testing.TB, raw []byte) (subject, text, html string) {
	t.Helper()
	m, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		var r io.Reader = p
		if p.Header.Get("Content-Transfer-Encoding") == "quoted-printable" {
			r = quotedprintable.NewReader(p)
		}
		b, _ := io.ReadAll(r)
		if ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct == "text/html" {
			html = string(b)
		} else {
			text = string(b)
		}
	}
	return subject, text, html
}
