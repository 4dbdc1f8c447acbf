package templates

import (
	"io/fs"
	"strings"
	"testing"
)

// Every default meter-request template must carry the #URL# placeholder, as a tenant's
// own template must.
func TestMeterRequestTemplatesHaveURL(t *testing.T) {
	for _, lang := range []string{"de", "en"} {
		b, err := fs.ReadFile(FS, "mail/meter-request."+lang+".html")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "#URL#") {
			t.Errorf("%s template lacks #URL#", lang)
		}
	}
}

// The invitation and password mails exist in both languages, as HTML and as plain text
// with the subject, and each carries the link.
func TestInvitationTemplates(t *testing.T) {
	for _, name := range []string{"invitation", "password-reset"} {
		for _, lang := range []string{"de", "en"} {
			for _, ext := range []string{"html", "txt"} {
				b, err := fs.ReadFile(FS, "mail/"+name+"."+lang+"."+ext)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(string(b), "{{.Link}}") || ext == "txt" && !strings.Contains(string(b), `{{define "subject"}}`) {
					t.Errorf("%s.%s.%s lacks the link or the subject", name, lang, ext)
				}
			}
		}
	}
}

func TestLang(t *testing.T) {
	for locale, want := range map[string]string{"": "de", "de": "de", "de-AT": "de", "en": "en", "EN-gb": "en", "fr": "de"} {
		if got := Lang(locale); got != want {
			t.Errorf("Lang(%q) = %q, want %q", locale, got, want)
		}
	}
}
