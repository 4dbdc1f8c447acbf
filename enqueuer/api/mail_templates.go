package api

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"unicode/utf8"

	"portalwerk/store"
	"portalwerk/templates"
)

// meterRequestTemplate is the name of the meter-request mail's text block; its default
// is templates/mail/meter-request.<locale>.html.
const meterRequestTemplate = "meter-request"

// maxTemplateBytes bounds a text block.
const maxTemplateBytes = 64 << 10

// urlPlaceholder is what the mail replaces with the contact's login link.
const urlPlaceholder = "#URL#"

// getMeterRequestTemplate answers the tenant's meter-request text block as HTML, or the
// default when the tenant has none (X-Template-Source says which).
func (s *Server) getMeterRequestTemplate(w http.ResponseWriter, r *http.Request, caller store.Account) error {
	body, err := store.MailTemplate(r.Context(), s.db, caller.TenantID, meterRequestTemplate)
	source := "tenant"
	if errors.Is(err, store.ErrNotFound) {
		source = "default"
		b, ferr := fs.ReadFile(templates.FS, "mail/"+meterRequestTemplate+".de.html")
		if ferr != nil {
			return fmt.Errorf("default template: %w", ferr)
		}
		body, err = string(b), nil
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Template-Source", source)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; sandbox")
	io.WriteString(w, body)
	return nil
}

// putMeterRequestTemplate replaces the tenant's meter-request text block: HTML in the
// body, valid UTF-8, at most 64 KiB, with the placeholder #URL#.
func (s *Server) putMeterRequestTemplate(w http.ResponseWriter, r *http.Request, caller store.Account) error {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxTemplateBytes))
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return &Error{http.StatusRequestEntityTooLarge, fmt.Sprintf("Der Textbaustein ist zu groß (höchstens %d KiB).", maxTemplateBytes>>10)}
	}
	if err != nil {
		return BadRequest("Der Textbaustein konnte nicht gelesen werden.")
	}
	body := string(raw)
	if !utf8.ValidString(body) || strings.ContainsFunc(body, func(r rune) bool { return r < 0x20 && r != '\n' && r != '\r' && r != '\t' }) {
		return BadRequest("Der Textbaustein muss UTF-8-Text ohne Steuerzeichen sein.")
	}
	if strings.TrimSpace(body) == "" {
		return BadRequest("Der Textbaustein ist leer.")
	}
	if !strings.Contains(body, urlPlaceholder) {
		return BadRequest("Der Textbaustein muss den Platzhalter " + urlPlaceholder + " enthalten: an seiner Stelle steht in der Mail der Link zur Zählerstandserfassung.")
	}
	if err := store.SetMailTemplate(r.Context(), s.db, caller.TenantID, meterRequestTemplate, body, caller.ID); err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "template replaced", slog.Int64("tenant_id", caller.TenantID), slog.String("template", meterRequestTemplate),
		slog.Int("bytes", len(body)))
	w.WriteHeader(http.StatusNoContent)
	return nil
}
