package portal

import (
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"

	"portalwerk/jobs"
	"portalwerk/jobs/login"
	"portalwerk/store"
)

// maxBodyBytes bounds every portal request body.
const maxBodyBytes = 64 << 10

// fields reads the named fields from a JSON object of strings or a form.
func fields(w http.ResponseWriter, r *http.Request, names ...string) (map[string]string, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	out := map[string]string{}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			return nil, &pageError{status: http.StatusBadRequest, title: "err.bad_request.title", message: "err.bad_json"}
		}
		for _, n := range names {
			switch v := body[n].(type) {
			case string:
				out[n] = v
			case float64:
				out[n] = strconv.FormatFloat(v, 'f', -1, 64)
			case bool:
				out[n] = strconv.FormatBool(v)
			}
		}
		return out, nil
	}
	if err := r.ParseForm(); err != nil {
		return nil, &pageError{status: http.StatusBadRequest, title: "err.bad_request.title", message: "err.bad_form"}
	}
	for _, n := range names {
		out[n] = r.PostFormValue(n)
	}
	return out, nil
}

// landing shows the button that opens a link: mail scanners only GET, so a GET never
// uses the token.
func (s *Server) landing(w http.ResponseWriter, r *http.Request, p *page) error {
	action := "/portal/l/" + r.PathValue("token")
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]string{"action": action, "method": "POST"})
		return nil
	}
	// When the token opens, the page names the tenant and speaks the customer's language;
	// the token is not used (no use counted). Otherwise, or when that cannot be read, it
	// stays in the browser's language with only "Kundenportal" in the header.
	if s.cfg.Keys != nil {
		if c, err := s.cfg.Keys.Open(r.PathValue("token"), s.now(), login.PurposeInvite, login.PurposeMeterEntry); err == nil {
			if err := s.personal(r.Context(), p, c.Tenant, c.Customer); err != nil {
				s.log.WarnContext(r.Context(), "portal: landing page of the tenant", slog.Int64("tenant_id", c.Tenant), slog.Any("err", err))
			}
		}
	}
	s.render(w, r, p, http.StatusOK, "landing", map[string]any{"Title": "landing.title", "Action": action})
	return nil
}

// openLink checks the token and starts a session: 303 to /portal/password for an
// invitation, /portal/readings for a meter-reading link. Every failure is errLink.
func (s *Server) openLink(w http.ResponseWriter, r *http.Request, _ *page) error {
	if s.cfg.Keys == nil {
		return errLink
	}
	ctx := r.Context()
	c, err := s.cfg.Keys.Open(r.PathValue("token"), s.now(), login.PurposeInvite, login.PurposeMeterEntry)
	if err != nil {
		return errLink
	}
	err = store.UseLoginToken(ctx, s.db, c.TokenID, c.Tenant, c.Identity, c.Customer, string(c.Purpose))
	if errors.Is(err, store.ErrNotFound) {
		return errLink
	}
	if err != nil {
		return err
	}
	if err := store.LinkIdentityCustomers(ctx, s.db, c.Tenant, c.Identity); err != nil {
		return err
	}
	customers, err := store.IdentityCustomers(ctx, s.db, c.Tenant, c.Identity)
	if err != nil {
		return err
	}
	active, ok := pick(customers, c.Customer)
	if !ok {
		return errLink // the customer is gone
	}
	invite := c.Purpose == login.PurposeInvite
	if err := s.startSession(w, r, store.NewSession{TenantID: c.Tenant, IdentityID: c.Identity, CustomerID: active.ID,
		Purpose: string(c.Purpose), MustChangePassword: invite}); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "portal link opened", slog.Int64("tenant_id", c.Tenant), slog.Int64("identity_id", c.Identity),
		slog.String("purpose", string(c.Purpose)))
	next := "/portal/readings"
	if invite {
		next = "/portal/password"
	}
	return s.redirect(w, r, next, map[string]any{"customer": companyJSON(active, true), "must_change_password": invite})
}

// pick returns the customer with id, else the first one.
func pick(customers []store.PortalCustomer, id int64) (store.PortalCustomer, bool) {
	for _, c := range customers {
		if c.ID == id {
			return c, true
		}
	}
	if len(customers) > 0 {
		return customers[0], true
	}
	return store.PortalCustomer{}, false
}

// redirect answers a browser with 303 to next, a JSON client with 200 and body plus "next".
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, next string, body map[string]any) error {
	if wantsJSON(r) {
		if body == nil {
			body = map[string]any{}
		}
		body["next"] = next
		writeJSON(w, http.StatusOK, body)
		return nil
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

func (s *Server) passwordForm(w http.ResponseWriter, r *http.Request, p *page, sess store.Session, _ string) error {
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]any{"fields": []string{"password", "password_confirm"},
			"min_length": login.MinPasswordLen, "must_change_password": sess.MustChangePassword})
		return nil
	}
	s.render(w, r, p, http.StatusOK, "password", map[string]any{"Title": "password.title", "MinLen": login.MinPasswordLen})
	return nil
}

// setPassword checks the rules (422 saying why) and stores the new password; the
// session gets a new id and the person goes to the home page.
func (s *Server) setPassword(w http.ResponseWriter, r *http.Request, p *page, sess store.Session, id string) error {
	f, err := fields(w, r, "password", "password_confirm")
	if err != nil {
		return err
	}
	ctx := r.Context()
	identity, err := store.GetIdentity(ctx, s.db, sess.TenantID, sess.IdentityID)
	if err != nil {
		return err
	}
	email, loginID := "", ""
	if identity.Email != nil {
		email = *identity.Email
	}
	if identity.LoginID != nil {
		loginID = *identity.LoginID
	}
	if problem := login.PasswordProblemIn(p.lang, f["password"], f["password_confirm"], email, loginID); problem != "" {
		if wantsJSON(r) {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": problem})
			return nil
		}
		s.render(w, r, p, http.StatusUnprocessableEntity, "password", map[string]any{"Title": "password.title",
			"MinLen": login.MinPasswordLen, "Problem": problem})
		return nil
	}
	if err := store.SetIdentityPassword(ctx, s.db, sess.TenantID, sess.IdentityID, login.HashPassword(f["password"])); err != nil {
		return err
	}
	fresh := newSessionID()
	if err := store.RotateSession(ctx, s.db, store.HashSessionID(id), store.HashSessionID(fresh), sess.CustomerID); err != nil {
		return err
	}
	s.setCookie(w, fresh)
	s.log.InfoContext(ctx, "portal password set", slog.Int64("tenant_id", sess.TenantID), slog.Int64("identity_id", sess.IdentityID))
	return s.redirect(w, r, "/portal/", map[string]any{"status": "password_set"})
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request, p *page) error {
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]any{"fields": []string{"email", "password"}})
		return nil
	}
	s.render(w, r, p, http.StatusOK, "login", map[string]any{"Title": "login.title"})
	return nil
}

// clientIP is the connection's address: X-Forwarded-For is not trusted (a proxy in
// front must be configured to pass the client's address as the connection's).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func tooMany() *pageError {
	return &pageError{status: http.StatusTooManyRequests, title: "err.too_many.title", message: "err.too_many"}
}

// limit counts an attempt against the address and the client IP.
func (s *Server) limit(r *http.Request, kind, address string, perAddress, perIP rate) error {
	now := s.now()
	ok1, wait1 := s.limits.allow(kind+"|a|"+store.NormalizeEmail(address), perAddress, now)
	ok2, wait2 := s.limits.allow(kind+"|ip|"+clientIP(r), perIP, now)
	if ok1 && ok2 {
		return nil
	}
	e := tooMany()
	e.retryAfter = max(wait1, wait2)
	return e
}

var errWrongLogin = &pageError{status: http.StatusUnauthorized, title: "login.wrong.title", message: "login.wrong"}

// login checks an e-mail address or login ID with its password.
// Before the login the tenant is not known (one portal serves every tenant): the form
// and its refusals are in the browser's language.
func (s *Server) login(w http.ResponseWriter, r *http.Request, p *page) error {
	f, err := fields(w, r, "email", "password")
	if err != nil {
		return err
	}
	name, pw := strings.TrimSpace(f["email"]), f["password"]
	if err := s.limit(r, "login", name, s.rates.loginPerAddress, s.rates.loginPerIP); err != nil {
		return err
	}
	ctx := r.Context()
	wrong := func() error {
		if wantsJSON(r) {
			return errWrongLogin
		}
		s.render(w, r, p, http.StatusUnauthorized, "login", map[string]any{"Title": "login.title", "Problem": s.say(r, p, errWrongLogin.message), "Email": name})
		return nil
	}
	if name == "" || pw == "" || len(name) > 320 || len(pw) > 1024 {
		login.BurnPasswordCheck(pw)
		return wrong()
	}
	cands, err := store.LoginCandidates(ctx, s.db, name)
	if err != nil {
		return err
	}
	var match *store.LoginCandidate
	for i := range cands {
		if cands[i].Hash != nil && login.VerifyPassword(*cands[i].Hash, pw) && match == nil {
			match = &cands[i]
		}
	}
	if len(cands) == 0 {
		login.BurnPasswordCheck(pw)
	}
	if match == nil {
		return wrong()
	}
	var identity int64
	if match.IdentityID != nil {
		identity = *match.IdentityID
		if err := store.LinkIdentityCustomers(ctx, s.db, match.TenantID, identity); err != nil {
			return err
		}
	} else if identity, err = store.EnsureCustomerIdentity(ctx, s.db, match.TenantID, *match.CustomerID); err != nil {
		return err
	}
	customers, err := store.IdentityCustomers(ctx, s.db, match.TenantID, identity)
	if err != nil {
		return err
	}
	var want int64
	if match.CustomerID != nil {
		want = *match.CustomerID
	}
	active, ok := pick(customers, want)
	if !ok {
		return wrong()
	}
	if err := s.startSession(w, r, store.NewSession{TenantID: match.TenantID, IdentityID: identity, CustomerID: active.ID,
		Purpose: "password", MustChangePassword: match.MustChange}); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "portal login", slog.Int64("tenant_id", match.TenantID), slog.Int64("identity_id", identity))
	next := "/portal/"
	if match.MustChange {
		next = "/portal/password"
	}
	return s.redirect(w, r, next, map[string]any{"customer": companyJSON(active, true), "must_change_password": match.MustChange})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, _ *page) error {
	if id := s.cookieID(r); id != "" {
		if err := store.DeleteSession(r.Context(), s.db, store.HashSessionID(id)); err != nil {
			return err
		}
	}
	s.clearCookie(w)
	return s.redirect(w, r, "/portal/login", map[string]any{"status": "logged_out"})
}

// forgot enqueues the reset mail for any well-formed address: the worker finds out
// whether it is known, so the answer, and its time, are the same either way.
func (s *Server) forgot(w http.ResponseWriter, r *http.Request, p *page) error {
	f, err := fields(w, r, "email")
	if err != nil {
		return err
	}
	email := store.NormalizeEmail(f["email"])
	if err := s.limit(r, "forgot", email, s.rates.forgotPerAddress, s.rates.forgotPerIP); err != nil {
		return err
	}
	if at := strings.LastIndexByte(email, '@'); at > 0 && at < len(email)-1 && len(email) <= 320 && !strings.ContainsAny(email, " \t\r\n") {
		if _, err := s.queue.Enqueue(r.Context(), jobs.PasswordReset{Email: email, RequestID: newSessionID()[:22]}); err != nil {
			return err
		}
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "sent_if_known", "message": s.say(r, p, "forgot.notice")})
		return nil
	}
	s.render(w, r, p, http.StatusOK, "login", map[string]any{"Title": "login.title", "Notice": s.say(r, p, "forgot.notice")})
	return nil
}

type company struct {
	CustomerID int64  `json:"customer_id"`
	Name       string `json:"name"`
	Active     bool   `json:"active"`
}

func companyJSON(c store.PortalCustomer, active bool) company {
	return company{CustomerID: c.ID, Name: c.Name, Active: active}
}

func (s *Server) companyList(r *http.Request, sess store.Session) ([]company, company, error) {
	customers, err := store.IdentityCustomers(r.Context(), s.db, sess.TenantID, sess.IdentityID)
	if err != nil {
		return nil, company{}, err
	}
	out := make([]company, len(customers))
	var active company
	for i, c := range customers {
		out[i] = companyJSON(c, c.ID == sess.CustomerID)
		if out[i].Active {
			active = out[i]
		}
	}
	return out, active, nil
}

// home is the small page after login: the active customer and the switch between them.
func (s *Server) home(w http.ResponseWriter, r *http.Request, p *page, sess store.Session, _ string) error {
	list, active, err := s.companyList(r, sess)
	if err != nil {
		return err
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]any{"customer": active, "companies": list})
		return nil
	}
	type row struct {
		ID     int64
		Name   string
		Active bool
	}
	rows := make([]row, len(list))
	for i, c := range list {
		rows[i] = row{c.CustomerID, c.Name, c.Active}
	}
	s.render(w, r, p, http.StatusOK, "home", map[string]any{"Title": "nav.home", "Active": row{active.CustomerID, active.Name, true}, "Companies": rows})
	return nil
}

func (s *Server) companies(w http.ResponseWriter, r *http.Request, p *page, sess store.Session, id string) error {
	if !wantsJSON(r) {
		return s.home(w, r, p, sess, id)
	}
	list, _, err := s.companyList(r, sess)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

// switchCustomer makes another of the person's customers the active one; the session
// gets a new id.
func (s *Server) switchCustomer(w http.ResponseWriter, r *http.Request, _ *page, sess store.Session, id string) error {
	f, err := fields(w, r, "customer_id")
	if err != nil {
		return err
	}
	notYours := &pageError{status: http.StatusNotFound, title: "err.not_found.title", message: "err.no_company"}
	want, err := strconv.ParseInt(strings.TrimSpace(f["customer_id"]), 10, 64)
	if err != nil {
		return notYours
	}
	customers, err := store.IdentityCustomers(r.Context(), s.db, sess.TenantID, sess.IdentityID)
	if err != nil {
		return err
	}
	var target *store.PortalCustomer
	for i := range customers {
		if customers[i].ID == want {
			target = &customers[i]
		}
	}
	if target == nil {
		return notYours
	}
	fresh := newSessionID()
	if err := store.RotateSession(r.Context(), s.db, store.HashSessionID(id), store.HashSessionID(fresh), target.ID); err != nil {
		return err
	}
	s.setCookie(w, fresh)
	return s.redirect(w, r, "/portal/", map[string]any{"customer": companyJSON(*target, true)})
}
