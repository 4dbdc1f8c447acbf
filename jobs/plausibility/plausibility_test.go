package plausibility

import (
	"encoding/json"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func date(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// history with released readings from 2026-01-01 to 2026-01-11 (10 days), consuming
// 100 units: an expected 10 units a day.
func tenDays(last string) History {
	return History{Count: 2, Last: last, LastOn: date("2026-01-11"), FirstOn: date("2026-01-01"), Consumption: "100"}
}

var (
	kwh    = Register{Digits: 6, Decimals: 0, Unit: "kWh"}
	water  = Register{Digits: 5, Decimals: 3, Unit: "m³"}
	small  = Register{Digits: 4, Decimals: 0, Unit: "Seiten"}
	today  = date("2026-02-01")
	onlyOn = History{Count: 1, Last: "500", LastOn: date("2026-01-11")}
)

func TestRules(t *testing.T) {
	e, err := New(Defaults())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		reg   Register
		h     History
		value string
		on    string
		want  []Rule // failed rules in order
		cons  string // consumption as FloatString(3); "" = none
	}{
		// Expected after 10 more days: 100; band 60..160 (the minimum band of 10 is narrower).
		{"within band", kwh, tenDays("1000"), "1100", "2026-01-21", nil, "100.000"},
		{"exactly the upper edge", kwh, tenDays("1000"), "1160", "2026-01-21", nil, "160.000"},
		{"one above the upper edge", kwh, tenDays("1000"), "1161", "2026-01-21", []Rule{Tolerance}, "161.000"},
		{"exactly the lower edge", kwh, tenDays("1000"), "1060", "2026-01-21", nil, "60.000"},
		{"one below the lower edge", kwh, tenDays("1000"), "1059", "2026-01-21", []Rule{Tolerance}, "59.000"},
		{"exactly 3 times expected", kwh, tenDays("1000"), "1300", "2026-01-21", []Rule{Tolerance}, "300.000"},
		{"more than 3 times expected", kwh, tenDays("1000"), "1301", "2026-01-21", []Rule{MaxFactor, Tolerance}, "301.000"},
		{"zero consumption", kwh, tenDays("1000"), "1000", "2026-01-21", []Rule{Zero, Tolerance}, "0.000"},
		{"zero consumption on the same day", kwh, tenDays("1000"), "1000", "2026-01-11", []Rule{Zero}, "0.000"},
		// One day: expected 10, band 0..20 thanks to the minimum band of 10 units.
		{"minimum band protects small figures", kwh, tenDays("1000"), "1020", "2026-01-12", nil, "20.000"},
		{"beyond the minimum band", kwh, tenDays("1000"), "1021", "2026-01-12", []Rule{Tolerance}, "21.000"},
		{"below last reading", kwh, tenDays("1000"), "999", "2026-01-21", []Rule{Monotonic}, ""},
		// Overflow of a 6-digit register: 10^6 − 999950 + 50 = 100, within the band.
		{"overflow within the band", kwh, tenDays("999950"), "50", "2026-01-21", nil, "100.000"},
		{"overflow at the upper edge", kwh, tenDays("999950"), "110", "2026-01-21", nil, "160.000"},
		{"overflow past the upper edge", kwh, tenDays("999950"), "111", "2026-01-21", []Rule{Monotonic}, ""},
		// One reading only: no expected consumption; overflow allowed within 10 % of 10^4.
		{"one reading only", small, History{Count: 1, Last: "500", LastOn: date("2026-01-11")}, "9000", "2026-01-21", nil, "8500.000"},
		{"one reading, overflow within 10 %", small, History{Count: 1, Last: "9500", LastOn: date("2026-01-11")}, "500", "2026-01-21", nil, "1000.000"},
		{"one reading, overflow past 10 %", small, History{Count: 1, Last: "9500", LastOn: date("2026-01-11")}, "501", "2026-01-21", []Rule{Monotonic}, ""},
		{"one reading, zero", kwh, onlyOn, "500", "2026-01-21", []Rule{Zero}, "0.000"},
		{"no history at all", kwh, History{}, "123", "2026-01-21", nil, ""},
		{"future date", kwh, tenDays("1000"), "1100", "2026-02-02", []Rule{Format}, ""},
		{"today is fine", kwh, tenDays("1000"), "1100", "2026-02-01", []Rule{Tolerance}, "100.000"},
		{"date before last reading", kwh, tenDays("1000"), "1100", "2026-01-10", []Rule{Format}, ""},
		{"too many digits", kwh, History{}, "1234567", "2026-01-21", []Rule{Format}, ""},
		{"leading zeros do not count", kwh, History{}, "000123456", "2026-01-21", nil, ""},
		{"too many decimals", kwh, History{}, "12.5", "2026-01-21", []Rule{Format}, ""},
		{"trailing zeros do not count", kwh, History{}, "12.000", "2026-01-21", nil, ""},
		{"decimal comma", water, History{}, "12,345", "2026-01-21", nil, ""},
		{"four decimals on three", water, History{}, "12.3456", "2026-01-21", []Rule{Format}, ""},
		{"negative", kwh, History{}, "-5", "2026-01-21", []Rule{Format}, ""},
		{"exponent", kwh, History{}, "1e3", "2026-01-21", []Rule{Format}, ""},
		{"empty", kwh, History{}, " ", "2026-01-21", []Rule{Format}, ""},
		{"thousands separator", kwh, History{}, "1.234.5", "2026-01-21", []Rule{Format}, ""},
		// Decimals are exact: 0.1 + 0.2 is 0.3 here.
		{"exact decimals", water, History{Count: 2, Last: "10.100", LastOn: date("2026-01-11"), FirstOn: date("2026-01-01"), Consumption: "0.3"},
			"10.400", "2026-01-21", nil, "0.300"},
		// Two readings on one day: no span, no expected consumption.
		{"history without a span", kwh, History{Count: 2, Last: "1000", LastOn: date("2026-01-11"), FirstOn: date("2026-01-11"), Consumption: "5"},
			"5000", "2026-01-21", nil, "4000.000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.Check(tt.reg, tt.h, Reading{Value: tt.value, ReadOn: date(tt.on)}, today)
			var got []Rule
			for _, f := range res.Findings {
				got = append(got, f.Rule)
				if !strings.HasPrefix(f.Message, "Regel „"+string(f.Rule)+"“: ") || f.Severity != Error {
					t.Errorf("finding %+v: message must name the rule, severity error", f)
				}
			}
			if strings.Join(rules(got), ",") != strings.Join(rules(tt.want), ",") {
				t.Errorf("failed rules %v, want %v (%+v)", got, tt.want, res.Findings)
			}
			cons := ""
			if res.Consumption != nil {
				cons = res.Consumption.FloatString(3)
			}
			if cons != tt.cons {
				t.Errorf("consumption %q, want %q", cons, tt.cons)
			}
			if res.Plausible() != (len(tt.want) == 0) {
				t.Errorf("plausible %v with findings %v", res.Plausible(), got)
			}
			sameDecision(t, e, tt.reg, tt.h, Reading{Value: tt.value, ReadOn: date(tt.on)})
		})
	}
}

func rules(rs []Rule) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, string(r))
	}
	return out
}

// A tenant that made tolerance a warning still gets max_factor as an error; the first
// error is the decisive finding.
func TestSeverities(t *testing.T) {
	p := Defaults()
	if err := json.Unmarshal([]byte(`{"severity":{"tolerance":"warning"}}`), &p); err != nil {
		t.Fatal(err)
	}
	e, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	res := e.Check(kwh, tenDays("1000"), Reading{Value: "1200", ReadOn: date("2026-01-21")}, today)
	if len(res.Findings) != 1 || res.Findings[0].Severity != Warning || !res.Plausible() {
		t.Errorf("tolerance as a warning: %+v, plausible %v", res.Findings, res.Plausible())
	}
	res = e.Check(kwh, tenDays("1000"), Reading{Value: "1400", ReadOn: date("2026-01-21")}, today)
	d, bad := res.Decisive()
	if !bad || d.Rule != MaxFactor || res.Plausible() {
		t.Errorf("max_factor must stay an error: %+v", res.Findings)
	}
	if w := res.Findings[1]; w.Rule != Tolerance || w.Severity != Warning {
		t.Errorf("tolerance finding %+v, want a warning", w)
	}
}

func TestParamsAreChecked(t *testing.T) {
	for _, js := range []string{`{"tolerance_plus_pct":-1}`, `{"tolerance_minus_pct":101}`, `{"min_band":"x"}`,
		`{"max_factor":0.5}`, `{"overflow_pct":200}`, `{"severity":{"format":"warning"}}`, `{"severity":{"zero":"maybe"}}`,
		`{"severity":{"nonsense":"error"}}`} {
		p := Defaults()
		if err := json.Unmarshal([]byte(js), &p); err != nil {
			continue // refused already while decoding
		}
		if _, err := New(p); err == nil {
			t.Errorf("parameters %s accepted", js)
		}
	}
	// Changed parameters change the rules: a band of ±10 % and no minimum.
	p := Defaults()
	json.Unmarshal([]byte(`{"tolerance_plus_pct":10,"tolerance_minus_pct":10,"min_band":0}`), &p)
	e, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	if res := e.Check(kwh, tenDays("1000"), Reading{Value: "1111", ReadOn: date("2026-01-21")}, today); res.Plausible() {
		t.Errorf("111 with expected 100 and +10 %%: plausible")
	}
	if res := e.Check(kwh, tenDays("1000"), Reading{Value: "1110", ReadOn: date("2026-01-21")}, today); !res.Plausible() {
		t.Errorf("110 with expected 100 and +10 %%: %+v", res.Findings)
	}
}

func TestMessagesAreGerman(t *testing.T) {
	e, _ := New(Defaults())
	res := e.Check(Register{Digits: 6, Decimals: 1, Unit: "kWh"}, History{Count: 2, Last: "12000", LastOn: date("2026-01-11"),
		FirstOn: date("2026-01-01"), Consumption: "1000"}, Reading{Value: "14000,5", ReadOn: date("2026-01-21")}, today)
	d, _ := res.Decisive()
	want := "Regel „tolerance“: Der Verbrauch von 2.000,5 kWh seit dem 11.01.2026 liegt über dem erwarteten Bereich von 600,0 kWh bis 1.600,0 kWh (erwartet etwa 1.000,0 kWh)."
	if d.Message != want {
		t.Errorf("message\n got %s\nwant %s", d.Message, want)
	}
}

// A finding in English: English notation for numbers and dates, German kept in Message
// (the release protocol's language).
func TestMessagesInEnglish(t *testing.T) {
	e, _ := New(Defaults())
	reg := Register{Digits: 6, Decimals: 1, Unit: "kWh"}
	h := History{Count: 2, Last: "12000", LastOn: date("2026-01-11"), FirstOn: date("2026-01-01"), Consumption: "1000"}
	d, _ := e.Check(reg, h, Reading{Value: "12300", ReadOn: date("2026-01-21")}, today).Decisive()
	want := "Rule “tolerance”: The consumption of 300.0 kWh since 11 Jan 2026 is below the expected range of 600.0 kWh to 1,600.0 kWh (about 1,000.0 kWh expected)."
	if got := d.In("en"); got != want {
		t.Errorf("message\n got %s\nwant %s", got, want)
	}
	if d.In("de") != d.Message || !strings.HasPrefix(d.Message, "Regel „tolerance“: Der Verbrauch von 300,0 kWh seit dem 11.01.2026 liegt unter dem erwarteten Bereich") {
		t.Errorf("German message %q", d.In("de"))
	}
	// Every rule's English sentence is English.
	cases := []struct {
		reg   Register
		h     History
		value string
		on    string
	}{
		{kwh, tenDays("1000"), "12,3,4", "2026-01-21"},
		{kwh, tenDays("1000"), "1100", "2026-03-01"},
		{kwh, tenDays("1000"), "1100", "2026-01-05"},
		{kwh, tenDays("1000"), "900", "2026-01-21"},
		{kwh, tenDays("1000"), "1000", "2026-01-21"},
		{kwh, tenDays("1000"), "2000", "2026-01-21"},
		{kwh, tenDays("1000"), "1010", "2026-01-21"},
	}
	seen := map[Rule]bool{}
	for _, c := range cases {
		for _, f := range e.Check(c.reg, c.h, Reading{Value: c.value, ReadOn: date(c.on)}, today).Findings {
			seen[f.Rule] = true
			if en := f.In("en"); en == f.Message || strings.ContainsAny(en, "äöüß„") || strings.Contains(en, "Regel") {
				t.Errorf("%s: English message %q", f.Rule, en)
			}
		}
	}
	for _, r := range []Rule{Format, Monotonic, Zero, MaxFactor, Tolerance} {
		if !seen[r] {
			t.Errorf("no case found rule %s", r)
		}
	}
}

// sameDecision checks that Decide answers as Check does, and that its integer path
// lets a reading pass exactly when no rule fails.
func sameDecision(t *testing.T, e *Engine, reg Register, h History, rd Reading) (passed bool) {
	t.Helper()
	res := e.Check(reg, h, rd, today)
	want, wantBad := res.Decisive()
	got, bad := e.Decide(reg, h, rd, today)
	if bad != wantBad || got != want {
		t.Errorf("Decide(%v, %+v, %+v) = %+v %v, Check decides %+v %v", reg, h, rd, got, bad, want, wantBad)
	}
	p := e.passes(reg, h, rd, today)
	if p != (len(res.Findings) == 0) {
		t.Errorf("passes(%v, %+v, %+v) = %v with findings %+v", reg, h, rd, p, res.Findings)
	}
	return p
}

// Decide and Check agree around every band edge, with fractional parameters, decimals,
// overflows and one-reading histories.
func TestDecideIsExact(t *testing.T) {
	params := []string{`{}`, `{"min_band":"0.5","max_factor":"2.5"}`, `{"tolerance_plus_pct":0,"tolerance_minus_pct":100,"min_band":0}`,
		`{"tolerance_plus_pct":1000,"tolerance_minus_pct":0,"min_band":"1000","overflow_pct":0,"max_factor":"1"}`,
		`{"min_band":"0.001","max_factor":"1.333","overflow_pct":100,"severity":{"zero":"warning","tolerance":"warning"}}`}
	regs := []Register{kwh, water, small, {Digits: 12, Decimals: 3, Unit: "l"}, {Digits: 2, Decimals: 0}, {Digits: 15, Decimals: 0}}
	rng := rand.New(rand.NewPCG(12, 50000))
	for _, js := range params {
		p := Defaults()
		if err := json.Unmarshal([]byte(js), &p); err != nil {
			t.Fatal(err)
		}
		e, err := New(p)
		if err != nil {
			t.Fatal(err)
		}
		passed, failed := 0, 0
		for _, reg := range regs {
			full := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(reg.Digits)), nil).Int64()
			scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(reg.Decimals)), nil).Int64()
			format := func(v int64) string { return new(big.Rat).SetFrac64(v, scale).FloatString(reg.Decimals) }
			for i := 0; i < 150; i++ {
				last := rng.Int64N(full * scale)
				span := 1 + rng.Int64N(60)
				perDay := rng.Int64N(1 + full*scale/1000/span)
				h := History{Count: 1 + rng.IntN(3), Last: format(last), LastOn: date("2026-01-11"),
					FirstOn: date("2026-01-11").AddDate(0, 0, -int(span)), Consumption: format(perDay * span)}
				since := rng.IntN(30)
				on := date("2026-01-11").AddDate(0, 0, since)
				// Around the band's edges, zero, max_factor and an overflow, and anywhere.
				exp := perDay * int64(since)
				for _, c := range []int64{exp*160/100 + rng.Int64N(3) - 1, exp*60/100 + rng.Int64N(3) - 1, exp + 10*scale, exp - 10*scale,
					exp * 3, exp*3 + 1, exp*5/2 + rng.Int64N(3) - 1, 0, 1, -1, full*scale/10 + rng.Int64N(3) - 1, rng.Int64N(full * scale), exp + scale/2} {
					v := ((last+c)%(full*scale) + full*scale) % (full * scale)
					if sameDecision(t, e, reg, h, Reading{Value: format(v), ReadOn: on}) {
						passed++
					} else {
						failed++
					}
				}
			}
		}
		if passed < 400 || failed < 400 {
			t.Errorf("parameters %s: %d readings passed, %d failed: the edges are not covered", js, passed, failed)
		}
		t.Logf("parameters %s: %d passed, %d failed", js, passed, failed)
	}
}

func TestEpochDay(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	for d := date("1899-12-25"); d.Before(date("2101-03-05")); d = d.AddDate(0, 0, 13) {
		for _, x := range []time.Time{d, d.Add(23*time.Hour + 30*time.Minute).In(berlin)} {
			if got, want := epochDay(x), day(x).Unix()/86400; got != want {
				t.Fatalf("epochDay(%v) = %d, want %d", x, got, want)
			}
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	e, _ := New(Defaults())
	h := tenDays("1000")
	rd := Reading{Value: "1100", ReadOn: date("2026-01-21")}
	for b.Loop() {
		e.Decide(kwh, h, rd, today)
	}
}

func BenchmarkCheck(b *testing.B) {
	e, _ := New(Defaults())
	h := tenDays("1000")
	rd := Reading{Value: "1100", ReadOn: date("2026-01-21")}
	for b.Loop() {
		e.Check(kwh, h, rd, today)
	}
}
