package portal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"golang.org/x/text/language"

	"portalwerk/templates"
)

// langs are the portal's languages, as templates.Lang names them; the first is the default.
var langs = [...]string{"de", "en"}

// page is what one request's answer is written with: its language and the tenant's name
// for the header ("" until the tenant is known).
type page struct {
	lang   string
	tenant string
}

// catalog holds every sentence of the portal pages by language and key
// (templates/portal/text.json).
type catalog map[string]map[string]string

// loadCatalog reads text.json and refuses a key without a text in every language.
func loadCatalog() (catalog, error) {
	raw, err := fs.ReadFile(templates.FS, "portal/text.json")
	if err != nil {
		return nil, fmt.Errorf("portal: texts: %w", err)
	}
	var byKey map[string]map[string]string
	if err := json.Unmarshal(raw, &byKey); err != nil {
		return nil, fmt.Errorf("portal: texts: %w", err)
	}
	c := catalog{}
	for _, l := range langs {
		c[l] = map[string]string{}
	}
	for key, texts := range byKey {
		for _, l := range langs {
			if texts[l] == "" {
				return nil, fmt.Errorf("portal: text %q has no %s version", key, l)
			}
			c[l][key] = texts[l]
		}
	}
	return c, nil
}

// text is the sentence key in lang with args filled in; an unknown key is an error, so
// a page that names one fails to render instead of showing the key.
func (c catalog) text(lang, key string, args ...any) (string, error) {
	s, ok := c[lang][key]
	if !ok {
		return "", fmt.Errorf("portal: no %s text %q", lang, key)
	}
	if len(args) > 0 {
		s = fmt.Sprintf(s, args...)
	}
	return s, nil
}

// parsePages parses every page once per language, each with its language's functions:
// t (a text by key), num (a decimal in the language's notation) and day (an ISO date).
func parsePages(c catalog, names []string) (map[string]map[string]*template.Template, error) {
	out := map[string]map[string]*template.Template{}
	for _, l := range langs {
		fm := template.FuncMap{
			"t":   func(key string, args ...any) (string, error) { return c.text(l, key, args...) },
			"num": func(v json.Number) string { return templates.Number(l, v.String()) },
			"day": func(iso string) (string, error) {
				d, err := time.Parse(time.DateOnly, iso)
				if err != nil {
					return "", fmt.Errorf("portal: date %q: %w", iso, err)
				}
				return templates.Date(l, d), nil
			},
		}
		out[l] = map[string]*template.Template{}
		for _, name := range names {
			t, err := template.New(name).Funcs(fm).ParseFS(templates.FS, "portal/layout.html", "portal/"+name+".html")
			if err != nil {
				return nil, fmt.Errorf("portal: page %s: %w", name, err)
			}
			out[l][name] = t
		}
	}
	return out, nil
}

// acceptLang is the language of a request whose tenant is not known (yet): the browser's
// Accept-Language, German when it names neither.
func (s *Server) acceptLang(r *http.Request) string {
	tags, _, err := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	if err != nil || len(tags) == 0 {
		return langs[0]
	}
	_, i, conf := s.matcher.Match(tags...)
	if conf == language.No {
		return langs[0]
	}
	return langs[i]
}

// say is the sentence key in the page's language; a missing key is logged and answered
// with the key itself (the catalog test keeps every key of the code in text.json).
func (s *Server) say(r *http.Request, p *page, key string, args ...any) string {
	t, err := s.text.text(p.lang, key, args...)
	if err != nil {
		s.log.ErrorContext(r.Context(), "portal text", slog.String("key", key), slog.Any("err", err))
		return key
	}
	return t
}

// render writes the page name with data (a map holding at least Title, a text key); the
// layout gets the language and the tenant from p.
func (s *Server) render(w http.ResponseWriter, r *http.Request, p *page, status int, name string, data map[string]any) {
	data["Lang"], data["Tenant"] = p.lang, p.tenant
	var buf bytes.Buffer
	if err := s.pages[p.lang][name].ExecuteTemplate(&buf, "layout", data); err != nil {
		s.log.ErrorContext(r.Context(), "render portal page", slog.String("page", name), slog.String("lang", p.lang), slog.Any("err", err))
		http.Error(w, s.say(r, p, "err.internal"), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", p.lang)
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
