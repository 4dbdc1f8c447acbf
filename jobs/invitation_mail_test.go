package jobs

import (
	htmltemplate "html/template"
	"strings"
	"testing"
	"time"
)

// A mail spliced from a chunk's layout is the mail rendering gives, for every template,
// language and greeting (escaping included); a token outside the URL-safe alphabet is
// rendered in full and escaped there.
func TestMailLayoutMatchesRendering(t *testing.T) {
	expires := time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC)
	greetings := []string{"Guten Tag,", "Sehr geehrte Frau O'Brien,", `Dear Ms <script>alert("x")</script> & Co,`,
		"Sehr geehrter Herr Müller+Söhne=1,", "Guten Tag \x00 ä ß €,", ""}
	tokens := []string{"k1.AbC-_~.09", "k1.a b\"<>&"}
	for _, name := range []string{"invitation", "password-reset"} {
		m, err := newInvitationMail(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, lang := range []string{"de", "en"} {
			for _, tenant := range []string{"Hausverwaltung Müller & Söhne", `"Ärger" <GmbH>`} {
				l, err := m.layout(lang, tenant, "https://portal.example/x?a=1&b=2/portal/l/", expires)
				if err != nil {
					t.Fatal(err)
				}
				for _, g := range greetings {
					for _, tok := range tokens {
						got, err := l.message(g, tok, "id-1", "a@example.org")
						if err != nil {
							t.Fatal(err)
						}
						want, err := m.newMessage(lang, tenant, "https://portal.example/x?a=1&b=2/portal/l/"+tok, "id-1", "a@example.org", g, expires)
						if err != nil {
							t.Fatal(err)
						}
						if got != want {
							t.Errorf("%s.%s, %q, %q: spliced mail differs from the rendered one", name, lang, g, tok)
						}
						if strings.Contains(got.HTML, "<script>") || strings.Contains(got.HTML, m.greetMark) || strings.Contains(got.Text, m.linkMark) {
							t.Errorf("%s.%s, %q: unescaped value or a mark left in the mail", name, lang, g)
						}
					}
				}
			}
		}
	}
}

// A template that puts the greeting where it is not HTML text (here a URL) cannot be
// spliced: newInvitationMail refuses it instead of escaping it wrongly.
func TestMailLayoutRefusesGreetingOutsideText(t *testing.T) {
	m, err := newInvitationMail("invitation")
	if err != nil {
		t.Fatal(err)
	}
	m.html["de"] = htmltemplate.Must(htmltemplate.New("x").Parse(`<a href="https://x.example/?g={{.Greeting}}">{{.Link}}</a>`))
	if err := m.checkLayout("de"); err == nil {
		t.Error("a greeting inside a URL passed the layout check")
	}
}
