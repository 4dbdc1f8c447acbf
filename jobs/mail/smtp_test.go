package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"net"
	netmail "net/mail"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// received is one message as the test server saw it.
type received struct {
	from string
	to   []string
	data []byte
}

// recorder is a go-smtp backend that records everything clients do.
type recorder struct {
	rejectRcpt string // RCPT TO this address is refused with 550
	deferRcpt  string // RCPT TO this address is refused with 451 (try again later)
	dropAfter  int    // if > 0, the connection is cut after this many DATA commands

	mu       sync.Mutex
	sessions int
	auths    []string // "user:pass" per AUTH PLAIN
	mails    []received
}

func (r *recorder) NewSession(c *smtp.Conn) (smtp.Session, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sessions++
	return &session{rec: r, conn: c}, nil
}

func (r *recorder) snapshot() (sessions int, auths []string, mails []received) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sessions, append([]string(nil), r.auths...), append([]received(nil), r.mails...)
}

type session struct {
	rec  *recorder
	conn *smtp.Conn
	cur  received
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		s.rec.mu.Lock()
		defer s.rec.mu.Unlock()
		s.rec.auths = append(s.rec.auths, user+":"+pass)
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.cur = received{from: from}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if to == s.rec.rejectRcpt {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
	}
	if to == s.rec.deferRcpt {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = b
	s.rec.mu.Lock()
	s.rec.mails = append(s.rec.mails, s.cur)
	drop := s.rec.dropAfter > 0 && len(s.rec.mails) == s.rec.dropAfter
	s.rec.mu.Unlock()
	if drop {
		// Cut the TCP connection before the 250 reply, like a crashing relay.
		return s.conn.Conn().Close()
	}
	return nil
}

func (s *session) Reset()        { s.cur = received{} }
func (s *session) Logout() error { return nil }

// startServer runs a plain-text SMTP server on 127.0.0.1 until the test ends
// and returns its address.
func startServer(t *testing.T, rec *recorder) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(rec)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ErrorLog = log.New(io.Discard, "", 0)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String()
}

func smtpURL(addr string, user *url.Userinfo) string {
	return (&url.URL{Scheme: "smtp", User: user, Host: addr}).String()
}

// decodedHeaders parses a raw message and returns its To and decoded Subject.
func decodedHeaders(t *testing.T, raw []byte) (to, subject string) {
	t.Helper()
	m, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse message: %v", err)
	}
	subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("decode subject: %v", err)
	}
	addr, err := netmail.ParseAddress(m.Header.Get("To"))
	if err != nil {
		t.Fatalf("parse To: %v", err)
	}
	return addr.Address, subject
}

func batch(n int) []Message {
	msgs := make([]Message, n)
	for i := range msgs {
		msgs[i] = Message{
			To:      fmt.Sprintf("bewohner%d@example.org", i),
			Subject: fmt.Sprintf("Zählerstände für Wohnung %d – bitte bis Montag ablesen", i),
			Text:    "Grüße aus der Hausverwaltung",
			HTML:    "<p>Grüße aus der Hausverwaltung</p>",
			ID:      fmt.Sprintf("job-1/%d", i),
		}
	}
	return msgs
}

func TestSMTPBatchOverOneConnection(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	addr := startServer(t, rec)
	const pass = "s3cr:t/ä@%"
	s, err := New(smtpURL(addr, url.UserPassword("mailer", pass)), "Portalwerk <noreply@portalwerk.local>", discard)
	if err != nil {
		t.Fatal(err)
	}

	msgs := batch(50)
	errs, err := s.Send(t.Context(), msgs)
	if err != nil {
		t.Fatalf("batch error: %v", err)
	}
	if len(errs) != len(msgs) {
		t.Fatalf("got %d results, want %d", len(errs), len(msgs))
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("message %d: %v", i, err)
		}
	}

	sessions, auths, mails := rec.snapshot()
	if sessions != 1 {
		t.Errorf("got %d SMTP sessions, want 1", sessions)
	}
	if want := []string{"mailer:" + pass}; fmt.Sprint(auths) != fmt.Sprint(want) {
		t.Errorf("auths = %q, want %q", auths, want)
	}
	if len(mails) != len(msgs) {
		t.Fatalf("server got %d mails, want %d", len(mails), len(msgs))
	}
	for i, got := range mails {
		want := msgs[i]
		if got.from != "noreply@portalwerk.local" {
			t.Errorf("mail %d: MAIL FROM %q", i, got.from)
		}
		if len(got.to) != 1 || got.to[0] != want.To {
			t.Errorf("mail %d: RCPT TO %q, want %q", i, got.to, want.To)
		}
		to, subject := decodedHeaders(t, got.data)
		if to != want.To || subject != want.Subject {
			t.Errorf("mail %d: To %q Subject %q, want %q %q", i, to, subject, want.To, want.Subject)
		}
		if !bytes.Contains(got.data, []byte("X-Portalwerk-Message-ID: "+want.ID+"\r\n")) {
			t.Errorf("mail %d: no X-Portalwerk-Message-ID %q", i, want.ID)
		}
	}
}

func TestSMTPWithoutCredentialsSkipsAuth(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	s, err := New(smtpURL(startServer(t, rec), nil), "noreply@portalwerk.local", discard)
	if err != nil {
		t.Fatal(err)
	}
	errs, err := s.Send(t.Context(), batch(2))
	if err != nil || errs[0] != nil || errs[1] != nil {
		t.Fatalf("Send: %v %v", errs, err)
	}
	if _, auths, mails := rec.snapshot(); len(auths) != 0 || len(mails) != 2 {
		t.Errorf("got %d auths and %d mails, want 0 and 2", len(auths), len(mails))
	}
}

func TestSMTPPerMessageErrors(t *testing.T) {
	t.Parallel()
	rec := &recorder{rejectRcpt: "bewohner3@example.org"}
	s, err := New(smtpURL(startServer(t, rec), nil), "noreply@portalwerk.local", discard)
	if err != nil {
		t.Fatal(err)
	}
	msgs := batch(10)
	msgs[6].To = "kein gültiger Empfänger"

	errs, err := s.Send(t.Context(), msgs)
	if err != nil {
		t.Fatalf("batch error: %v", err)
	}
	var want []string
	for i, err := range errs {
		switch i {
		case 3, 6:
			if err == nil {
				t.Errorf("message %d: no error", i)
			}
		default:
			if err != nil {
				t.Errorf("message %d: %v", i, err)
			}
			want = append(want, msgs[i].To)
		}
	}
	if !strings.Contains(fmt.Sprint(errs[3]), "550") {
		t.Errorf("rejected recipient error lacks server reply: %v", errs[3])
	}

	sessions, _, mails := rec.snapshot()
	var got []string
	for _, m := range mails {
		got = append(got, m.to...)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || sessions != 1 {
		t.Errorf("server got %q over %d sessions, want %q over 1", got, sessions, want)
	}
}

func TestSMTPConnectionLostMidBatch(t *testing.T) {
	t.Parallel()
	rec := &recorder{dropAfter: 3}
	s, err := New(smtpURL(startServer(t, rec), nil), "noreply@portalwerk.local", discard)
	if err != nil {
		t.Fatal(err)
	}
	errs, err := s.Send(t.Context(), batch(8))
	if err != nil {
		t.Fatalf("batch error: %v", err)
	}
	// Message 2 reached the server but its reply was lost, so it must not
	// count as sent; everything after the drop fails too.
	for i, err := range errs {
		if (i < 2) != (err == nil) {
			t.Errorf("message %d: err = %v", i, err)
		}
	}
	if _, _, mails := rec.snapshot(); len(mails) != 3 {
		t.Errorf("server got %d mails, want 3", len(mails))
	}
}

func TestSMTPConnectionRefusedIsBatchError(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := New(smtpURL(addr, nil), "noreply@portalwerk.local", discard)
	if err != nil {
		t.Fatal(err)
	}
	errs, err := s.Send(t.Context(), batch(3))
	if err == nil || errs != nil {
		t.Fatalf("Send = %v, %v; want nil results and a batch error", errs, err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("batch error %v does not wrap ECONNREFUSED", err)
	}
}

func TestSMTPCancelledContextIsBatchError(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	s, err := New(smtpURL(startServer(t, rec), nil), "noreply@portalwerk.local", discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if errs, err := s.Send(ctx, batch(2)); err == nil || errs != nil {
		t.Fatalf("Send = %v, %v; want a batch error", errs, err)
	}
}

// A Conn keeps its connection for batch after batch; a 4xx answer is temporary, a 5xx
// permanent; after the server cut the connection the next batch dials again.
func TestSMTPConnReusedAcrossBatches(t *testing.T) {
	t.Parallel()
	rec := &recorder{rejectRcpt: "bewohner1@example.org", deferRcpt: "bewohner2@example.org", dropAfter: 7}
	s, err := New(smtpURL(startServer(t, rec), nil), "noreply@portalwerk.local", discard)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := s.Open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for round := range 2 {
		errs, err := conn.Send(t.Context(), batch(4))
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if errs[0] != nil || errs[3] != nil || errs[1] == nil || errs[2] == nil {
			t.Fatalf("round %d: results %v", round, errs)
		}
		if Temporary(errs[1]) || !Temporary(errs[2]) {
			t.Errorf("round %d: 550 temporary=%v, 451 temporary=%v", round, Temporary(errs[1]), Temporary(errs[2]))
		}
	}
	if sessions, _, mails := rec.snapshot(); sessions != 1 || len(mails) != 4 {
		t.Fatalf("%d sessions and %d mails after two batches, want 1 and 4", sessions, len(mails))
	}
	// The 7th DATA is cut off: messages after it did not reach the server.
	errs, err := conn.Send(t.Context(), batch(6))
	if err != nil {
		t.Fatal(err)
	}
	if !Temporary(errs[5]) || !errors.Is(errs[5], ErrNotSent) {
		t.Errorf("after the cut: %v", errs[5])
	}
	errs, err = conn.Send(t.Context(), batch(1))
	if err != nil || errs[0] != nil {
		t.Fatalf("after reconnecting: %v %v", errs, err)
	}
	if sessions, _, _ := rec.snapshot(); sessions != 2 {
		t.Errorf("%d sessions, want 2 (one redial after the cut)", sessions)
	}
}
