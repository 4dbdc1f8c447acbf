package portal

import (
	"context"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"portalwerk/store"
	"portalwerk/templates"
)

// shown is one page as the portal answered it.
type shown struct {
	name string
	code int
	want int
	body string
}

// langWorld is meterWorld with Lena's portal access (portal-ready) and her customer
// K-1 speaking locale: a session for her, one that must still set its password, and
// the register ids of K-1's V-1.
func langWorld(t *testing.T, locale string) (b *bundle, sess, fresh string, sw, color int64) {
	b, email := meterWorld(t)
	ctx := context.Background()
	if r := b.portalReady(); r.Status != store.RunDone {
		t.Fatalf("portal-ready: %s %v", r.Status, r.Counts)
	}
	var customer, identity int64
	if err := b.db.Get(&customer, `UPDATE customers SET locale = $3 WHERE tenant_id = $1 AND external_id = $2 RETURNING id`,
		b.acc.TenantID, "K-1", locale); err != nil {
		t.Fatal(err)
	}
	if err := b.db.Get(&identity, `SELECT id FROM portal_identities WHERE tenant_id = $1 AND email = $2`, b.acc.TenantID, store.NormalizeEmail(email)); err != nil {
		t.Fatal(err)
	}
	newSession := func(mustChange bool) string {
		id := newSessionID()
		if err := store.CreateSession(ctx, b.db, store.NewSession{IDHash: store.HashSessionID(id), TenantID: b.acc.TenantID, IdentityID: identity,
			CustomerID: customer, Purpose: "meter-entry", MustChangePassword: mustChange, Lifetime: time.Hour}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	sw, color = b.register("V-1", "Schwarz/Weiß"), b.register("V-1", "Farbe")
	return b, newSession(false), newSession(true), sw, color
}

// everyPage drives every portal page template and its states in the language of
// locale (the customer's, and the browser's Accept-Language before login).
func everyPage(t *testing.T, locale string) []shown {
	b, sess, fresh, sw, color := langWorld(t, locale)
	browser := map[string]string{"Accept-Language": map[string]string{"de": "de-DE,de;q=0.9", "en": "en-GB,en;q=0.9,de;q=0.3"}[locale]}
	var out []shown
	show := func(name, method, path, cookie string, form url.Values, want int) resp {
		t.Helper()
		res := b.do(method, path, cookie, form, browser)
		out = append(out, shown{name, res.code, want, res.body})
		return res
	}
	reg := func(id int64) string { return strconv.FormatInt(id, 10) }

	// Before login: the browser's language.
	show("login", "GET", "/portal/login", "", nil, http.StatusOK)
	show("login refused", "POST", "/portal/login", "", url.Values{"email": {"niemand@example.de"}, "password": {"falsch-falsch"}}, http.StatusUnauthorized)
	show("forgot", "POST", "/portal/forgot", "", url.Values{"email": {"niemand@example.de"}}, http.StatusOK)
	show("landing", "GET", "/portal/l/kaputt.token", "", nil, http.StatusOK)
	show("link refused", "POST", "/portal/l/kaputt.token", "", url.Values{}, http.StatusUnauthorized)
	show("not found", "GET", "/portal/gibt-es-nicht", "", nil, http.StatusNotFound)
	cross := b.do("POST", "/portal/login", "", url.Values{}, map[string]string{"Origin": "https://evil.example", "Accept-Language": browser["Accept-Language"]})
	out = append(out, shown{"cross-site", cross.code, http.StatusForbidden, cross.body})
	// The landing page of a readable link: the language of the link's customer.
	if _, err := b.db.Exec(`UPDATE customers SET locale = $2 WHERE id = $1`, b.custA, locale); err != nil {
		t.Fatal(err)
	}
	tok, _ := b.token("invite", "invite", time.Now().Add(time.Hour))
	show("landing of a link", "GET", "/portal/l/"+tok, "", nil, http.StatusOK)

	// After login: the customer's language.
	show("password", "GET", "/portal/password", fresh, nil, http.StatusOK)
	show("password refused", "POST", "/portal/password", fresh, url.Values{"password": {"kurz"}, "password_confirm": {"kurz"}}, http.StatusUnprocessableEntity)
	show("password first", "GET", "/portal/readings", fresh, nil, http.StatusForbidden)
	show("home", "GET", "/portal/", sess, nil, http.StatusOK)
	show("companies", "GET", "/portal/companies", sess, nil, http.StatusOK)
	show("switch refused", "POST", "/portal/switch", sess, url.Values{"customer_id": {"0"}}, http.StatusNotFound)
	show("readings", "GET", "/portal/readings", sess, nil, http.StatusOK)
	show("reading hint", "POST", "/portal/readings", sess, url.Values{"register_id": {reg(color)}, "value": {"900"}}, http.StatusUnprocessableEntity)
	show("reading bad date", "POST", "/portal/readings", sess, url.Values{"register_id": {reg(color)}, "value": {"1100"}, "read_on": {"gestern"}}, http.StatusUnprocessableEntity)
	show("reading bad value", "POST", "/portal/readings", sess, url.Values{"register_id": {reg(color)}, "value": {"1.2.3"}}, http.StatusUnprocessableEntity)
	show("reading unknown", "POST", "/portal/readings", sess, url.Values{"register_id": {"0"}, "value": {"1"}}, http.StatusNotFound)
	show("reading saved", "POST", "/portal/readings", sess, url.Values{"register_id": {reg(sw)}, "value": {"1500"}}, http.StatusSeeOther)
	show("reading confirmed", "POST", "/portal/readings", sess, url.Values{"register_id": {reg(color)}, "value": {"900"}, "confirm_implausible": {"true"}}, http.StatusSeeOther)
	show("readings entered", "GET", "/portal/readings?saved=1", sess, nil, http.StatusOK)
	show("history before release", "GET", "/portal/history", sess, nil, http.StatusOK)
	if r := b.release(); r.Counts["released"] != 1 {
		t.Fatalf("release: %v", r.Counts)
	}
	show("readings released", "GET", "/portal/readings", sess, nil, http.StatusOK)
	show("reading locked", "POST", "/portal/readings", sess, url.Values{"register_id": {reg(sw)}, "value": {"1600"}}, http.StatusConflict)
	show("history", "GET", "/portal/history", sess, nil, http.StatusOK)
	show("no session", "POST", "/portal/readings", "", url.Values{"register_id": {reg(sw)}, "value": {"1"}}, http.StatusUnauthorized)
	return out
}

// catalogTexts returns text.json by language and key.
func catalogTexts(t *testing.T) catalog {
	t.Helper()
	c, err := loadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fragments are the parts of a text between its format verbs, long enough to be telling.
func fragments(s string) []string {
	var out []string
	for _, f := range regexp.MustCompile(`%[a-z]`).Split(s, -1) {
		if f = strings.TrimSpace(f); len([]rune(f)) >= 5 {
			out = append(out, f)
		}
	}
	return out
}

// visible is the text a page shows or reads out: its text and its title, aria-label and
// value attributes, without the style sheet, ids and class names.
func visible(page string) string {
	page = regexp.MustCompile(`(?s)<style>.*</style>`).ReplaceAllString(page, "")
	attr := regexp.MustCompile(`\b(?:title|aria-label|value)="([^"]*)"`)
	return regexp.MustCompile(`<[^>]*>`).ReplaceAllStringFunc(page, func(tag string) string {
		var b strings.Builder
		for _, m := range attr.FindAllStringSubmatch(tag, -1) {
			b.WriteString(" " + m[1] + " ")
		}
		return b.String() + " "
	})
}

// data is what the test world itself names in German (companies, registers, units, the
// entered date): it may stand on an English page.
var dataWords = []string{"Bäckerei Huber", "Café Maier", "Schwarz/Weiß", "Wärme", "Seiten", "kaputt.token", "gestern", "niemand@example.de"}

// TestEveryPageInBothLanguages renders every page template, and the states each has,
// in German and in English through the portal's routes, and fails on a key without a
// text (the page then fails to render), on an English page carrying a German text of
// the catalog or an umlaut outside the test's own data, and the other way round.
func TestEveryPageInBothLanguages(t *testing.T) {
	c := catalogTexts(t)
	for _, lang := range []string{"de", "en"} {
		other := map[string]string{"de": "en", "en": "de"}[lang]
		t.Run(lang, func(t *testing.T) {
			pages := everyPage(t, lang)
			for _, p := range pages {
				if p.code != p.want {
					t.Errorf("%s: %d, want %d:\n%s", p.name, p.code, p.want, p.body)
					continue
				}
				if p.code == http.StatusSeeOther {
					continue
				}
				if !strings.Contains(p.body, `<html lang="`+lang+`">`) {
					t.Errorf("%s: not a %s page:\n%s", p.name, lang, p.body)
				}
				text := visible(p.body)
				for key, foreign := range c[other] {
					if foreign == c[lang][key] {
						continue
					}
					for _, f := range fragments(foreign) {
						if strings.Contains(text, f) && !strings.Contains(c[lang][key], f) {
							t.Errorf("%s (%s): carries %q, the %s text of %q", p.name, lang, f, other, key)
						}
					}
				}
				if lang == "en" {
					body := text
					for _, d := range dataWords {
						body = strings.ReplaceAll(body, d, "")
					}
					if i := strings.IndexAny(body, "äöüÄÖÜß„"); i >= 0 {
						t.Errorf("%s (en): German text left near %q", p.name, body[max(0, i-60):min(len(body), i+60)])
					}
				}
			}
			byName := map[string]string{}
			for _, p := range pages {
				byName[p.name] = p.body
			}
			// The refusals name their reason in the language, the hint its rule.
			for name, want := range map[string]map[string]string{
				"reading hint":     {"de": "Regel „monotonic“", "en": "Rule “monotonic”"},
				"password refused": {"de": "mindestens 10 Zeichen", "en": "at least 10 characters"},
				"reading locked":   {"de": "bereits zur Abrechnung freigegeben", "en": "already been released for billing"},
				"history":          {"de": `<td>500</td></tr>`, "en": `<td>500</td></tr>`},
				"readings":         {"de": "1.000</strong> Seiten vom ", "en": "1,000</strong> Seiten on "},
			} {
				if !strings.Contains(byName[name], want[lang]) {
					t.Errorf("%s (%s) lacks %q:\n%s", name, lang, want[lang], byName[name])
				}
			}
			dates := map[string]string{"de": `\d\d\.\d\d\.\d{4} – \d\d\.\d\d\.\d{4}`, "en": `\d{1,2} [A-Z][a-z]{2} \d{4} – \d{1,2} [A-Z][a-z]{2} \d{4}`}[lang]
			if !regexp.MustCompile(dates).MatchString(strings.Join(strings.Fields(visible(byName["history"])), " ")) {
				t.Errorf("history (%s): the periods' dates are not in the language's notation", lang)
			}
			if !strings.Contains(byName["reading hint"], `value="900"`) {
				t.Errorf("reading hint (%s) does not keep the value", lang)
			}
		})
	}
}

// TestTextKeys: every key the pages and the code name has a text in text.json (New
// refuses a text without every language), and every text there is used.
func TestTextKeys(t *testing.T) {
	c := catalogTexts(t)
	used := map[string]string{}
	pages, err := fs.Glob(templates.FS, "portal/*.html")
	if err != nil || len(pages) != len(pageNames)+1 {
		t.Fatalf("page templates %v (%v), want layout.html and %v", pages, err, pageNames)
	}
	for _, name := range pages {
		b, _ := fs.ReadFile(templates.FS, name)
		for _, m := range regexp.MustCompile(`\{\{t "([^"]+)"`).FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = name
		}
	}
	code, _ := filepath.Glob("*.go")
	for _, name := range code {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`(?:title: |message: |"Title": |say\(r, p, )"([a-z_.]+)"`).FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = name
		}
	}
	if len(used) < 50 {
		t.Fatalf("found only %d keys: %v", len(used), used)
	}
	for key, where := range used {
		if _, ok := c["de"][key]; !ok {
			t.Errorf("%s names %q, which text.json lacks", where, key)
		}
	}
	for key, de := range c["de"] {
		if _, ok := used[key]; !ok {
			t.Errorf("text %q is used nowhere", key)
		}
		if c["en"][key] == de {
			t.Errorf("text %q is not translated: %q in both", key, de)
		}
	}
}

// TestAcceptLanguage: the browser's preference between German and English; German for
// anything else.
func TestAcceptLanguage(t *testing.T) {
	b := setup(t)
	for header, want := range map[string]string{
		"": "de", "en": "en", "en-US,en;q=0.9": "en", "de-DE,de;q=0.9,en;q=0.8": "de", "fr-FR": "de",
		"fr-FR,fr;q=0.9,en;q=0.5": "en", "de;q=0.4,en;q=0.8": "en", "de-AT": "de", "en-GB;q=0.1": "en", ";;;garbage": "de",
	} {
		r, _ := http.NewRequest("GET", base+"/portal/login", nil)
		r.Header.Set("Accept-Language", header)
		if got := b.srv.acceptLang(r); got != want {
			t.Errorf("Accept-Language %q: %s, want %s", header, got, want)
		}
	}
}

// The link's 401 stays the one page whatever the token holds: a revoked link of an
// English customer, opened in a German browser, is answered as any broken link is.
func TestBadLinkPageIgnoresTheTokensLanguage(t *testing.T) {
	b := setup(t)
	if _, err := b.db.Exec(`UPDATE customers SET locale = 'en' WHERE id = $1`, b.custA); err != nil {
		t.Fatal(err)
	}
	tok, id := b.token("invite", "invite", time.Now().Add(time.Hour))
	if _, err := b.db.Exec(`UPDATE login_tokens SET revoked_at = now() WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	de := map[string]string{"Accept-Language": "de-DE"}
	revoked := b.do("POST", "/portal/l/"+tok, "", url.Values{}, de)
	tampered := b.do("POST", "/portal/l/"+tok[:len(tok)-2]+"xx", "", url.Values{}, de)
	if revoked.code != http.StatusUnauthorized || revoked.body != tampered.body || !strings.Contains(revoked.body, "ungültig oder abgelaufen") {
		t.Errorf("revoked %d / tampered %d differ or are not German:\n%s\n%s", revoked.code, tampered.code, revoked.body, tampered.body)
	}
	// The landing page of the still-readable token speaks the customer's English.
	if res := b.do("GET", "/portal/l/"+tok, "", nil, de); !strings.Contains(res.body, ">Continue</button>") || !strings.Contains(res.body, `<html lang="en">`) {
		t.Errorf("landing page of an English customer's link:\n%s", res.body)
	}
	en := b.do("POST", "/portal/l/"+tok, "", url.Values{}, map[string]string{"Accept-Language": "en", "Accept": "application/json"})
	if en.code != http.StatusUnauthorized || !strings.Contains(en.body, `"error":"This link is invalid or has expired.`) {
		t.Errorf("JSON 401 in English: %d %s", en.code, en.body)
	}
}
