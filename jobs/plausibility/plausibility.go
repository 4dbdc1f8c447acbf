// Package plausibility is the one rule engine for meter readings: the portal uses its
// findings as hints when a reading is entered, the release uses them as its gate. It is
// pure Go and computes with exact rationals (math/big): readings have a fixed number
// of decimals, and a band edge is an edge, not a float rounding.
package plausibility

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"
	_ "time/tzdata" // Europe/Berlin also where the system has no zoneinfo

	"portalwerk/templates"
)

// Rule names a check; its id is what hints, protocols and parameters name.
type Rule string

// The rules, in the order they are checked; the first error among them is the reading's
// decisive finding.
const (
	Format    Rule = "format"
	Monotonic Rule = "monotonic"
	Zero      Rule = "zero"
	MaxFactor Rule = "max_factor"
	Tolerance Rule = "tolerance"
)

// Rules lists every rule in checking order.
var Rules = []Rule{Format, Monotonic, Zero, MaxFactor, Tolerance}

// Severity says what a failed rule means: an error blocks the release (and makes the
// portal ask for confirmation), a warning is only a hint.
type Severity string

// Severities.
const (
	Error   Severity = "error"
	Warning Severity = "warning"
)

// MaxDigits bounds a register's integer digits plus decimals.
const MaxDigits = 15

// Params are a tenant's parameters. The zero value is not usable: start from Defaults.
type Params struct {
	// TolerancePlusPct and ToleranceMinusPct are the band around the expected
	// consumption, in percent of it (+60 / −40).
	TolerancePlusPct  int64 `json:"tolerance_plus_pct"`
	ToleranceMinusPct int64 `json:"tolerance_minus_pct"`
	// MinBand is the least distance of each band edge from the expected consumption,
	// in the register's unit, so that a small register is not flagged for a few units.
	MinBand json.Number `json:"min_band"`
	// OverflowPct is how far past 10^digits a reading may have run, in percent of
	// 10^digits, when no expected consumption is known (10).
	OverflowPct int64 `json:"overflow_pct"`
	// MaxFactor: a consumption of more than this many times the expected one fails
	// max_factor (3).
	MaxFactor json.Number `json:"max_factor"`
	// Severity of each rule; format is always an error.
	Severity map[Rule]Severity `json:"severity"`
}

// Defaults are the parameters of a tenant that changed none (SPEC §5).
func Defaults() Params {
	return Params{
		TolerancePlusPct: 60, ToleranceMinusPct: 40, MinBand: "10", OverflowPct: 10, MaxFactor: "3",
		Severity: map[Rule]Severity{Monotonic: Error, Zero: Error, MaxFactor: Error, Tolerance: Error},
	}
}

// compiled are Params ready for checking.
type compiled struct {
	plus, minus *big.Rat // fractions of the expected consumption
	minBand     *big.Rat
	overflow    *big.Rat
	maxFactor   *big.Rat
	severity    map[Rule]Severity
	exact       exactParams // the same as integer fractions, for Decide
}

// Engine checks readings with one tenant's parameters.
type Engine struct{ c compiled }

// New checks the parameters (overrides of Defaults, as stored per tenant) and returns
// their engine; the error is a German sentence naming the parameter.
func New(p Params) (*Engine, error) {
	if p.TolerancePlusPct < 0 || p.TolerancePlusPct > 1000 {
		return nil, fmt.Errorf("tolerance_plus_pct muss zwischen 0 und 1000 liegen")
	}
	if p.ToleranceMinusPct < 0 || p.ToleranceMinusPct > 100 {
		return nil, fmt.Errorf("tolerance_minus_pct muss zwischen 0 und 100 liegen")
	}
	if p.OverflowPct < 0 || p.OverflowPct > 100 {
		return nil, fmt.Errorf("overflow_pct muss zwischen 0 und 100 liegen")
	}
	minBand, ok := new(big.Rat).SetString(string(p.MinBand))
	if !ok || minBand.Sign() < 0 {
		return nil, fmt.Errorf("min_band muss eine Zahl ab 0 sein")
	}
	maxFactor, ok := new(big.Rat).SetString(string(p.MaxFactor))
	if !ok || maxFactor.Cmp(big.NewRat(1, 1)) < 0 {
		return nil, fmt.Errorf("max_factor muss eine Zahl ab 1 sein")
	}
	sev := map[Rule]Severity{Format: Error}
	for _, r := range Rules[1:] {
		sev[r] = Error
	}
	for r, s := range p.Severity {
		if r == Format || sev[r] == "" {
			return nil, fmt.Errorf("severity: unbekannte oder feste Regel „%s“", r)
		}
		if s != Error && s != Warning {
			return nil, fmt.Errorf("severity der Regel „%s“ muss error oder warning sein", r)
		}
		sev[r] = s
	}
	c := compiled{
		plus: big.NewRat(p.TolerancePlusPct, 100), minus: big.NewRat(p.ToleranceMinusPct, 100),
		minBand: minBand, overflow: big.NewRat(p.OverflowPct, 100), maxFactor: maxFactor, severity: sev,
	}
	c.exact = newExactParams(c.plus, c.minus, c.overflow, c.minBand, c.maxFactor)
	return &Engine{c: c}, nil
}

// Register is what the rules know of a register.
type Register struct {
	Digits   int // integer digits: the register runs over at 10^Digits
	Decimals int
	Unit     string
}

// History is the register's released readings as the rules need them. Values are
// decimal strings as PostgreSQL prints numeric.
type History struct {
	Count  int    // released readings
	Last   string // the latest one's value ("" when Count is 0)
	LastOn time.Time
	// FirstOn and Consumption span every released reading: the first one's date and
	// the consumption from it to the last one, overflows included.
	FirstOn     time.Time
	Consumption string
}

// Reading is the value to check, as entered (a decimal point or comma).
type Reading struct {
	Value  string
	ReadOn time.Time // a date (the time of day is ignored)
}

// Finding is one failed rule.
type Finding struct {
	Rule     Rule     `json:"rule"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"` // German, as the release protocol keeps it
	english  string
}

// In is the finding's message in lang ("de" or "en", as templates.Lang names them).
func (f Finding) In(lang string) string {
	if lang == "en" && f.english != "" {
		return f.english
	}
	return f.Message
}

// Result is what the rules found.
type Result struct {
	Findings []Finding
	// Value is the parsed reading (nil when format refused it); Consumption the
	// consumption since the last released reading, overflow included (nil without one);
	// Expected the expected consumption (nil when not known).
	Value, Consumption, Expected *big.Rat
}

// Decisive is the first error in rule order: what blocks the reading.
func (r Result) Decisive() (Finding, bool) {
	for _, f := range r.Findings {
		if f.Severity == Error {
			return f, true
		}
	}
	return Finding{}, false
}

// Plausible says that no rule failed with the severity error.
func (r Result) Plausible() bool { _, bad := r.Decisive(); return !bad }

func day(t time.Time) time.Time { return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC) }

func days(from, to time.Time) int64 { return int64(day(to).Sub(day(from)).Hours() / 24) }

// Check runs every rule on a reading of the register; today is the date the reading is
// checked on (Europe/Berlin in the callers).
func (e *Engine) Check(reg Register, h History, rd Reading, today time.Time) Result {
	var res Result
	// add records a finding in German and English: args gives the arguments of both
	// formats, written in the language's notation.
	add := func(rule Rule, de, en string, args func(lang string) []any) {
		res.Findings = append(res.Findings, Finding{Rule: rule, Severity: e.c.severity[rule],
			Message: fmt.Sprintf("Regel „%s“: ", rule) + fmt.Sprintf(de, args("de")...),
			english: fmt.Sprintf("Rule “%s”: ", rule) + fmt.Sprintf(en, args("en")...)})
	}
	v, ok := ParseValue(rd.Value, reg.Digits, reg.Decimals)
	if !ok {
		add(Format, "„%s“ ist kein gültiger Zählerstand für dieses Zählwerk: erlaubt sind höchstens %d Stellen vor und %d nach dem Komma.",
			"“%s” is not a valid reading for this register: at most %d digits before and %d after the decimal point are allowed.",
			func(string) []any { return []any{strings.TrimSpace(rd.Value), reg.Digits, reg.Decimals} })
		return res
	}
	res.Value = v
	if day(rd.ReadOn).After(day(today)) {
		add(Format, "Das Ablesedatum %s liegt in der Zukunft.", "The reading date %s is in the future.",
			func(l string) []any { return []any{templates.Date(l, rd.ReadOn)} })
		return res
	}
	if h.Count == 0 {
		return res
	}
	last, ok1 := new(big.Rat).SetString(h.Last)
	if !ok1 {
		panic(fmt.Sprintf("plausibility: stored reading %q is not a number", h.Last))
	}
	if day(rd.ReadOn).Before(day(h.LastOn)) {
		add(Format, "Das Ablesedatum %s liegt vor dem letzten freigegebenen Zählerstand vom %s.",
			"The reading date %s is before the last released reading of %s.",
			func(l string) []any { return []any{templates.Date(l, rd.ReadOn), templates.Date(l, h.LastOn)} })
		return res
	}
	since := days(h.LastOn, rd.ReadOn)
	if h.Count >= 2 {
		if span := days(h.FirstOn, h.LastOn); span > 0 {
			total, ok := new(big.Rat).SetString(h.Consumption)
			if !ok {
				panic(fmt.Sprintf("plausibility: stored consumption %q is not a number", h.Consumption))
			}
			res.Expected = total.Mul(total, big.NewRat(since, span))
		}
	}
	var lower, upper *big.Rat
	if res.Expected != nil {
		lower, upper = e.band(res.Expected)
	}

	c := new(big.Rat).Sub(v, last)
	if c.Sign() < 0 {
		// Past 10^digits the register starts again at 0: 10^digits − last + value.
		wrapped := new(big.Rat).Add(c, pow10(reg.Digits))
		limit := upper
		if limit == nil {
			limit = new(big.Rat).Mul(pow10(reg.Digits), e.c.overflow)
		}
		if wrapped.Cmp(limit) > 0 {
			add(Monotonic, "Der Zählerstand %s ist kleiner als der letzte freigegebene Zählerstand %s vom %s. Ein Zählwerk läuft nur vorwärts (ein Überlauf über %s hinaus wäre ein Verbrauch von %s, mehr als plausibel).",
				"The reading %s is below the last released reading %s of %s. A register only counts up (an overflow past %s would mean a consumption of %s, more than plausible).",
				func(l string) []any {
					return []any{amount(l, v, reg), amount(l, last, reg), templates.Date(l, h.LastOn),
						amount(l, pow10(reg.Digits), Register{Decimals: 0, Unit: reg.Unit}), amount(l, wrapped, reg)}
				})
			return res
		}
		c = wrapped
	}
	res.Consumption = c
	if c.Sign() == 0 {
		add(Zero, "Seit dem letzten freigegebenen Zählerstand vom %s (%s) wurde nichts verbraucht. Bitte prüfen Sie, ob Sie das richtige Zählwerk abgelesen haben.",
			"Nothing was consumed since the last released reading of %s (%s). Please check that you read the right register.",
			func(l string) []any { return []any{templates.Date(l, h.LastOn), amount(l, last, reg)} })
	}
	if res.Expected == nil {
		return res
	}
	if c.Cmp(new(big.Rat).Mul(res.Expected, e.c.maxFactor)) > 0 && c.Cmp(upper) > 0 {
		add(MaxFactor, "Der Verbrauch von %s seit dem %s ist mehr als %s-mal so hoch wie erwartet (erwartet etwa %s).",
			"The consumption of %s since %s is more than %s times the expected (about %s).",
			func(l string) []any {
				return []any{amount(l, c, reg), templates.Date(l, h.LastOn), templates.Number(l, e.c.maxFactor.FloatString(2)), amount(l, res.Expected, reg)}
			})
	}
	if c.Cmp(upper) > 0 || c.Cmp(lower) < 0 {
		where := map[string]string{"de": "über", "en": "above"}
		if c.Cmp(lower) < 0 {
			where = map[string]string{"de": "unter", "en": "below"}
		}
		add(Tolerance, "Der Verbrauch von %s seit dem %s liegt %s dem erwarteten Bereich von %s bis %s (erwartet etwa %s).",
			"The consumption of %s since %s is %s the expected range of %s to %s (about %s expected).",
			func(l string) []any {
				return []any{amount(l, c, reg), templates.Date(l, h.LastOn), where[l], amount(l, lower, reg), amount(l, upper, reg), amount(l, res.Expected, reg)}
			})
	}
	return res
}

// band is the tolerance band around the expected consumption: −minus % / +plus %, each
// edge at least MinBand away from it, the lower edge not below 0.
func (e *Engine) band(expected *big.Rat) (lower, upper *big.Rat) {
	one := big.NewRat(1, 1)
	upper = new(big.Rat).Mul(expected, new(big.Rat).Add(one, e.c.plus))
	if floor := new(big.Rat).Add(expected, e.c.minBand); upper.Cmp(floor) < 0 {
		upper = floor
	}
	lower = new(big.Rat).Mul(expected, new(big.Rat).Sub(one, e.c.minus))
	if ceil := new(big.Rat).Sub(expected, e.c.minBand); lower.Cmp(ceil) > 0 {
		lower = ceil
	}
	if lower.Sign() < 0 {
		lower = new(big.Rat)
	}
	return lower, upper
}

func pow10(n int) *big.Rat {
	return new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil))
}

// ParseValue reads a meter reading: digits with a decimal point or comma, at most
// digits before and decimals after it (trailing zeros after it do not count; leading
// zeros before it neither). No sign, no exponent, no thousands separators.
func ParseValue(s string, digits, decimals int) (*big.Rat, bool) {
	intPart, frac, ok := splitValue(s, digits, decimals)
	if !ok {
		return nil, false
	}
	r, ok := new(big.Rat).SetString("0" + intPart + "." + frac + "0")
	return r, ok
}

// splitValue is ParseValue's reading of s: its significant integer digits and
// decimals, or false.
func splitValue(s string, digits, decimals int) (intPart, frac string, ok bool) {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, ','); i >= 0 {
		s = s[:i] + "." + s[i+1:]
	}
	intPart, frac, hasPoint := strings.Cut(s, ".")
	if intPart == "" || hasPoint && frac == "" || !allDigits(intPart) || !allDigits(frac) {
		return "", "", false
	}
	intPart = strings.TrimLeft(intPart, "0")
	frac = strings.TrimRight(frac, "0")
	if len(intPart) > digits || len(frac) > decimals {
		return "", "", false
	}
	return intPart, frac, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// FormatValue writes a value with the register's decimals, as PostgreSQL and JSON
// take it (a decimal point, no separators).
func FormatValue(v *big.Rat, decimals int) string { return v.FloatString(decimals) }

// amount is a value in lang's notation with the register's decimals and unit.
func amount(lang string, v *big.Rat, reg Register) string {
	s := templates.Number(lang, v.FloatString(reg.Decimals))
	if reg.Unit != "" {
		s += " " + reg.Unit
	}
	return s
}

// Today is the date in Europe/Berlin at now: the users' day, for the format rule.
func Today(now time.Time) (time.Time, error) {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		return time.Time{}, fmt.Errorf("plausibility: %w", err)
	}
	return day(now.In(loc)), nil
}

// ForTenant is the engine of a tenant whose stored overrides are raw (JSON over
// Defaults; {} or nil for none).
func ForTenant(raw []byte) (*Engine, error) {
	p := Defaults()
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, fmt.Errorf("plausibility: stored parameters: %w", err)
		}
	}
	return New(p)
}
