package main

import (
	"context"
	"encoding/json"
	"fmt"
	htmltemplate "html/template"
	"io"
	"log"
	"log/slog"
	"net"
	netmail "net/mail"
	"strings"
	"sync/atomic"
	texttemplate "text/template"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jmoiron/sqlx"
	gomail "github.com/wneessen/go-mail"

	"portalwerk/jobs"
	"portalwerk/jobs/config"
	"portalwerk/jobs/login"
	"portalwerk/jobs/mail"
	"portalwerk/store"
	"portalwerk/templates"
)

// inviteDB is the invitation benchmark's own database.
const inviteDB = "portalwerk_bench_invite"

// Targets: the worker over one connection at least this share of the bare loop; over
// several connections faster than the bare loop.
const minInviteRatioOne = 0.8

const (
	inviteFrom = "Hausverwaltung Müller <noreply@hv-mueller.de>"
	inviteBase = "https://portal.example.de"
)

// discardSink is an SMTP server on loopback that accepts every mail and throws it away.
type discardSink struct {
	addr     string
	accepted atomic.Int64
	bytes    atomic.Int64
}

func startDiscardSink() (*discardSink, func(), error) {
	s := &discardSink{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	srv := smtp.NewServer(s)
	srv.Domain = "localhost"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	go srv.Serve(l)
	s.addr = l.Addr().String()
	return s, func() { srv.Close() }, nil
}

func (s *discardSink) NewSession(*smtp.Conn) (smtp.Session, error) { return discardSession{s}, nil }

type discardSession struct{ s *discardSink }

func (discardSession) Mail(string, *smtp.MailOptions) error { return nil }
func (discardSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (d discardSession) Data(r io.Reader) error {
	n, err := io.Copy(io.Discard, r)
	d.s.bytes.Add(n)
	d.s.accepted.Add(1)
	return err
}
func (discardSession) Reset()        {}
func (discardSession) Logout() error { return nil }

// runInvite measures n invitations through the real InvitationsWorker (one connection,
// then conns connections) against a bare go-mail loop over one reused connection that
// sends the same messages, interleaved, rounds times.
func runInvite(ctx context.Context, adminURL string, n, conns, rounds int, keep bool) error {
	db, _, drop, err := benchDatabase(ctx, adminURL, inviteDB, keep)
	if err != nil {
		return err
	}
	defer drop()
	acc, err := benchAccount(ctx, db)
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `UPDATE tenants SET name = 'Hausverwaltung Müller & Söhne' WHERE id = $1`, acc.TenantID); err != nil {
		return err
	}
	t := time.Now()
	if _, err := db.ExecContext(ctx, `INSERT INTO customers (tenant_id, account_id, external_id, salutation, last_name, email)
		SELECT $1, $2, lpad(i::text, 20, '0'), CASE WHEN i % 2 = 0 THEN 'Frau' ELSE 'Herr' END, 'Muster' || i, 'bewohner' || i || '@example.org'
		FROM generate_series(1, $3) i`, acc.TenantID, acc.ID, n); err != nil {
		return fmt.Errorf("seed customers: %w", err)
	}
	if _, err := db.ExecContext(ctx, `VACUUM (ANALYZE) customers`); err != nil {
		return err
	}
	note("seeded %d customers in %.1fs", n, time.Since(t).Seconds())

	sink, stop, err := startDiscardSink()
	if err != nil {
		return err
	}
	defer stop()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sender, err := mail.New("smtp://"+sink.addr, inviteFrom, log)
	if err != nil {
		return err
	}
	k := config.LoginKey{ID: "bench"}
	copy(k.Secret[:], "portalwerk-invite-bench-key-0001")
	keys, err := login.NewKeys([]config.LoginKey{k})
	if err != nil {
		return err
	}
	// metered runs a phase and returns its rate and CPU time.
	metered := func(phase func() (float64, error)) (float64, cpuCost, error) {
		meter := startCPUMeter(inviteDB)
		rate, err := phase()
		self, pg := meter.Stop()
		return rate, cpuCost{self, pg}, err
	}
	worker := func(c int) (float64, cpuCost, error) {
		if _, err := db.ExecContext(ctx, `UPDATE customers SET invited_at = NULL WHERE account_id = $1`, acc.ID); err != nil {
			return 0, cpuCost{}, err
		}
		if _, err := db.ExecContext(ctx, `VACUUM (ANALYZE) customers`); err != nil {
			return 0, cpuCost{}, err
		}
		return metered(func() (float64, error) {
			return inviteRate(ctx, db, acc, sink, &jobs.InvitationsWorker{DB: db, Mail: sender, Keys: keys, BaseURL: inviteBase, Connections: c}, n)
		})
	}
	fmt.Printf("invite: %d invitations to a go-smtp sink on loopback (accept and discard), %d rounds; MAIL_CONNECTIONS=%d\n", n, rounds, conns)
	var bare, one, many []float64
	for round := 1; round <= rounds; round++ {
		b, bc, err := metered(func() (float64, error) { return bareLoop(ctx, sink, keys, n) })
		if err != nil {
			return fmt.Errorf("bare loop: %w", err)
		}
		o, oc, err := worker(1)
		if err != nil {
			return fmt.Errorf("worker, 1 connection: %w", err)
		}
		m, mc, err := worker(conns)
		if err != nil {
			return fmt.Errorf("worker, %d connections: %w", conns, err)
		}
		bare, one, many = append(bare, b), append(one, o), append(many, m)
		fmt.Printf("  round %d: bare go-mail loop %.0f mails/s; worker 1 connection %.0f mails/s (%.2f ×); worker %d connections %.0f mails/s (%.2f ×)\n",
			round, b, o, o/b, conns, m, m/b)
		fmt.Printf("    cpu: bare %s; worker 1 connection %s; worker %d connections %s\n",
			bc.perThousand(n), oc.perThousand(n), conns, mc.perThousand(n))
	}
	mb, mo, mm := median(bare), median(one), median(many)
	fmt.Printf("invite median: bare %.0f mails/s; worker 1 connection %.0f mails/s = %.2f × bare (target ≥ %.1f: %s); worker %d connections %.0f mails/s = %.2f × bare (target > 1: %s)\n",
		mb, mo, mo/mb, minInviteRatioOne, verdict(mo/mb >= minInviteRatioOne), conns, mm, mm/mb, verdict(mm/mb > 1))
	fmt.Printf("  mean message size %.0f bytes\n", float64(sink.bytes.Load())/float64(sink.accepted.Load()))
	return nil
}

// inviteRate runs an invitation batch of the account's uninvited customers (n of them)
// through w and returns its mails/s, the selection included.
func inviteRate(ctx context.Context, db *sqlx.DB, acc store.Account, sink *discardSink, w *jobs.InvitationsWorker, n int) (float64, error) {
	a := jobs.InvitationsSend{RunID: store.NewID(), TenantID: acc.TenantID}
	return mailRunRate(ctx, db, acc, sink, store.RunInvitations, `{"all_uninvited":true}`, a.RunID, a, n, func() error {
		_, err := w.Work(ctx, &jobs.Task[jobs.InvitationsSend]{Args: a, ID: a.TaskID(), Log: slog.New(slog.DiscardHandler)})
		return err
	})
}

// mailRunRate records job run id (kind, params) for the task a, times work on it, checks
// that the run is done with n mails sent and accepted by the sink, and returns mails/s.
func mailRunRate(ctx context.Context, db *sqlx.DB, acc store.Account, sink *discardSink, kind store.RunKind, params, id string,
	a jobs.Args, n int, work func() error) (float64, error) {
	payload, _ := json.Marshal(a)
	if err := store.CreateRun(ctx, db, store.NewRun{ID: id, TenantID: acc.TenantID, AccountID: acc.ID, CreatedBy: acc.ID,
		Kind: kind, Params: json.RawMessage(params), TaskType: a.TaskType(), TaskQueue: a.Queue(), TaskID: a.TaskID(),
		TaskPayload: payload}); err != nil {
		return 0, err
	}
	before := sink.accepted.Load()
	start := time.Now()
	if err := work(); err != nil {
		return 0, err
	}
	sec := time.Since(start).Seconds()
	run, err := store.RunByID(ctx, db, id)
	if err != nil {
		return 0, err
	}
	if got := sink.accepted.Load() - before; run.Status != store.RunDone || run.Counts["sent"] != int64(n) || got != int64(n) {
		return 0, fmt.Errorf("%s run %s: %s %v, %d mails accepted", kind, id, run.Status, run.Counts, got)
	}
	return float64(n) / sec, nil
}

// bareLoop sends n invitations, rendered from the same templates with a sealed link
// each, over one go-mail connection: the floor the worker is measured against (no
// database, no claims, no recorded tokens).
func bareLoop(ctx context.Context, sink *discardSink, keys *login.Keys, n int) (float64, error) {
	html, err := htmltemplate.ParseFS(templates.FS, "mail/invitation.de.html")
	if err != nil {
		return 0, err
	}
	text, err := texttemplate.ParseFS(templates.FS, "mail/invitation.de.txt")
	if err != nil {
		return 0, err
	}
	from, err := netmail.ParseAddress(inviteFrom)
	if err != nil {
		return 0, err
	}
	host, port, _ := net.SplitHostPort(sink.addr)
	var p int
	fmt.Sscan(port, &p)
	c, err := gomail.NewClient(host, gomail.WithPort(p), gomail.WithTLSPolicy(gomail.TLSOpportunistic), gomail.WithTimeout(30*time.Second))
	if err != nil {
		return 0, err
	}
	before := sink.accepted.Load()
	start := time.Now()
	if err := c.DialWithContext(ctx); err != nil {
		return 0, err
	}
	expires := time.Now().Add(30 * 24 * time.Hour).Truncate(time.Second)
	for i := 1; i <= n; i++ {
		tok, err := keys.Seal(login.Claims{Tenant: 1, Identity: int64(i), Customer: int64(i), Purpose: login.PurposeInvite,
			Expires: expires, TokenID: login.NewTokenID()})
		if err != nil {
			return 0, err
		}
		sal := map[bool]string{true: "Sehr geehrte Frau", false: "Sehr geehrter Herr"}[i%2 == 0]
		d := struct{ Tenant, Greeting, Link, Expires string }{"Hausverwaltung Müller & Söhne",
			fmt.Sprintf("%s Muster%d,", sal, i), inviteBase + "/portal/l/" + tok, expires.Format("02.01.2006")}
		var sb, hb, tb strings.Builder
		if err := text.ExecuteTemplate(&sb, "subject", d); err != nil {
			return 0, err
		}
		if err := html.Execute(&hb, d); err != nil {
			return 0, err
		}
		if err := text.Execute(&tb, d); err != nil {
			return 0, err
		}
		m := gomail.NewMsg()
		m.FromMailAddress(from)
		if err := m.To(fmt.Sprintf("bewohner%d@example.org", i)); err != nil {
			return 0, err
		}
		m.Subject(strings.TrimSpace(sb.String()))
		m.SetDate()
		m.SetMessageID()
		m.SetGenHeader("X-Portalwerk-Message-ID", fmt.Sprintf("invitation:bench:%d", i))
		m.SetBodyString(gomail.TypeTextPlain, tb.String())
		m.AddAlternativeString(gomail.TypeTextHTML, hb.String())
		if err := c.Send(m); err != nil {
			return 0, fmt.Errorf("message %d: %w", i, err)
		}
	}
	if err := c.Close(); err != nil {
		return 0, err
	}
	sec := time.Since(start).Seconds()
	if got := sink.accepted.Load() - before; got != int64(n) {
		return 0, fmt.Errorf("%d of %d mails accepted", got, n)
	}
	return float64(n) / sec, nil
}
