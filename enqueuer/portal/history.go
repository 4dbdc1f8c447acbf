package portal

import (
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"time"

	"portalwerk/store"
)

// usage is the consumption of one period: from one released reading to the next.
type usage struct {
	Period string      `json:"period"`
	From   string      `json:"from"`
	To     string      `json:"to"`
	Value  json.Number `json:"consumption"`

	// The chart's bar and the middle its labels are centred on, for the page only.
	X, Y, W, H, Mid float64 `json:"-"`
}

type releasedView struct {
	Value  json.Number `json:"value"`
	ReadOn string      `json:"read_on"`
}

type historyView struct {
	RegisterID  int64          `json:"register_id"`
	Contract    string         `json:"contract"`
	Meter       string         `json:"meter"`
	Register    string         `json:"register"`
	Unit        *string        `json:"unit"`
	Readings    []releasedView `json:"readings"`
	Consumption []usage        `json:"consumption"`
}

// periodKey names the period a day falls in by the contract's interval (SPEC §5).
func periodKey(interval string, day time.Time) string {
	switch interval {
	case "quarterly":
		return fmt.Sprintf("%d-Q%d", day.Year(), (int(day.Month())-1)/3+1)
	case "yearly":
		return fmt.Sprint(day.Year())
	}
	return day.Format("2006-01")
}

// Chart geometry, in SVG user units.
const (
	// 400 wide: the card's width on a desktop, so labels keep their size there and
	// shrink only a little on a phone.
	chartW, chartH, chartTop, chartBottom = 400.0, 200.0, 20.0, 30.0
)

// history builds a register's table and chart from its released readings (by date);
// a reading below the one before means the register ran over at 10^digits.
func history(g store.PortalRegister, rs []store.ReleasedReading) historyView {
	v := historyView{RegisterID: g.ID, Contract: g.Contract, Meter: g.Meter, Register: g.Name, Unit: g.Unit,
		Readings: []releasedView{}, Consumption: []usage{}}
	wrap := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(g.Digits)), nil))
	var prev *big.Rat
	var prevOn time.Time
	var values []float64
	for _, r := range rs {
		v.Readings = append(v.Readings, releasedView{Value: json.Number(r.Value), ReadOn: r.ReadOn.Format(time.DateOnly)})
		cur, ok := new(big.Rat).SetString(r.Value)
		if !ok {
			continue
		}
		if prev != nil {
			d := new(big.Rat).Sub(cur, prev)
			if d.Sign() < 0 {
				d.Add(d, wrap)
			}
			f, _ := d.Float64()
			values = append(values, f)
			v.Consumption = append(v.Consumption, usage{Period: periodKey(g.Interval, r.ReadOn), From: prevOn.Format(time.DateOnly),
				To: r.ReadOn.Format(time.DateOnly), Value: json.Number(d.FloatString(g.Decimals))})
		}
		prev, prevOn = cur, r.ReadOn
	}
	maxV := 0.0
	for _, f := range values {
		maxV = max(maxV, f)
	}
	if n := len(v.Consumption); n > 0 {
		slot := chartW / float64(n)
		for i := range v.Consumption {
			h := 0.0
			if maxV > 0 {
				h = values[i] / maxV * (chartH - chartTop - chartBottom)
			}
			u := &v.Consumption[i]
			u.W = slot * 0.6
			u.X = slot*float64(i) + slot*0.2
			u.H = h
			u.Y = chartH - chartBottom - h
			u.Mid = u.X + u.W/2
		}
	}
	return v
}

// historyPage is GET /portal/history: the active customer's released readings and the
// consumption per period, as tables and server-rendered SVG bar charts.
func (s *Server) historyPage(w http.ResponseWriter, r *http.Request, p *page, sess store.Session, _ string) error {
	_, active, err := s.companyList(r, sess)
	if err != nil {
		return err
	}
	ctx := r.Context()
	regs, err := store.PortalRegisters(ctx, s.db, sess.TenantID, sess.CustomerID)
	if err != nil {
		return err
	}
	rs, err := store.PortalReleasedReadings(ctx, s.db, sess.TenantID, sess.CustomerID)
	if err != nil {
		return err
	}
	byReg := map[int64][]store.ReleasedReading{}
	for _, x := range rs {
		byReg[x.RegisterID] = append(byReg[x.RegisterID], x)
	}
	views := make([]historyView, len(regs))
	for i, g := range regs {
		views[i] = history(g, byReg[g.ID])
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]any{"customer": map[string]any{"customer_id": active.CustomerID, "name": active.Name}, "registers": views})
		return nil
	}
	s.render(w, r, p, http.StatusOK, "history", map[string]any{"Title": "nav.history", "Customer": active.Name, "Registers": views,
		"ChartW": chartW, "ChartH": chartH, "Base": chartH - chartBottom})
	return nil
}
