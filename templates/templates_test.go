package templates

import (
	"io/fs"
	"strings"
	"testing"
	"time"
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

func TestNumberAndDate(t *testing.T) {
	for _, tc := range []struct{ lang, in, want string }{
		{"de", "12345.50", "12.345,50"}, {"en", "12345.50", "12,345.50"}, {"de", "-1234567", "-1.234.567"},
		{"en", "999", "999"}, {"en", "1000", "1,000"}, {"de", "0.5", "0,5"},
	} {
		if got := Number(tc.lang, tc.in); got != tc.want {
			t.Errorf("Number(%s, %s) = %s, want %s", tc.lang, tc.in, got, tc.want)
		}
	}
	day := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	if got := Date("de", day); got != "03.11.2026" {
		t.Errorf("German date %s", got)
	}
	if got := Date("en", day); got != "3 Nov 2026" {
		t.Errorf("English date %s", got)
	}
}
