package portal

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"

	"portalwerk/jobs"
	"portalwerk/jobs/config"
	"portalwerk/jobs/login"
	"portalwerk/jobs/mail"
	"portalwerk/jobs/mail/mailtest"
	"portalwerk/store"
	"portalwerk/store/storetest"
)

// The browser harness: a headless Debian chromium driven over CDP (chromedp), an SMTP
// sink on loopback and the portal served over plain http on loopback. Screenshots go to
// $PORTAL_SCREENSHOTS when set (to look at them after a run), else to the test's
// temporary directory.

// shots is the directory the test's screenshots go to.
func shots(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PORTAL_SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// serve runs a portal over db on plain http on loopback and returns its origin, which
// is its PUBLIC_BASE_URL.
func serve(t *testing.T, db *sqlx.DB, keys *login.Keys, queue Queue) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + l.Addr().String()
	srv, err := New(storetest.Logger(t), db, queue, Config{PublicBaseURL: base, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Mount(mux)
	web := &http.Server{Handler: mux}
	go web.Serve(l)
	t.Cleanup(func() { web.Close() })
	return base
}

// viewports the screenshots are taken at: a phone and a desktop.
var viewports = []struct {
	name          string
	width, height int64
	mobile        bool
}{{"phone", 390, 844, true}, {"desktop", 1280, 800, false}}

// browser starts headless chromium for the test; it skips the test when there is none
// (make test installs it).
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed (make test installs it: apt-get install -y chromium); skipping the browser test")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.Flag("headless", "new"),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("lang", "de-DE"),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(390, 844))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	ctx, cancelTime := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelTime(); cancelTab(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// shoot saves the current page as dir/<name>-phone.png and dir/<name>-desktop.png.
func shoot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	for _, v := range viewports {
		var vopts []chromedp.EmulateViewportOption
		if v.mobile {
			vopts = append(vopts, chromedp.EmulateMobile, chromedp.EmulateTouch)
		}
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(v.width, v.height, vopts...)); err != nil {
			t.Fatalf("viewport %s: %v", v.name, err)
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+"-"+v.name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Back to the phone, where the test clicks.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch)); err != nil {
		t.Fatal(err)
	}
}

// text is the visible text of the first element matching css.
func text(t *testing.T, ctx context.Context, css string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css)))
	if err != nil {
		t.Fatalf("text of %s: %v", css, err)
	}
	return strings.TrimSpace(s)
}

// do runs browser steps; what failed names the step.
func do(t *testing.T, ctx context.Context, step string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("%s: %v; the browser is at %s showing:\n%s", step, err, loc, body)
	}
}

// TestBrowserInvitationToSwitch is the customer's way in a real browser: the invitation
// mailed by the invitations:send worker (asynq server in process, the registry of
// jobs.Tasks) to an SMTP sink; its link opened in headless chromium; "Weiter"; a too-short
// password refused with the reason; a good one; logout; login; the switch to the other
// customer of the same tenant carrying the same address (another account's customer).
func TestBrowserInvitationToSwitch(t *testing.T) {
	ctx := browser(t)
	dir := shots(t)
	db := storetest.DB(t)
	bg := context.Background()

	k := config.LoginKey{ID: "b1"}
	copy(k.Secret[:], "browser-test-key-0123456789abcde")
	keys, err := login.NewKeys([]config.LoginKey{k})
	if err != nil {
		t.Fatal(err)
	}
	addr, idx := storetest.RedisDB(t)
	opt := asynq.RedisClientOpt{Addr: addr, DB: idx}
	q := asynq.NewClient(opt)
	t.Cleanup(func() { q.Close() })
	client := jobs.NewClient(q)
	// The portal on loopback over http: PUBLIC_BASE_URL is its own address.
	base := serve(t, db, keys, client)

	// The worker: the real registry and mux on an asynq server of our own.
	sink := mailtest.Start(t)
	sender, err := mail.New(sink.URL(), "Hausverwaltung Müller <noreply@hv-mueller.de>", storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := jobs.NewRegistry(jobs.Tasks(jobs.Deps{DB: db, Client: client, Mail: sender, LoginKeys: keys, BaseURL: base, MailConns: 2})...)
	if err != nil {
		t.Fatal(err)
	}
	worker := asynq.NewServer(opt, asynq.Config{Concurrency: 2, Queues: map[string]int{jobs.QueueMail: 1}, LogLevel: asynq.ErrorLevel})
	if err := worker.Start(reg.Mux(storetest.Logger(t))); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(worker.Shutdown)

	// One tenant, two accounts; the same resident (mixed case) is a customer of both.
	tenant := storetest.Tenant()
	huber := storetest.Account(t, db, tenant, "huber", "")
	maier := storetest.Account(t, db, tenant, "maier", "")
	if _, err := db.Exec(`UPDATE tenants SET name = 'Hausverwaltung Müller & Söhne' WHERE id = $1`, huber.TenantID); err != nil {
		t.Fatal(err)
	}
	email := "jürgen." + store.NewID()[:8] + "@example.de"
	newCustomer := func(acc store.Account, ext, company, address string) int64 {
		var id int64
		if err := db.Get(&id, `INSERT INTO customers (tenant_id, account_id, external_id, company, email, salutation, last_name)
			VALUES ($1, $2, $3, $4, $5, 'Herr', 'Größer') RETURNING id`, acc.TenantID, acc.ID, ext, company, address); err != nil {
			t.Fatal(err)
		}
		return id
	}
	bakery := newCustomer(huber, "K-1", "Bäckerei Huber", email)
	newCustomer(maier, "K-2", "Café Maier", strings.ToUpper(email))

	// The invitation batch, as POST /v1/invitations records it.
	runID := store.NewID()
	params, _ := json.Marshal(store.InvitationSelection{Customers: []string{"K-1"}})
	if err := client.CreateRun(bg, db, store.NewRun{ID: runID, TenantID: huber.TenantID, AccountID: huber.ID, CreatedBy: huber.ID,
		Kind: store.RunInvitations, Params: params}, jobs.InvitationsSend{RunID: runID, TenantID: huber.TenantID}); err != nil {
		t.Fatal(err)
	}
	var run store.Run
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if run, err = store.RunByID(bg, db, runID); err != nil {
			t.Fatal(err)
		}
		if run.Status == store.RunDone || run.Status == store.RunFailed || time.Now().After(deadline) {
			break
		}
	}
	if run.Status != store.RunDone || run.Counts["sent"] != 1 {
		t.Fatalf("invitation run: %s %v", run.Status, run.Counts)
	}
	mails := sink.To(email)
	if len(mails) != 1 {
		t.Fatalf("%d mails to %s, want 1", len(mails), email)
	}
	subject, plain, html := mailtest.Parts(t, mails[0].Raw)
	link := regexp.MustCompile(regexp.QuoteMeta(base) + `/portal/l/[A-Za-z0-9._~-]+`).FindString(plain)
	if link == "" || !strings.Contains(html, link) {
		t.Fatalf("no login link to %s in both parts of the mail:\n%s", base, plain)
	}
	if !strings.Contains(subject, "Hausverwaltung Müller & Söhne") {
		t.Errorf("subject %q", subject)
	}

	// The mail's HTML part in the same browser.
	mailFile := filepath.Join(t.TempDir(), "invitation.html")
	if err := os.WriteFile(mailFile, []byte(html), 0o644); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "open the mail", chromedp.Navigate("file://"+mailFile), chromedp.WaitVisible(chromedp.CSS("a[href]")))
	if got := text(t, ctx, "h1"); got != "Willkommen im Kundenportal" {
		t.Errorf("mail heading %q", got)
	}
	if got := text(t, ctx, "body"); !strings.Contains(got, "Sehr geehrter Herr Größer,") || !strings.Contains(got, "Hausverwaltung Müller & Söhne lädt Sie") {
		t.Errorf("mail text: %q", got)
	}
	shoot(t, ctx, dir, "1-mail")

	// The landing page: only a button; nothing used yet.
	do(t, ctx, "open the link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("form button[type=submit]")))
	if got := text(t, ctx, "form button"); got != "Weiter" {
		t.Errorf("landing button %q", got)
	}
	if got := text(t, ctx, "header"); !strings.Contains(got, "Hausverwaltung Müller & Söhne") {
		t.Errorf("landing header %q: the tenant's name is missing", got)
	}
	shoot(t, ctx, dir, "2-landing")

	// "Weiter": the password page, at a URL without the token.
	do(t, ctx, "Weiter", chromedp.Click(chromedp.CSS("form button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("#password_confirm")))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != base+"/portal/password" {
		t.Errorf("after Weiter at %s", loc)
	}
	// The session cookie is HttpOnly: the page's script cannot see it.
	if c, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.cookie`)); err != nil || strings.Contains(c, "portal_session") {
		t.Errorf("document.cookie = %q (%v): the session cookie is readable by script", c, err)
	}

	// A too-short password: refused, and the form says why.
	do(t, ctx, "short password", chromedp.SendKeys(chromedp.CSS("#password"), "kurz"), chromedp.SendKeys(chromedp.CSS("#password_confirm"), "kurz"),
		chromedp.Click(chromedp.CSS("form button[type=submit]")), chromedp.WaitVisible(chromedp.CSS(".error")))
	if got := text(t, ctx, ".error"); !strings.Contains(got, "mindestens 10 Zeichen") {
		t.Errorf("refusal %q does not say why", got)
	}
	shoot(t, ctx, dir, "3-password-refused")

	const password = "Sonnenblume-42"
	do(t, ctx, "good password", chromedp.SendKeys(chromedp.CSS("#password"), password), chromedp.SendKeys(chromedp.CSS("#password_confirm"), password),
		chromedp.Click(chromedp.CSS("form button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("#active-customer")))
	if got := text(t, ctx, "#active-customer"); got != "Bäckerei Huber" {
		t.Errorf("active customer after the password: %q", got)
	}
	shoot(t, ctx, dir, "4-home")

	// Logout, then login with the new password.
	do(t, ctx, "logout", chromedp.Click(chromedp.CSS("form[action='/portal/logout'] button")), chromedp.WaitVisible(chromedp.CSS("#forgot_email")))
	do(t, ctx, "login", chromedp.SendKeys(chromedp.CSS("#email"), strings.ToUpper(email)), chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("form[action='/portal/login'] button")), chromedp.WaitVisible(chromedp.CSS("#active-customer")))
	if got := text(t, ctx, "#active-customer"); got != "Bäckerei Huber" {
		t.Errorf("active customer after login: %q", got)
	}

	// The switch to the other customer carrying the address.
	// After the switch, the bakery is the one to switch back to.
	do(t, ctx, "switch", chromedp.Click(chromedp.CSS("form[action='/portal/switch'] button")),
		chromedp.WaitReady(chromedp.CSS(fmt.Sprintf("form[action='/portal/switch'] input[value='%d']", bakery))))
	if got := text(t, ctx, "#active-customer"); got != "Café Maier" {
		t.Errorf("active customer after the switch: %q", got)
	}
	shoot(t, ctx, dir, "5-switched")
	t.Logf("screenshots in %s", dir)
}

// value is the current value of the input matching css.
func value(t *testing.T, ctx context.Context, css string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(css)))
	if err != nil {
		t.Fatalf("value of %s: %v", css, err)
	}
	return v
}

// eval runs a script expression on the page (the test's own; the portal sends none).
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// TestBrowserReadingsAndHistory drives the meter reading pages live in chromium: the
// meter request's link from the SMTP sink, "Weiter", one plausible reading (saved, green
// check), one implausible (422: the hint right below the field, the value kept),
// confirmed; the release; /portal/history with its SVG bars and table; then the same
// customer in English.
func TestBrowserReadingsAndHistory(t *testing.T) {
	ctx := browser(t)
	dir := shots(t)
	b, email := meterWorld(t)
	base := serve(t, b.db, b.keys, nil)

	// Two older released readings of each V-1 register, two months apart: 300 is
	// expected until today, so 1400 after 1000 is plausible and the chart has three bars.
	for i, v := range []string{"400", "700"} {
		if _, err := b.db.Exec(`INSERT INTO readings (tenant_id, register_id, value, read_on, status, source, released_at)
			SELECT ct.tenant_id, g.id, $2, (SELECT max(read_on) FROM readings WHERE register_id = g.id) - $3 * interval '1 month', 'released', 'import', now()
			FROM registers g JOIN meters m ON m.id = g.meter_id JOIN contracts ct ON ct.id = m.contract_id
			WHERE ct.tenant_id = $1 AND ct.number = 'V-1'`, b.acc.TenantID, v, 4-2*i); err != nil {
			t.Fatal(err)
		}
	}
	if r := b.portalReady(); r.Status != store.RunDone {
		t.Fatalf("portal-ready: %s %v", r.Status, r.Counts)
	}
	sink := mailtest.Start(t)
	period := time.Now().In(berlinZone(t)).Format("2006-01")
	run := b.requestReadings(sink, base, period)
	mails := sink.To(email)
	if len(mails) != 1 {
		t.Fatalf("%d mails to %s, want 1 (run %v)", len(mails), email, run.Counts)
	}
	_, plain, _ := mailtest.Parts(t, mails[0].Raw)
	link := regexp.MustCompile(regexp.QuoteMeta(base) + `/portal/l/[A-Za-z0-9._~-]+`).FindString(plain)
	if link == "" {
		t.Fatalf("no meter link to %s in the mail:\n%s", base, plain)
	}
	sw, color := b.register("V-1", "Schwarz/Weiß"), b.register("V-1", "Farbe")
	swSel, colorSel := fmt.Sprintf("#register-%d", sw), fmt.Sprintf("#register-%d", color)

	// The link, "Weiter": the reading page, at a URL without the token.
	do(t, ctx, "open the meter link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("form button[type=submit]")))
	do(t, ctx, "Weiter", chromedp.Click(chromedp.CSS("form button[type=submit]")), chromedp.WaitVisible(chromedp.CSS(swSel)))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != base+"/portal/readings" {
		t.Errorf("after Weiter at %s", loc)
	}
	if got := text(t, ctx, "#active-customer"); got != "Bäckerei Huber" {
		t.Errorf("active customer %q", got)
	}
	if got := text(t, ctx, swSel+" p.muted"); !strings.Contains(got, "Letzter freigegebener Stand: 1.000 Seiten vom ") {
		t.Errorf("last reading of Schwarz/Weiß: %q", got)
	}
	shoot(t, ctx, dir, "6-readings")

	// Plausible: saved, with the green check.
	do(t, ctx, "plausible reading", chromedp.SendKeys(chromedp.CSS("#value-"+itoa(sw)), "1400"),
		chromedp.Click(chromedp.CSS(swSel+" form button[type=submit]")), chromedp.WaitVisible(chromedp.CSS(".note")))
	if got := text(t, ctx, swSel+" .ok"); !strings.Contains(got, "✔") || !strings.Contains(got, "plausibel") {
		t.Errorf("no green check at the plausible reading: %q", got)
	}
	if got := text(t, ctx, ".note"); !strings.Contains(got, "gespeichert") {
		t.Errorf("saved notice %q", got)
	}
	shoot(t, ctx, dir, "7-reading-saved")

	// Implausible: 422, the hint right below the field naming the rule, the value kept,
	// and the confirmation box.
	do(t, ctx, "implausible reading", chromedp.SendKeys(chromedp.CSS("#value-"+itoa(color)), "900"),
		chromedp.Click(chromedp.CSS(colorSel+" form button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("#hint-"+itoa(color))))
	if got := text(t, ctx, "#hint-"+itoa(color)); !strings.HasPrefix(got, "Regel „monotonic“: Der Zählerstand 900 Seiten ist kleiner als der letzte freigegebene Zählerstand 1.000 Seiten") {
		t.Errorf("hint %q", got)
	}
	if got := value(t, ctx, "#value-"+itoa(color)); got != "900" {
		t.Errorf("the entered value is not kept: %q", got)
	}
	gap := eval[float64](t, ctx, `(() => { const f = document.getElementById("value-`+itoa(color)+`").getBoundingClientRect(),
		h = document.getElementById("hint-`+itoa(color)+`").getBoundingClientRect();
		return (Math.abs(f.left - h.left) < 1 && Math.abs(f.width - h.width) < 1) ? h.top - f.bottom : -1 })()`)
	if gap < 0 || gap > 24 {
		t.Errorf("the hint is not right below the field, aligned with it (gap %.0f px)", gap)
	}
	if got := eval[string](t, ctx, `document.getElementById("value-`+itoa(color)+`").getAttribute("aria-describedby")`); got != "hint-"+itoa(color) {
		t.Errorf("the field does not point at its hint: %q", got)
	}
	if wide := eval[bool](t, ctx, `document.documentElement.scrollWidth > window.innerWidth`); wide {
		t.Error("the page is wider than the phone's screen")
	}
	shoot(t, ctx, dir, "8-reading-hint")
	do(t, ctx, "confirm", chromedp.Click(chromedp.CSS(colorSel+" input[name=confirm_implausible]")),
		chromedp.Click(chromedp.CSS(colorSel+" form button[type=submit]")), chromedp.WaitVisible(chromedp.CSS(".note")))
	if got := text(t, ctx, colorSel); !strings.Contains(got, "Gemeldet: 900") || !strings.Contains(got, "trotz Hinweis bestätigt") {
		t.Errorf("confirmed reading: %q", got)
	}
	shoot(t, ctx, dir, "9-reading-confirmed")

	// The release takes the plausible one; the history shows its consumption.
	if r := b.release(); r.Counts["released"] != 1 || r.Counts["failed"] != 1 {
		t.Fatalf("release: %v", r.Counts)
	}
	histSel := fmt.Sprintf("#history-%d", sw)
	do(t, ctx, "history", chromedp.Click(chromedp.CSS(`a[href="/portal/history"]`)), chromedp.WaitVisible(chromedp.CSS(histSel+" svg rect")))
	type bar struct{ Height, Width float64 }
	bars := eval[[]bar](t, ctx, `[...document.querySelectorAll("`+histSel+` svg rect")].map(r => ({Height: r.getBBox().height, Width: r.getBBox().width}))`)
	if len(bars) != 3 || bars[0].Height <= 0 || bars[0].Height != bars[1].Height || bars[2].Height <= bars[0].Height {
		t.Errorf("bars of Schwarz/Weiß (300, 300, 400): %+v", bars)
	}
	rows := eval[[]string](t, ctx, `[...document.querySelectorAll("`+histSel+` table tbody tr")].slice(0, 3).map(r => r.innerText.replace(/\s+/g, " ").trim())`)
	if len(rows) != 3 || !strings.HasSuffix(rows[0], " 300") || !strings.HasPrefix(rows[2], period+" ") || !strings.HasSuffix(rows[2], " 400") {
		t.Errorf("consumption table: %q", rows)
	}
	if got := text(t, ctx, fmt.Sprintf("#history-%d", color)); !strings.Contains(got, "300") {
		t.Errorf("Farbe's history (the confirmed 900 is not released): %q", got)
	}
	if wide := eval[bool](t, ctx, `document.documentElement.scrollWidth > window.innerWidth`); wide {
		t.Error("the history is wider than the phone's screen")
	}
	shoot(t, ctx, dir, "10-history")

	// The same customer in English: the history and the reading page.
	if _, err := b.db.Exec(`UPDATE customers SET locale = 'en' WHERE tenant_id = $1 AND external_id = 'K-1'`, b.acc.TenantID); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "history in English", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(histSel+" svg rect")))
	if got := text(t, ctx, "h1"); got != "Consumption data" {
		t.Errorf("English history heading %q", got)
	}
	if got := eval[string](t, ctx, `document.documentElement.lang`); got != "en" {
		t.Errorf("English page's lang %q", got)
	}
	// English headings are longer: every table still fits its register's section.
	if fits := eval[bool](t, ctx, `[...document.querySelectorAll("table.data")].every(t =>
		t.getBoundingClientRect().right <= t.closest("section").getBoundingClientRect().right + 0.5)`); !fits {
		t.Errorf("a consumption table is wider than its section on the phone: %v", eval[[]float64](t, ctx, `[...document.querySelectorAll("table.data")].flatMap(t => [t.getBoundingClientRect().right, t.closest("section").getBoundingClientRect().right, t.scrollWidth])`))
	}
	shoot(t, ctx, dir, "11-history-en")
	do(t, ctx, "readings in English", chromedp.Click(chromedp.CSS(`a[href="/portal/readings"]`)), chromedp.WaitVisible(chromedp.CSS(colorSel)))
	if got := text(t, ctx, swSel); !strings.Contains(got, "Reported: 1,400 on ") || !strings.Contains(got, "(released)") {
		t.Errorf("English reading page, released register: %q", got)
	}
	if got := text(t, ctx, colorSel+" label"); got != "New reading (Seiten)" {
		t.Errorf("English label %q", got)
	}
	shoot(t, ctx, dir, "12-readings-en")
	t.Logf("screenshots in %s", dir)
}
