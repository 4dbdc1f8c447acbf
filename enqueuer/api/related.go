package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"portalwerk/store"
)

// loadCustomer reads the customer named in the path, scoped to the caller's tenant; a
// member sees only its own account's customers, another's is not found.
func (s *Server) loadCustomer(r *http.Request, caller store.Account) (store.Customer, error) {
	notFound := NotFound("Diesen Kunden gibt es nicht.")
	id, err := strconv.ParseInt(r.PathValue("portal_id"), 10, 64)
	if err != nil {
		return store.Customer{}, notFound
	}
	c, err := store.GetCustomer(r.Context(), s.db, caller.TenantID, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && !visible(caller, c.AccountID) {
		return store.Customer{}, notFound
	}
	return c, err
}

// decodeJSON reads a small JSON body into dst: at most maxBodyBytes, no unknown fields.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		if errors.Is(err, io.EOF) {
			return BadRequest("Bitte senden Sie die Angaben als JSON im Rumpf der Anfrage.")
		}
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return BadRequest(fmt.Sprintf("Die Anfrage ist zu groß (höchstens %d KiB).", maxBodyBytes>>10))
		}
		return BadRequest("Die Angaben sind kein gültiges JSON: " + err.Error())
	}
	return nil
}

// text checks a free-text field: valid UTF-8, no control characters but line breaks
// and tabs, at most max characters.
func text(field, v string, max int) (string, error) {
	if !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' || r == 0x7f }) {
		return "", BadRequest("„" + field + "“ enthält unzulässige Zeichen.")
	}
	if utf8.RuneCountInString(v) > max {
		return "", BadRequest(fmt.Sprintf("„%s“ ist zu lang (höchstens %d Zeichen).", field, max))
	}
	return strings.TrimSpace(v), nil
}

func date(field, v string) (string, error) {
	if _, err := time.Parse(time.DateOnly, v); err != nil {
		return "", BadRequest("„" + field + "“ muss ein Datum der Form JJJJ-MM-TT sein, z. B. 2026-12-01.")
	}
	return v, nil
}

func (s *Server) listAppointments(w http.ResponseWriter, r *http.Request, caller store.Account) error {
	return listOf(s, w, r, caller, store.Appointments)
}

func (s *Server) listVisitReports(w http.ResponseWriter, r *http.Request, caller store.Account) error {
	return listOf(s, w, r, caller, store.VisitReports)
}

func (s *Server) listVisitBlocks(w http.ResponseWriter, r *http.Request, caller store.Account) error {
	return listOf(s, w, r, caller, store.VisitBlocks)
}

func listOf[T any](s *Server, w http.ResponseWriter, r *http.Request, caller store.Account,
	list func(ctx context.Context, db sqlx.QueryerContext, c store.Customer) ([]T, error)) error {
	c, err := s.loadCustomer(r, caller)
	if err != nil {
		return err
	}
	items, err := list(r.Context(), s.db, c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, items)
	return nil
}

func (s *Server) addAppointment(w http.ResponseWriter, r *http.Request, caller store.Account) error {
	var body struct {
		StartsAt string `json:"starts_at"`
		Subject  string `json:"subject"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	startsAt, err := time.Parse(time.RFC3339, body.StartsAt)
	if err != nil {
		return BadRequest("„starts_at“ muss Datum und Uhrzeit mit Zeitzone sein, z. B. 2026-12-03T09:00:00+01:00.")
	}
	subject, err := text("subject", body.Subject, 500)
	if err != nil {
		return err
	}
	c, err := s.loadCustomer(r, caller)
	if err != nil {
		return err
	}
	a, err := store.AddAppointment(r.Context(), s.db, c, startsAt, subject)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, a)
	return nil
}

func (s *Server) addVisitReport(w http.ResponseWriter, r *http.Request, caller store.Account) error {
	var body struct {
		VisitedOn string `json:"visited_on"`
		Text      string `json:"text"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	on, err := date("visited_on", body.VisitedOn)
	if err != nil {
		return err
	}
	report, err := text("text", body.Text, 20000)
	if err != nil {
		return err
	}
	c, err := s.loadCustomer(r, caller)
	if err != nil {
		return err
	}
	v, err := store.AddVisitReport(r.Context(), s.db, c, on, report)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, v)
	return nil
}

func (s *Server) addVisitBlock(w http.ResponseWriter, r *http.Request, caller store.Account) error {
	var body struct {
		From   string `json:"from"`
		Until  string `json:"until"`
		Reason string `json:"reason"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	from, err := date("from", body.From)
	if err != nil {
		return err
	}
	until, err := date("until", body.Until)
	if err != nil {
		return err
	}
	if until < from {
		return BadRequest("„until“ darf nicht vor „from“ liegen.")
	}
	reason, err := text("reason", body.Reason, 500)
	if err != nil {
		return err
	}
	c, err := s.loadCustomer(r, caller)
	if err != nil {
		return err
	}
	b, err := store.AddVisitBlock(r.Context(), s.db, c, from, until, reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, b)
	return nil
}

// noTransferPermission refuses a transfer to an account without can_transfer, admin or not.
const noTransferPermission = "Ihr Benutzerkonto hat keine Berechtigung zum Transferieren von Kunden."

// transferCustomer is the manual transfer of one customer to another account of the
// tenant: the same permission (admin with can_transfer) and rules as an import's.
func (s *Server) transferCustomer(w http.ResponseWriter, r *http.Request, caller store.Account) error {
	if !caller.CanTransfer {
		return Forbidden(noTransferPermission)
	}
	var body struct {
		ToAccount string `json:"to_account"`
		Mode      string `json:"mode"`
		Related   bool   `json:"related"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	mode := store.TransferMode(body.Mode)
	if mode != store.TransferMove && mode != store.TransferCopy {
		return BadRequest("„mode“ muss move (verschieben) oder copy (kopieren) sein.")
	}
	if body.ToAccount == "" {
		return BadRequest("„to_account“ fehlt: das Benutzerkonto, zu dem der Kunde transferiert wird.")
	}
	target, err := s.targetAccount(r, caller, body.ToAccount)
	if err != nil {
		return err
	}
	c, err := s.loadCustomer(r, caller)
	if err != nil {
		return err
	}
	if c.AccountID == target.ID {
		return Conflict("Der Kunde gehört bereits zum Benutzerkonto „" + target.Name + "“.")
	}
	var out store.Customer
	err = store.InTx(r.Context(), s.db, func(tx *sqlx.Tx) error {
		var err error
		out, err = store.TransferCustomer(r.Context(), tx, caller.TenantID, c.PortalID, target.ID, mode, body.Related)
		return err
	})
	if errors.Is(err, store.ErrConflict) {
		return Conflict(fmt.Sprintf("Im Benutzerkonto „%s“ gibt es bereits einen Kunden mit der externen ID „%s“.", target.Name, *c.ExternalID))
	}
	if err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "customer transferred", slog.Int64("tenant_id", caller.TenantID),
		slog.Int64("portal_id", c.PortalID), slog.Int64("new_portal_id", out.PortalID), slog.String("to_account", target.Name),
		slog.String("mode", string(mode)), slog.Bool("related", body.Related))
	status := http.StatusOK
	if mode == store.TransferCopy {
		status = http.StatusCreated
	}
	writeJSON(w, status, out)
	return nil
}
