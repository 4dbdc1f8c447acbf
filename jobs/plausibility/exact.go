package plausibility

import (
	"math/big"
	"math/bits"
	"strings"
	"time"
)

// The release checks hundreds of thousands of readings, nearly all of them plausible.
// Decide answers for one of them with exact integer arithmetic: every value is scaled
// by 10^decimals into an int64 (digits + decimals ≤ MaxDigits, so it fits) and every
// comparison of rationals is cross-multiplied into 128-bit products (math/bits). Only
// when some rule fails, or a figure does not fit, does it fall back to Check, which
// writes the findings' messages with math/big. Both compute the same exact answer.

// Decide is the decisive finding of the reading (Check(…).Decisive()), computed without
// allocating for a reading on which no rule fails.
func (e *Engine) Decide(reg Register, h History, rd Reading, today time.Time) (Finding, bool) {
	if e.passes(reg, h, rd, today) {
		return Finding{}, false
	}
	return e.Check(reg, h, rd, today).Decisive()
}

// exactParams are the engine's parameters as integer fractions for passes.
type exactParams struct {
	ok           bool   // every parameter fits; otherwise passes always falls back
	plus, minus  uint64 // percent
	overflow     uint64 // percent
	mbNum, mbDen uint64 // MinBand
	mfNum, mfDen uint64 // MaxFactor
}

func newExactParams(plus, minus, overflow, minBand, maxFactor *big.Rat) exactParams {
	x := exactParams{ok: true}
	for _, p := range []struct {
		r   *big.Rat
		num *uint64
		den *uint64
	}{{plus, &x.plus, nil}, {minus, &x.minus, nil}, {overflow, &x.overflow, nil},
		{minBand, &x.mbNum, &x.mbDen}, {maxFactor, &x.mfNum, &x.mfDen}} {
		if p.den == nil { // a percentage: the fraction times 100 is whole (New built it so)
			pct := new(big.Rat).Mul(p.r, big.NewRat(100, 1))
			if !pct.IsInt() || !pct.Num().IsUint64() {
				x.ok = false
				continue
			}
			*p.num = pct.Num().Uint64()
			continue
		}
		// Numerator and denominator small enough that products with figures below
		// 10^MaxDigits and day counts stay far inside 128 bits.
		if !p.r.Num().IsUint64() || !p.r.Denom().IsUint64() || p.r.Num().Uint64() > 1<<40 || p.r.Denom().Uint64() > 1<<40 {
			x.ok = false
			continue
		}
		*p.num, *p.den = p.r.Num().Uint64(), p.r.Denom().Uint64()
	}
	return x
}

// u128 is an unsigned 128-bit product.
type u128 struct{ hi, lo uint64 }

// mul3 is a·b·c; ok is false when it does not fit 128 bits.
func mul3(a, b, c uint64) (u128, bool) {
	h1, l1 := bits.Mul64(a, b)
	ph, pl := bits.Mul64(l1, c)
	qh, ql := bits.Mul64(h1, c)
	if qh != 0 {
		return u128{}, false
	}
	hi, carry := bits.Add64(ph, ql, 0)
	return u128{hi, pl}, carry == 0
}

// add is x+y; ok is false on overflow.
func (x u128) add(y u128) (u128, bool) {
	lo, c := bits.Add64(x.lo, y.lo, 0)
	hi, c := bits.Add64(x.hi, y.hi, c)
	return u128{hi, lo}, c == 0
}

func (x u128) cmp(y u128) int {
	switch {
	case x.hi != y.hi:
		if x.hi < y.hi {
			return -1
		}
		return 1
	case x.lo != y.lo:
		if x.lo < y.lo {
			return -1
		}
		return 1
	}
	return 0
}

// passes says that no rule fails on the reading (not even as a warning); false also
// when it cannot tell exactly with int64 figures and 128-bit products.
func (e *Engine) passes(reg Register, h History, rd Reading, today time.Time) bool {
	x := &e.c.exact
	if !x.ok || reg.Digits < 0 || reg.Decimals < 0 || reg.Digits+reg.Decimals > MaxDigits {
		return false
	}
	v, ok := parseScaled(rd.Value, reg.Digits, reg.Decimals)
	readOn := epochDay(rd.ReadOn)
	if !ok || readOn > epochDay(today) {
		return false
	}
	if h.Count == 0 {
		return true
	}
	last, ok := storedScaled(h.Last, reg.Decimals)
	lastOn := epochDay(h.LastOn)
	if !ok || readOn < lastOn {
		return false
	}
	scale := pow10u(reg.Decimals)
	since := uint64(readOn - lastOn)
	// Expected consumption: total·since/span, kept as the fraction (total·since)/span.
	var total, span uint64
	if h.Count >= 2 {
		if s := lastOn - epochDay(h.FirstOn); s > 0 {
			t, ok := storedScaled(h.Consumption, reg.Decimals)
			if !ok {
				return false
			}
			total, span = t, uint64(s)
		}
	}
	known := span > 0
	// aboveUpper says that a consumption c (scaled) is above the band's upper edge
	// max(E·(100+plus)/100, E+minBand): above both.
	aboveUpper := func(c uint64) (bool, bool) {
		l, ok1 := mul3(c, span, 100)
		r, ok2 := mul3(total, since, 100+x.plus)
		if !ok1 || !ok2 {
			return false, false
		}
		if l.cmp(r) <= 0 {
			return false, true
		}
		// c·span·mbDen > total·since·mbDen + mbNum·scale·span
		l, ok1 = mul3(c, span, x.mbDen)
		r, ok2 = mul3(total, since, x.mbDen)
		m, ok3 := mul3(x.mbNum, scale, span)
		r, ok4 := r.add(m)
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return false, false
		}
		return l.cmp(r) > 0, true
	}

	c := v - last
	if v < last {
		// Past 10^digits the register starts again at 0.
		if last-v > pow10u(reg.Digits)*scale {
			return false // a stored figure past 10^digits: Check says what it means
		}
		c = v + pow10u(reg.Digits)*scale - last
		var above bool
		if known {
			a, ok := aboveUpper(c)
			if !ok {
				return false
			}
			above = a
		} else {
			// c > 10^digits·overflow/100, all scaled
			l, ok1 := mul3(c, 100, 1)
			r, ok2 := mul3(pow10u(reg.Digits), scale, x.overflow)
			if !ok1 || !ok2 {
				return false
			}
			above = l.cmp(r) > 0
		}
		if above {
			return false // monotonic
		}
	}
	if c == 0 {
		return false // zero
	}
	if !known {
		return true
	}
	// max_factor fails only above the upper edge too, so tolerance fails with it.
	if above, ok := aboveUpper(c); !ok || above {
		return false
	}
	// Below the lower edge max(0, min(E·(100−minus)/100, E−minBand)) is below both
	// (c > 0 here).
	l, ok1 := mul3(c, span, 100)
	r, ok2 := mul3(total, since, 100-x.minus)
	if !ok1 || !ok2 {
		return false
	}
	if l.cmp(r) >= 0 {
		return true
	}
	// c·span·mbDen + mbNum·scale·span < total·since·mbDen
	l, ok1 = mul3(c, span, x.mbDen)
	m, ok3 := mul3(x.mbNum, scale, span)
	l, ok4 := l.add(m)
	r, ok2 = mul3(total, since, x.mbDen)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return false
	}
	return l.cmp(r) >= 0
}

// epochDay is the number of t's calendar date (in t's location) counted from
// 1970-01-01: day(t) without time.Date (H. Hinnant's days_from_civil).
func epochDay(t time.Time) int64 {
	y, m, d := t.Date()
	yy := int64(y)
	if m <= 2 {
		yy--
	}
	era := yy / 400
	if yy < 0 && yy%400 != 0 {
		era--
	}
	yoe := yy - era*400
	mp := (int64(m) + 9) % 12
	doy := (153*mp+2)/5 + int64(d) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// pow10u is 10^n for n ≤ MaxDigits.
func pow10u(n int) uint64 {
	p := uint64(1)
	for ; n > 0; n-- {
		p *= 10
	}
	return p
}

// parseScaled is ParseValue as an integer in units of 10^-decimals.
func parseScaled(s string, digits, decimals int) (uint64, bool) {
	intPart, frac, ok := splitValue(s, digits, decimals)
	if !ok {
		return 0, false
	}
	return scaled(intPart, frac, decimals), true
}

// storedScaled reads a non-negative decimal as PostgreSQL prints numeric, in units of
// 10^-decimals; false when it has more significant decimals or more than MaxDigits.
func storedScaled(s string, decimals int) (uint64, bool) {
	intPart, frac, hasPoint := strings.Cut(s, ".")
	if intPart == "" || hasPoint && frac == "" || !allDigits(intPart) || !allDigits(frac) {
		return 0, false
	}
	intPart = strings.TrimLeft(intPart, "0")
	frac = strings.TrimRight(frac, "0")
	if len(frac) > decimals || len(intPart)+decimals > MaxDigits+3 {
		return 0, false
	}
	return scaled(intPart, frac, decimals), true
}

// scaled is intPart.frac times 10^decimals (frac has at most decimals digits, the
// figure at most 18 digits).
func scaled(intPart, frac string, decimals int) uint64 {
	var n uint64
	for i := 0; i < len(intPart); i++ {
		n = n*10 + uint64(intPart[i]-'0')
	}
	for i := 0; i < decimals; i++ {
		n *= 10
		if i < len(frac) {
			n += uint64(frac[i] - '0')
		}
	}
	return n
}
