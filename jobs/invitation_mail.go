package jobs

import (
	"crypto/rand"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"

	"portalwerk/jobs/mail"
	"portalwerk/store"
	"portalwerk/templates"
)

// inviteTTL is how long an invitation link stays valid (and only until a password is set).
const inviteTTL = 30 * 24 * time.Hour

// invitationMail renders a mail in German and English: the HTML part (html/template
// escapes every value), the plain-text part and the subject (text/template).
type invitationMail struct {
	html map[string]*htmltemplate.Template
	text map[string]*texttemplate.Template
	// esc is html/template's escaping of a value in HTML text, for a greeting spliced in.
	esc *htmltemplate.Template
	// greetMark and linkMark stand for the per-recipient values in a layout: letters and
	// digits only (no escaper changes them), random so no tenant name contains them.
	greetMark, linkMark string
}

func newInvitationMail(name string) (*invitationMail, error) {
	mark := "pw" + rand.Text()
	m := &invitationMail{html: map[string]*htmltemplate.Template{}, text: map[string]*texttemplate.Template{},
		esc: htmltemplate.Must(htmltemplate.New("esc").Parse("{{.}}")), greetMark: mark + "G", linkMark: mark + "L"}
	for _, lang := range []string{"de", "en"} {
		h, err := htmltemplate.ParseFS(templates.FS, "mail/"+name+"."+lang+".html")
		if err != nil {
			return nil, fmt.Errorf("mail template %s.%s: %w", name, lang, err)
		}
		tx, err := texttemplate.ParseFS(templates.FS, "mail/"+name+"."+lang+".txt")
		if err != nil {
			return nil, fmt.Errorf("mail template %s.%s: %w", name, lang, err)
		}
		m.html[lang], m.text[lang] = h, tx
		if err := m.checkLayout(lang); err != nil {
			return nil, fmt.Errorf("mail template %s.%s: %w", name, lang, err)
		}
	}
	return m, nil
}

// spliceProbe is a greeting with every character an escaper treats specially.
const spliceProbe = "Sehr geehrte Frau <b>O'Brien & \"Söhne\"</b> +=/?#%;`\x00,"

// checkLayout proves that a layout gives what rendering gives, for a greeting full of
// special characters: the templates use the greeting only where html/template escapes
// it as text (else a spliced one would be escaped wrongly) and the link token verbatim.
func (m *invitationMail) checkLayout(lang string) error {
	const tok = "k1.AZaz09-_.~"
	expires := time.Date(2026, 12, 24, 0, 0, 0, 0, time.UTC)
	l, err := m.layout(lang, "Müller & <Söhne>", "https://portal.example/portal/l/", expires)
	if err != nil {
		return err
	}
	got, err := l.message(spliceProbe, tok, "id", "a@example.org")
	if err != nil {
		return err
	}
	want, err := m.newMessage(lang, "Müller & <Söhne>", "https://portal.example/portal/l/"+tok, "id", "a@example.org",
		spliceProbe, expires)
	if err != nil {
		return err
	}
	if got != want {
		return errors.New("the greeting or the link stands where it cannot be filled in per recipient (not as HTML text)")
	}
	return nil
}

// mailLayout is a chunk's mail in one language, rendered once with marks for the
// greeting and the link's token, cut at them: each recipient's mail is its pieces with
// the values in between, html/template-escaped as rendering would (checkLayout).
type mailLayout struct {
	m                   *invitationMail
	lang, tenant        string
	linkPrefix          string
	expires             time.Time
	subject, html, text splice
}

// layout renders lang's mail for tenant with links linkPrefix+token expiring at expires.
func (m *invitationMail) layout(lang, tenant, linkPrefix string, expires time.Time) (*mailLayout, error) {
	subject, html, text, err := m.render(lang, mailData{Tenant: tenant, Greeting: m.greetMark, Link: linkPrefix + m.linkMark,
		Expires: expiresText(lang, expires)})
	if err != nil {
		return nil, err
	}
	marks := []string{m.greetMark, m.linkMark}
	return &mailLayout{m: m, lang: lang, tenant: tenant, linkPrefix: linkPrefix, expires: expires,
		subject: cut(subject, marks), html: cut(html, marks), text: cut(text, marks)}, nil
}

// message is one recipient's mail; a token outside the URL-safe alphabet (a key id of
// another shape) is rendered in full.
func (l *mailLayout) message(greeting, token, id, to string) (mail.Message, error) {
	if !urlSafe(token) {
		return l.m.newMessage(l.lang, l.tenant, l.linkPrefix+token, id, to, greeting, l.expires)
	}
	var esc strings.Builder
	if err := l.m.esc.Execute(&esc, greeting); err != nil {
		return mail.Message{}, fmt.Errorf("render invitation: %w", err)
	}
	return mail.Message{To: to, Subject: l.subject.fill(greeting, token), HTML: l.html.fill(esc.String(), token),
		Text: l.text.fill(greeting, token), ID: id}, nil
}

// urlSafe says whether s has only the characters that every HTML and URL escaper leaves
// as they are.
func urlSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// splice is a rendered text cut at marks: pieces[0], value of slots[0], pieces[1], …
type splice struct {
	pieces []string
	slots  []int // index of the mark (and of the value) after each piece but the last
	fixed  int   // bytes of all pieces
}

func cut(s string, marks []string) splice {
	var sp splice
	sp.fixed = len(s)
	for {
		at, which := -1, -1
		for i, mk := range marks {
			if j := strings.Index(s, mk); j >= 0 && (at < 0 || j < at) {
				at, which = j, i
			}
		}
		if at < 0 {
			sp.pieces = append(sp.pieces, s)
			return sp
		}
		sp.pieces = append(sp.pieces, s[:at])
		sp.slots = append(sp.slots, which)
		sp.fixed -= len(marks[which])
		s = s[at+len(marks[which]):]
	}
}

// fill puts the values (in the order of the marks) between the pieces.
func (sp splice) fill(vals ...string) string {
	if len(sp.slots) == 0 {
		return sp.pieces[0]
	}
	n := sp.fixed
	for _, k := range sp.slots {
		n += len(vals[k])
	}
	var b strings.Builder
	b.Grow(n)
	for i, k := range sp.slots {
		b.WriteString(sp.pieces[i])
		b.WriteString(vals[k])
	}
	b.WriteString(sp.pieces[len(sp.pieces)-1])
	return b.String()
}

// mailData is what an invitation shows.
type mailData struct {
	Tenant   string
	Greeting string
	Link     string
	Expires  string
}

func (m *invitationMail) render(lang string, d mailData) (subject, html, text string, err error) {
	var hb, sb, tb strings.Builder
	// The subject is plain text: a header, not HTML.
	if err = m.text[lang].ExecuteTemplate(&sb, "subject", d); err == nil {
		if err = m.html[lang].Execute(&hb, d); err == nil {
			err = m.text[lang].Execute(&tb, d)
		}
	}
	if err != nil {
		return "", "", "", fmt.Errorf("render invitation: %w", err)
	}
	return strings.TrimSpace(sb.String()), hb.String(), tb.String(), nil
}

// greeting addresses the customer by salutation and last name when both are known.
func greeting(lang string, r store.Recipient) string {
	s := func(p *string) string {
		if p == nil {
			return ""
		}
		return strings.TrimSpace(*p)
	}
	sal, last, first := s(r.Salutation), s(r.LastName), s(r.FirstName)
	if lang == "en" {
		switch strings.ToLower(sal) {
		case "herr", "mr", "mr.":
			sal = "Mr"
		case "frau", "mrs", "mrs.", "ms", "ms.":
			sal = "Ms"
		}
		if last != "" && sal != "" {
			return "Dear " + sal + " " + last + ","
		}
		if name := strings.TrimSpace(first + " " + last); name != "" {
			return "Dear " + name + ","
		}
		return "Hello,"
	}
	switch strings.ToLower(sal) {
	case "herr":
		if last != "" {
			return "Sehr geehrter Herr " + last + ","
		}
	case "frau":
		if last != "" {
			return "Sehr geehrte Frau " + last + ","
		}
	}
	if name := strings.TrimSpace(first + " " + last); name != "" {
		return "Guten Tag " + name + ","
	}
	return "Guten Tag,"
}

func expiresText(lang string, t time.Time) string {
	t = t.In(berlin())
	if lang == "en" {
		return t.Format("2 January 2006")
	}
	return t.Format("02.01.2006")
}

// berlin is the users' time zone; without tzdata, UTC.
func berlin() *time.Location {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		return time.UTC
	}
	return loc
}

// newMessage renders one mail in full; id makes duplicates traceable.
func (m *invitationMail) newMessage(lang, tenant, link, id, to, greeting string, expires time.Time) (mail.Message, error) {
	subject, html, text, err := m.render(lang, mailData{Tenant: tenant, Greeting: greeting, Link: link, Expires: expiresText(lang, expires)})
	if err != nil {
		return mail.Message{}, err
	}
	return mail.Message{To: to, Subject: subject, HTML: html, Text: text, ID: id}, nil
}
