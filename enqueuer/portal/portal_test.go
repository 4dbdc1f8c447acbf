package portal

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"

	"portalwerk/jobs"
	"portalwerk/jobs/config"
	"portalwerk/jobs/login"
	"portalwerk/store"
	"portalwerk/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

const base = "https://portal.example.de"

type bundle struct {
	t        *testing.T
	db       *sqlx.DB
	srv      *Server
	mux      *http.ServeMux
	keys     *login.Keys
	insp     *asynq.Inspector
	acc      store.Account
	identity int64
	custA    int64 // "Bäckerei Huber", the invited one
	custB    int64 // "Café Maier", same address
	email    string
}

func setup(t *testing.T) *bundle {
	t.Helper()
	addr, idx := storetest.RedisDB(t)
	opt := asynq.RedisClientOpt{Addr: addr, DB: idx}
	q := asynq.NewClient(opt)
	t.Cleanup(func() { q.Close() })
	insp := asynq.NewInspector(opt)
	t.Cleanup(func() { insp.Close() })
	k := config.LoginKey{ID: "k1"}
	copy(k.Secret[:], "0123456789abcdef0123456789abcdef")
	keys, err := login.NewKeys([]config.LoginKey{k})
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle{t: t, db: storetest.DB(t), keys: keys, insp: insp}
	b.srv, err = New(storetest.Logger(t), b.db, jobs.NewClient(q), Config{PublicBaseURL: base, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	b.mux = http.NewServeMux()
	b.srv.Mount(b.mux)
	b.acc = storetest.Account(t, b.db, "", "huber", "")
	b.email = "anna." + store.NewID()[:8] + "@example.de"
	b.custA = b.customer("Bäckerei Huber", b.email)
	b.custB = b.customer("Café Maier", strings.ToUpper(b.email))
	b.identity, err = store.EnsureCustomerIdentity(context.Background(), b.db, b.acc.TenantID, b.custA)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *bundle) customer(company, email string) int64 {
	var id int64
	if err := b.db.Get(&id, `INSERT INTO customers (tenant_id, account_id, external_id, company, email)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`, b.acc.TenantID, b.acc.ID, store.NewID()[:8], company, email); err != nil {
		b.t.Fatal(err)
	}
	return id
}

// token mints and records a link token.
func (b *bundle) token(purpose login.Purpose, recorded login.Purpose, expires time.Time) (string, string) {
	b.t.Helper()
	c := login.Claims{Tenant: b.acc.TenantID, Identity: b.identity, Customer: b.custA, Purpose: purpose,
		Expires: expires.Truncate(time.Second), TokenID: login.NewTokenID()}
	tok, err := b.keys.Seal(c)
	if err != nil {
		b.t.Fatal(err)
	}
	if err := store.CreateLoginTokens(context.Background(), b.db, []store.NewLoginToken{{ID: c.TokenID, TenantID: c.Tenant,
		IdentityID: c.Identity, CustomerID: c.Customer, Purpose: string(recorded), ExpiresAt: time.Now().Add(time.Hour)}}); err != nil {
		b.t.Fatal(err)
	}
	return tok, c.TokenID
}

type resp struct {
	code   int
	header http.Header
	body   string
}

// do sends a request with the session cookie (if any), as a browser on base would.
func (b *bundle) do(method, path, cookie string, form url.Values, hdr map[string]string) resp {
	b.t.Helper()
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, base+path, nil)
	}
	req.RemoteAddr = "192.0.2.10:5555"
	if method == http.MethodPost {
		req.Header.Set("Origin", base)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "__Host-portal_session", Value: cookie})
	}
	rec := httptest.NewRecorder()
	b.mux.ServeHTTP(rec, req)
	return resp{rec.Code, rec.Result().Header, rec.Body.String()}
}

// session is the session cookie an answer set.
func (r resp) session(t *testing.T) string {
	t.Helper()
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "__Host-portal_session" && c.Value != "" {
			if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
				t.Errorf("session cookie %+v: want HttpOnly, Secure, SameSite=Lax, Path=/", c)
			}
			return c.Value
		}
	}
	t.Fatalf("no session cookie in %v", r.header)
	return ""
}

var asJSON = map[string]string{"Accept": "application/json"}

func TestInvitationLinkPasswordLoginSwitchLogout(t *testing.T) {
	b := setup(t)
	tok, tokID := b.token(login.PurposeInvite, login.PurposeInvite, time.Now().Add(time.Hour))
	ctx := context.Background()

	// GET only shows the button and never uses the token.
	res := b.do("GET", "/portal/l/"+tok, "", nil, nil)
	if res.code != 200 || !strings.Contains(res.body, ">Weiter</button>") || !strings.Contains(res.body, `action="/portal/l/`+tok+`"`) {
		t.Fatalf("landing: %d %s", res.code, res.body)
	}
	if res.header.Get("Referrer-Policy") != "no-referrer" || res.header.Get("Cache-Control") != "no-store" {
		t.Errorf("landing headers %v", res.header)
	}
	if n, _ := store.LoginTokenUses(ctx, b.db, b.acc.TenantID, tokID); n != 0 {
		t.Errorf("GET used the token (%d uses)", n)
	}

	// POST starts the session; the next URL carries no token.
	res = b.do("POST", "/portal/l/"+tok, "", nil, nil)
	if res.code != http.StatusSeeOther || res.header.Get("Location") != "/portal/password" {
		t.Fatalf("open link: %d %v", res.code, res.header)
	}
	sess := res.session(t)
	if n, _ := store.LoginTokenUses(ctx, b.db, b.acc.TenantID, tokID); n != 1 {
		t.Errorf("token uses %d, want 1", n)
	}
	// Until a password is set, other pages are 403.
	if res := b.do("GET", "/portal/companies", sess, nil, asJSON); res.code != http.StatusForbidden {
		t.Errorf("companies before the password: %d", res.code)
	}
	// Refusals say why, with 422.
	for pw, why := range map[string]string{"kurz": "mindestens 10 Zeichen", b.email: "E-Mail-Adresse"} {
		res := b.do("POST", "/portal/password", sess, url.Values{"password": {pw}, "password_confirm": {pw}}, nil)
		if res.code != http.StatusUnprocessableEntity || !strings.Contains(res.body, why) {
			t.Errorf("password %q: %d, want 422 saying %q", pw, res.code, why)
		}
	}
	res = b.do("POST", "/portal/password", sess, url.Values{"password": {"Sonnenblume-42"}, "password_confirm": {"Sonnenblume-43"}}, asJSON)
	if res.code != http.StatusUnprocessableEntity || !strings.Contains(res.body, "nicht überein") {
		t.Errorf("mismatch: %d %s", res.code, res.body)
	}
	res = b.do("POST", "/portal/password", sess, url.Values{"password": {"Sonnenblume-42"}, "password_confirm": {"Sonnenblume-42"}}, nil)
	if res.code != http.StatusSeeOther || res.header.Get("Location") != "/portal/" {
		t.Fatalf("set password: %d %v %s", res.code, res.header, res.body)
	}
	newSess := res.session(t)
	if newSess == sess {
		t.Error("the session id was not rotated after the password change")
	}
	if res := b.do("GET", "/portal/companies", sess, nil, asJSON); res.code != http.StatusUnauthorized {
		t.Errorf("old session id after rotation: %d", res.code)
	}
	sess = newSess
	// The invitation link is spent once a password is set.
	if res := b.do("POST", "/portal/l/"+tok, "", nil, nil); res.code != http.StatusUnauthorized {
		t.Errorf("invitation link after the password was set: %d", res.code)
	}

	// Both customers carrying the address, the invited one active.
	res = b.do("GET", "/portal/companies", sess, nil, asJSON)
	var list []company
	if res.code != 200 || json.Unmarshal([]byte(res.body), &list) != nil || len(list) != 2 ||
		list[0] != (company{b.custA, "Bäckerei Huber", true}) || list[1] != (company{b.custB, "Café Maier", false}) {
		t.Fatalf("companies: %d %s", res.code, res.body)
	}
	home := b.do("GET", "/portal/", sess, nil, nil)
	if home.code != 200 || !strings.Contains(home.body, `<strong id="active-customer">Bäckerei Huber</strong>`) {
		t.Errorf("home: %d %s", home.code, home.body)
	}

	// Switch: rotated, the other customer active; another tenant's customer is not found.
	res = b.do("POST", "/portal/switch", sess, url.Values{"customer_id": {itoa(b.custB)}}, nil)
	if res.code != http.StatusSeeOther {
		t.Fatalf("switch: %d %s", res.code, res.body)
	}
	switched := res.session(t)
	if res := b.do("GET", "/portal/companies", sess, nil, asJSON); res.code != http.StatusUnauthorized {
		t.Errorf("session id before the switch still works: %d", res.code)
	}
	res = b.do("GET", "/portal/companies", switched, nil, asJSON)
	if !strings.Contains(res.body, `{"customer_id":`+itoa(b.custB)+`,"name":"Café Maier","active":true}`) {
		t.Errorf("after the switch: %s", res.body)
	}
	stranger := storetest.Account(t, b.db, "", "x", "")
	var foreign int64
	b.db.Get(&foreign, `INSERT INTO customers (tenant_id, account_id, email) VALUES ($1, $2, $3) RETURNING id`, stranger.TenantID, stranger.ID, b.email)
	if res := b.do("POST", "/portal/switch", switched, url.Values{"customer_id": {itoa(foreign)}}, asJSON); res.code != http.StatusNotFound {
		t.Errorf("switch to another tenant's customer: %d", res.code)
	}

	// Logout ends the session.
	if res := b.do("POST", "/portal/logout", switched, nil, nil); res.code != http.StatusSeeOther {
		t.Errorf("logout: %d", res.code)
	}
	if res := b.do("GET", "/portal/companies", switched, nil, asJSON); res.code != http.StatusUnauthorized {
		t.Errorf("after logout: %d", res.code)
	}
	if res := b.do("GET", "/portal/", switched, nil, nil); res.code != http.StatusSeeOther || res.header.Get("Location") != "/portal/login" {
		t.Errorf("a page after logout: %d %v", res.code, res.header)
	}

	// Login: wrong password 401, right one 303 home with a fresh session.
	if res := b.do("POST", "/portal/login", "", url.Values{"email": {b.email}, "password": {"falsch-falsch"}}, nil); res.code != http.StatusUnauthorized ||
		!strings.Contains(res.body, "falsch") {
		t.Errorf("wrong password: %d", res.code)
	}
	res = b.do("POST", "/portal/login", "", url.Values{"email": {"  " + strings.ToUpper(b.email)}, "password": {"Sonnenblume-42"}}, nil)
	if res.code != http.StatusSeeOther || res.header.Get("Location") != "/portal/" {
		t.Fatalf("login: %d %v %s", res.code, res.header, res.body)
	}
	res = b.do("GET", "/portal/", res.session(t), nil, asJSON)
	if res.code != 200 || !strings.Contains(res.body, `"customer":{"customer_id":`+itoa(b.custA)) {
		t.Errorf("home as JSON after login: %d %s", res.code, res.body)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// Tampered, expired, revoked, other-purpose and unknown-key links get the same 401 page.
func TestBadLinksGetTheSamePage(t *testing.T) {
	b := setup(t)
	good, _ := b.token(login.PurposeInvite, login.PurposeInvite, time.Now().Add(time.Hour))
	expired, _ := b.token(login.PurposeInvite, login.PurposeInvite, time.Now().Add(-time.Minute))
	revoked, revokedID := b.token(login.PurposeInvite, login.PurposeInvite, time.Now().Add(time.Hour))
	if err := store.RevokeLoginToken(context.Background(), b.db, b.acc.TenantID, revokedID); err != nil {
		t.Fatal(err)
	}
	// A meter-entry token whose recorded purpose is an invitation: it opens nothing.
	otherPurpose, _ := b.token(login.PurposeMeterEntry, login.PurposeInvite, time.Now().Add(time.Hour))
	other := config.LoginKey{ID: "k1"}
	copy(other.Secret[:], "ffffffffffffffffffffffffffffffff")
	otherKeys, _ := login.NewKeys([]config.LoginKey{other})
	foreign, _ := otherKeys.Seal(login.Claims{Tenant: b.acc.TenantID, Identity: b.identity, Customer: b.custA,
		Purpose: login.PurposeInvite, Expires: time.Now().Add(time.Hour), TokenID: login.NewTokenID()})
	tampered := good[:len(good)-3] + map[bool]string{true: "AAA", false: "BBB"}[!strings.HasSuffix(good, "AAA")]

	var first resp
	for name, tok := range map[string]string{"tampered": tampered, "expired": expired, "revoked": revoked,
		"other purpose": otherPurpose, "other key": foreign, "garbage": "x.y"} {
		res := b.do("POST", "/portal/l/"+tok, "", nil, nil)
		if res.code != http.StatusUnauthorized || res.header.Get("Set-Cookie") != "" {
			t.Errorf("%s: %d %v", name, res.code, res.header)
		}
		if first.body == "" {
			first = res
		} else if res.body != first.body {
			t.Errorf("%s: the 401 page differs from the others", name)
		}
		if res := b.do("POST", "/portal/l/"+tok, "", nil, asJSON); res.code != http.StatusUnauthorized || !strings.Contains(res.body, `"error":`) {
			t.Errorf("%s as JSON: %d %s", name, res.code, res.body)
		}
	}
	if !strings.Contains(first.body, "ungültig oder abgelaufen") || first.header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("the 401 page: %s", first.body)
	}
	if res := b.do("POST", "/portal/l/"+good, "", nil, asJSON); res.code != 200 || !strings.Contains(res.body, `"next":"/portal/password"`) {
		t.Errorf("the good link as JSON: %d %s", res.code, res.body)
	}
}

// A POST whose Origin names another site is refused before anything happens.
func TestOriginCheck(t *testing.T) {
	b := setup(t)
	tok, id := b.token(login.PurposeInvite, login.PurposeInvite, time.Now().Add(time.Hour))
	for _, origin := range []string{"https://evil.example", "http://portal.example.de", "null"} {
		res := b.do("POST", "/portal/l/"+tok, "", nil, map[string]string{"Origin": origin})
		if res.code != http.StatusForbidden {
			t.Errorf("Origin %s: %d", origin, res.code)
		}
	}
	if res := b.do("POST", "/portal/login", "", url.Values{"email": {b.email}, "password": {"x"}}, map[string]string{"Origin": "", "Sec-Fetch-Site": "cross-site"}); res.code != http.StatusForbidden {
		t.Errorf("cross-site without Origin: %d", res.code)
	}
	// Browsers send "Origin: null" with a page's own form POSTs under no-referrer: only
	// Sec-Fetch-Site same-origin lets it through.
	for _, site := range []string{"", "cross-site", "same-site", "none"} {
		if res := b.do("POST", "/portal/l/"+tok, "", nil, map[string]string{"Origin": "null", "Sec-Fetch-Site": site}); res.code != http.StatusForbidden {
			t.Errorf("Origin null, Sec-Fetch-Site %q: %d", site, res.code)
		}
	}
	if n, _ := store.LoginTokenUses(context.Background(), b.db, b.acc.TenantID, id); n != 0 {
		t.Errorf("a refused POST used the token")
	}
	if res := b.do("POST", "/portal/login", "", url.Values{"email": {b.email}, "password": {"x"}},
		map[string]string{"Origin": "null", "Sec-Fetch-Site": "same-origin"}); res.code != http.StatusUnauthorized {
		t.Errorf("Origin null from the same origin: %d, want the login's own 401", res.code)
	}
	if res := b.do("POST", "/portal/l/"+tok, "", nil, nil); res.code != http.StatusSeeOther {
		t.Errorf("same origin: %d", res.code)
	}
}

// Login and forgot are limited per address and per IP.
func TestRateLimits(t *testing.T) {
	b := setup(t)
	b.srv.rates = rates{loginPerAddress: rate{3, time.Hour}, loginPerIP: rate{5, time.Hour},
		forgotPerAddress: rate{2, time.Hour}, forgotPerIP: rate{3, time.Hour}}
	try := func(email, ip string) int {
		req := httptest.NewRequest("POST", base+"/portal/login", strings.NewReader(url.Values{"email": {email}, "password": {"falsch-falsch"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.RemoteAddr = ip + ":1234"
		rec := httptest.NewRecorder()
		b.mux.ServeHTTP(rec, req)
		return rec.Code
	}
	for i := range 3 {
		if code := try(b.email, "192.0.2.1"); code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, code)
		}
	}
	if code := try(b.email, "192.0.2.2"); code != http.StatusTooManyRequests {
		t.Errorf("4th attempt on one address from another IP: %d, want 429", code)
	}
	for i := range 2 {
		try("x"+itoa(int64(i))+"@example.de", "192.0.2.1")
	}
	if code := try("neu@example.de", "192.0.2.1"); code != http.StatusTooManyRequests {
		t.Errorf("6th attempt from one IP: %d, want 429", code)
	}
	for i := range 2 {
		if res := b.do("POST", "/portal/forgot", "", url.Values{"email": {b.email}}, nil); res.code != 200 {
			t.Fatalf("forgot %d: %d", i, res.code)
		}
	}
	res := b.do("POST", "/portal/forgot", "", url.Values{"email": {b.email}}, nil)
	if res.code != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" {
		t.Errorf("3rd forgot for one address: %d %v", res.code, res.header)
	}
}

func TestLimiterIsBounded(t *testing.T) {
	l := newLimiter(2)
	now := time.Now()
	r := rate{1, time.Minute}
	if ok, _ := l.allow("a", r, now); !ok {
		t.Fatal("a")
	}
	l.allow("b", r, now)
	if ok, _ := l.allow("c", r, now); ok || len(l.wins) != 2 {
		t.Errorf("a third key while full and nothing expired: allowed=%v, %d keys", ok, len(l.wins))
	}
	if ok, _ := l.allow("c", r, now.Add(2*time.Minute)); !ok || len(l.wins) != 1 {
		t.Errorf("after expiry: allowed=%v, %d keys", ok, len(l.wins))
	}
}

// Forgot answers the same for a known and an unknown address, and enqueues the same
// task either way (the worker finds out which it is).
func TestForgotAnswersTheSame(t *testing.T) {
	b := setup(t)
	known := b.do("POST", "/portal/forgot", "", url.Values{"email": {b.email}}, nil)
	unknown := b.do("POST", "/portal/forgot", "", url.Values{"email": {"niemand-" + store.NewID()[:6] + "@example.de"}}, nil)
	if known.code != 200 || known.code != unknown.code || known.body != unknown.body {
		t.Errorf("known %d, unknown %d; bodies equal: %v", known.code, unknown.code, known.body == unknown.body)
	}
	kj := b.do("POST", "/portal/forgot", "", url.Values{"email": {"a" + b.email}}, asJSON)
	if kj.code != 200 || !strings.Contains(kj.body, `"status":"sent_if_known"`) {
		t.Errorf("JSON: %d %s", kj.code, kj.body)
	}
	tasks, err := b.insp.ListPendingTasks(jobs.QueueMail)
	if err != nil {
		t.Fatal(err)
	}
	var mine int
	for _, task := range tasks {
		if task.Type == jobs.TypePasswordReset && (strings.Contains(string(task.Payload), b.email) || strings.Contains(string(task.Payload), "niemand-")) {
			mine++
		}
	}
	if mine < 3 {
		t.Errorf("%d password-reset tasks enqueued, want one per request", mine)
	}
}

// A customer imported with a login ID and must_change_password logs in with it, goes to
// the password page, and nothing else opens until it is changed.
func TestLoginIDMustChangePassword(t *testing.T) {
	b := setup(t)
	loginID := "L-" + store.NewID()[:8]
	var id int64
	if err := b.db.Get(&id, `INSERT INTO customers (tenant_id, account_id, company, login_id, password_hash, must_change_password)
		VALUES ($1, $2, 'Firma ohne Mail', $3, $4, true) RETURNING id`, b.acc.TenantID, b.acc.ID, loginID, login.HashPassword("Startpasswort-1")); err != nil {
		t.Fatal(err)
	}
	res := b.do("POST", "/portal/login", "", url.Values{"email": {loginID}, "password": {"Startpasswort-1"}}, nil)
	if res.code != http.StatusSeeOther || res.header.Get("Location") != "/portal/password" {
		t.Fatalf("login with login ID: %d %v %s", res.code, res.header, res.body)
	}
	sess := res.session(t)
	if res := b.do("GET", "/portal/", sess, nil, asJSON); res.code != http.StatusForbidden {
		t.Errorf("home before the change: %d", res.code)
	}
	if res := b.do("POST", "/portal/password", sess, url.Values{"password": {strings.ToLower(loginID)}, "password_confirm": {strings.ToLower(loginID)}}, nil); res.code != 422 ||
		!strings.Contains(res.body, "Login-ID") {
		t.Errorf("login ID as password: %d", res.code)
	}
	res = b.do("POST", "/portal/password", sess, url.Values{"password": {"Neues-Passwort-2"}, "password_confirm": {"Neues-Passwort-2"}}, nil)
	if res.code != http.StatusSeeOther {
		t.Fatalf("change: %d %s", res.code, res.body)
	}
	if res := b.do("GET", "/portal/", res.session(t), nil, asJSON); res.code != 200 || !strings.Contains(res.body, "Firma ohne Mail") {
		t.Errorf("home after the change: %d %s", res.code, res.body)
	}
	if res := b.do("POST", "/portal/login", "", url.Values{"email": {loginID}, "password": {"Startpasswort-1"}}, nil); res.code != http.StatusUnauthorized {
		t.Errorf("the old password still works: %d", res.code)
	}
	if res := b.do("POST", "/portal/login", "", url.Values{"email": {loginID}, "password": {"Neues-Passwort-2"}}, asJSON); res.code != 200 ||
		!strings.Contains(res.body, `"must_change_password":false`) {
		t.Errorf("login with the new password: %d %s", res.code, res.body)
	}
}

// Sessions end after their idle time.
func TestSessionIdleExpiry(t *testing.T) {
	b := setup(t)
	tok, _ := b.token(login.PurposeInvite, login.PurposeInvite, time.Now().Add(time.Hour))
	sess := b.do("POST", "/portal/l/"+tok, "", nil, nil).session(t)
	if _, err := b.db.Exec(`UPDATE portal_sessions SET last_seen_at = now() - interval '31 minutes' WHERE id_hash = $1`, store.HashSessionID(sess)); err != nil {
		t.Fatal(err)
	}
	if res := b.do("GET", "/portal/password", sess, nil, asJSON); res.code != http.StatusUnauthorized {
		t.Errorf("idle session: %d", res.code)
	}
	sess = b.do("POST", "/portal/l/"+tok, "", nil, nil).session(t)
	b.db.Exec(`UPDATE portal_sessions SET expires_at = now() - interval '1 second' WHERE id_hash = $1`, store.HashSessionID(sess))
	if res := b.do("GET", "/portal/password", sess, nil, asJSON); res.code != http.StatusUnauthorized {
		t.Errorf("session past its absolute expiry: %d", res.code)
	}
}

// Under a plain-http PUBLIC_BASE_URL (make run) the cookie is portal_session, not Secure,
// still HttpOnly and SameSite=Lax, and it carries the session.
func TestPlainHTTPCookie(t *testing.T) {
	b := setup(t)
	srv, err := New(storetest.Logger(t), b.db, nil, Config{PublicBaseURL: "http://localhost:8080", Keys: b.keys})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Mount(mux)
	tok, _ := b.token(login.PurposeInvite, login.PurposeInvite, time.Now().Add(time.Hour))
	req := httptest.NewRequest("POST", "http://localhost:8080/portal/l/"+tok, nil)
	req.Header.Set("Origin", "http://localhost:8080")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	cookies := rec.Result().Cookies()
	if rec.Code != http.StatusSeeOther || len(cookies) != 1 {
		t.Fatalf("open link over http: %d %v", rec.Code, cookies)
	}
	c := cookies[0]
	if c.Name != "portal_session" || c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
		t.Errorf("cookie over http: %+v", c)
	}
	req = httptest.NewRequest("GET", "http://localhost:8080/portal/password", nil)
	req.Header.Set("Accept", "application/json")
	req.AddCookie(c)
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("password page with the http cookie: %d %s", rec.Code, rec.Body)
	}
}

// A customer imported with e-mail and password, without a portal identity yet, logs in
// by its address; once the identity has its own password, only that one opens.
func TestImportedPasswordLoginByEmail(t *testing.T) {
	b := setup(t)
	email := "import." + store.NewID()[:8] + "@example.de"
	var id int64
	if err := b.db.Get(&id, `INSERT INTO customers (tenant_id, account_id, company, email, password_hash, must_change_password)
		VALUES ($1, $2, 'Importierte Firma', $3, $4, true) RETURNING id`, b.acc.TenantID, b.acc.ID, " "+strings.ToUpper(email), login.HashPassword("Startpasswort-1")); err != nil {
		t.Fatal(err)
	}
	if res := b.do("POST", "/portal/login", "", url.Values{"email": {email}, "password": {"falsch-falsch"}}, nil); res.code != http.StatusUnauthorized {
		t.Errorf("wrong password: %d", res.code)
	}
	res := b.do("POST", "/portal/login", "", url.Values{"email": {email}, "password": {"Startpasswort-1"}}, nil)
	if res.code != http.StatusSeeOther || res.header.Get("Location") != "/portal/password" {
		t.Fatalf("login with the imported password: %d %v %s", res.code, res.header, res.body)
	}
	res = b.do("POST", "/portal/password", res.session(t), url.Values{"password": {"Eigenes-Passwort-3"}, "password_confirm": {"Eigenes-Passwort-3"}}, nil)
	if res.code != http.StatusSeeOther {
		t.Fatalf("set password: %d %s", res.code, res.body)
	}
	if res := b.do("POST", "/portal/login", "", url.Values{"email": {email}, "password": {"Startpasswort-1"}}, nil); res.code != http.StatusUnauthorized {
		t.Errorf("the imported password after the own one was set: %d", res.code)
	}
	res = b.do("POST", "/portal/login", "", url.Values{"email": {email}, "password": {"Eigenes-Passwort-3"}}, asJSON)
	if res.code != http.StatusOK || !strings.Contains(res.body, "Importierte Firma") {
		t.Errorf("login with the own password: %d %s", res.code, res.body)
	}
}
