package portal

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"portalwerk/jobs/plausibility"
	"portalwerk/store"
)

// registerView is a register on the reading page (and its JSON, SPEC §5).
type registerView struct {
	RegisterID      int64        `json:"register_id"`
	Contract        string       `json:"contract"`
	Meter           string       `json:"meter"`
	Register        string       `json:"register"`
	Unit            *string      `json:"unit"`
	LastReading     *json.Number `json:"last_reading"`
	LastReadingDate *string      `json:"last_reading_date"`
	Entered         *enteredView `json:"entered"`
	HowToReadURL    *string      `json:"how_to_read_url"`

	// For the page only.
	Hint, Value, ReadOn string `json:"-"`
	Confirm             bool   `json:"-"`
}

type enteredView struct {
	Value     json.Number `json:"value"`
	ReadOn    string      `json:"read_on"`
	Plausible bool        `json:"plausible"`
	Released  bool        `json:"released"`
}

// periodStart is the first day of the period (by the contract's interval) that day
// falls in.
func periodStart(interval string, day time.Time) time.Time {
	m := day.Month()
	switch interval {
	case "quarterly":
		m = (m-1)/3*3 + 1
	case "yearly":
		m = 1
	}
	return time.Date(day.Year(), m, 1, 0, 0, 0, 0, time.UTC)
}

// releasedThisPeriod says whether the register's latest released reading belongs to the
// period running on today: the period's reading is locked then.
func releasedThisPeriod(g store.PortalRegister, today time.Time) bool {
	return g.LastOn != nil && !g.LastOn.Before(periodStart(g.Interval, today))
}

func view(g store.PortalRegister, today time.Time) registerView {
	v := registerView{RegisterID: g.ID, Contract: g.Contract, Meter: g.Meter, Register: g.Name, Unit: g.Unit, HowToReadURL: g.HowToReadURL}
	last, lastOn := g.LastValue, g.LastOn
	switch {
	case g.OpenValue != nil:
		v.Entered = &enteredView{Value: json.Number(*g.OpenValue), ReadOn: g.OpenOn.Format(time.DateOnly), Plausible: *g.OpenOK}
	case releasedThisPeriod(g, today) && g.LastSource != nil && *g.LastSource == store.SourcePortal:
		// The customer's own reading of this period, released: shown as entered, and the
		// reading before it as the last one.
		v.Entered = &enteredView{Value: json.Number(*g.LastValue), ReadOn: g.LastOn.Format(time.DateOnly), Plausible: true, Released: true}
		last, lastOn = g.PrevValue, g.PrevOn
	}
	if last != nil {
		n, d := json.Number(*last), lastOn.Format(time.DateOnly)
		v.LastReading, v.LastReadingDate = &n, &d
	}
	return v
}

func (s *Server) today() (time.Time, error) { return plausibility.Today(s.now()) }

// readingsPage is GET /portal/readings: the active customer's portal registers.
func (s *Server) readingsPage(w http.ResponseWriter, r *http.Request, p *page, sess store.Session, _ string) error {
	return s.renderReadings(w, r, p, sess, http.StatusOK, nil)
}

// renderReadings answers the page; over carries the refused entry to show again.
func (s *Server) renderReadings(w http.ResponseWriter, r *http.Request, p *page, sess store.Session, status int, over *registerView) error {
	_, active, err := s.companyList(r, sess)
	if err != nil {
		return err
	}
	regs, err := store.PortalRegisters(r.Context(), s.db, sess.TenantID, sess.CustomerID)
	if err != nil {
		return err
	}
	today, err := s.today()
	if err != nil {
		return err
	}
	views := make([]registerView, len(regs))
	for i, g := range regs {
		views[i] = view(g, today)
		if over != nil && over.RegisterID == g.ID {
			views[i].Hint, views[i].Value, views[i].ReadOn, views[i].Confirm = over.Hint, over.Value, over.ReadOn, over.Confirm
		}
	}
	if wantsJSON(r) {
		writeJSON(w, status, map[string]any{"customer": map[string]any{"customer_id": active.CustomerID, "name": active.Name}, "registers": views})
		return nil
	}
	s.render(w, r, p, status, "readings", map[string]any{"Title": "readings.title", "Customer": active.Name, "Registers": views,
		"Today": today.Format(time.DateOnly), "Saved": r.URL.Query().Get("saved") != ""})
	return nil
}

// parseDay reads a date as 2026-11-03 or 03.11.2026.
func parseDay(s string) (time.Time, bool) {
	for _, layout := range []string{time.DateOnly, "02.01.2006", "2.1.2006"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// enterReading is POST /portal/readings: register_id, value, optional read_on (default
// today, Europe/Berlin) and confirm_implausible. A plausible value is stored; an
// implausible one is answered 422 with the rule's hint and stored, flagged, only when
// confirmed. After the period's release a correction is 409.
func (s *Server) enterReading(w http.ResponseWriter, r *http.Request, p *page, sess store.Session, id string) error {
	f, err := fields(w, r, "register_id", "value", "read_on", "confirm_implausible")
	if err != nil {
		return err
	}
	ctx := r.Context()
	notFound := &pageError{status: http.StatusNotFound, title: "err.not_found.title", message: "err.no_register"}
	regID, err := strconv.ParseInt(strings.TrimSpace(f["register_id"]), 10, 64)
	if err != nil {
		return notFound
	}
	g, err := store.GetPortalRegister(ctx, s.db, sess.TenantID, sess.CustomerID, regID)
	if errors.Is(err, store.ErrNotFound) {
		return notFound
	}
	if err != nil {
		return err
	}
	today, err := s.today()
	if err != nil {
		return err
	}
	value, readOn := strings.TrimSpace(f["value"]), strings.TrimSpace(f["read_on"])
	confirm := f["confirm_implausible"] == "true" || f["confirm_implausible"] == "on" || f["confirm_implausible"] == "1"
	refuse := func(status int, rule, hint string, confirmable bool) error {
		if wantsJSON(r) {
			body := map[string]any{"error": hint, "register_id": regID, "value": value}
			if rule != "" {
				body["rule"] = rule
				body["confirmable"] = confirmable
			}
			writeJSON(w, status, body)
			return nil
		}
		return s.renderReadings(w, r, p, sess, status, &registerView{RegisterID: regID, Hint: hint, Value: value, ReadOn: readOn, Confirm: confirmable})
	}
	if releasedThisPeriod(g, today) {
		return refuse(http.StatusConflict, "", s.say(r, p, "readings.locked"), false)
	}
	day := today
	if readOn != "" {
		var ok bool
		if day, ok = parseDay(readOn); !ok {
			return refuse(http.StatusUnprocessableEntity, string(plausibility.Format), s.say(r, p, "readings.bad_date", readOn), false)
		}
	}
	raw, err := store.PlausibilityOverrides(ctx, s.db, sess.TenantID)
	if err != nil {
		return err
	}
	engine, err := plausibility.ForTenant(raw)
	if err != nil {
		return err
	}
	h := plausibility.History{Count: g.Count, Consumption: g.Consumption}
	if g.LastValue != nil {
		h.Last, h.LastOn = *g.LastValue, *g.LastOn
	}
	if g.FirstOn != nil {
		h.FirstOn = *g.FirstOn
	}
	unit := ""
	if g.Unit != nil {
		unit = *g.Unit
	}
	res := engine.Check(plausibility.Register{Digits: g.Digits, Decimals: g.Decimals, Unit: unit}, h, plausibility.Reading{Value: value, ReadOn: day}, today)
	finding, bad := res.Decisive()
	if bad && (finding.Rule == plausibility.Format || !confirm) {
		return refuse(http.StatusUnprocessableEntity, string(finding.Rule), finding.In(p.lang), finding.Rule != plausibility.Format)
	}
	contact, err := store.ContactOf(ctx, s.db, sess.TenantID, sess.IdentityID, sess.CustomerID)
	if err != nil {
		return err
	}
	n := store.NewReading{TenantID: sess.TenantID, RegisterID: g.ID, Value: plausibility.FormatValue(res.Value, g.Decimals), ReadOn: day,
		Source: store.SourcePortal, Plausible: !bad, EnteredBy: contact}
	if bad {
		rule := string(finding.Rule)
		n.FlaggedRule = &rule
	}
	readingID, err := store.EnterReading(ctx, s.db, n)
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "portal reading entered", slog.Int64("tenant_id", sess.TenantID), slog.Int64("register_id", g.ID),
		slog.Int64("reading_id", readingID), slog.Bool("plausible", !bad))
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]any{"reading_id": readingID, "register_id": g.ID, "value": json.Number(n.Value),
			"read_on": day.Format(time.DateOnly), "plausible": !bad, "flagged_rule": n.FlaggedRule, "released": false})
		return nil
	}
	http.Redirect(w, r, "/portal/readings?saved=1", http.StatusSeeOther)
	return nil
}
