package jobs

import (
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
}

func newInvitationMail(name string) (*invitationMail, error) {
	m := &invitationMail{html: map[string]*htmltemplate.Template{}, text: map[string]*texttemplate.Template{}}
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
	}
	return m, nil
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

// newMessage builds recipient r's mail; id makes duplicates traceable.
func (m *invitationMail) newMessage(lang, tenant, link, id, to string, r store.Recipient, expires time.Time) (mail.Message, error) {
	subject, html, text, err := m.render(lang, mailData{Tenant: tenant, Greeting: greeting(lang, r), Link: link, Expires: expiresText(lang, expires)})
	if err != nil {
		return mail.Message{}, err
	}
	return mail.Message{To: to, Subject: subject, HTML: html, Text: text, ID: id}, nil
}
