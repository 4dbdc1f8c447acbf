package store

import (
	"testing"
	"time"
)

// The history the release sums up while the candidates stream: overflows add
// 10^digits, values with more decimals than the register and figures past int64
// are still exact.
func TestReleaseHistorySum(t *testing.T) {
	d := func(s string) time.Time { t, _ := time.Parse(time.DateOnly, s); return t }
	for _, tt := range []struct {
		name             string
		digits, decimals int
		values           []string
		want             string
	}{
		{"none", 6, 0, nil, "0"},
		{"one", 6, 0, []string{"500"}, "0"},
		{"steps", 6, 0, []string{"1000", "1300", "1350"}, "350"},
		{"an overflow", 4, 0, []string{"9900", "100", "300"}, "400"},
		{"decimals", 5, 3, []string{"10.100", "10.4", "10.45"}, "0.350"},
		{"more decimals than the register", 5, 1, []string{"10.125", "10.5", "11"}, "0.875"},
		{"past 18 digits", 15, 3, []string{"999999999999999", "0", "999999999999999", "0", "999999999999999", "0", "999999999999999", "0",
			"999999999999999", "0", "999999999999999", "0", "999999999999999", "0", "999999999999999", "0", "999999999999999", "0", "999999999999999"},
			"9000000000000000"}, // 9 × (10^15 − 1) up, 9 × 1 over the top
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := history{digits: tt.digits, decimals: tt.decimals}
			on := d("2026-01-01")
			for i, v := range tt.values {
				h.add(v, on.AddDate(0, 0, i))
			}
			got := h.consumption()
			if got != tt.want {
				t.Errorf("consumption %s, want %s", got, tt.want)
			}
			if h.n != len(tt.values) || h.n > 0 && (h.last != tt.values[len(tt.values)-1] || !h.firstOn.Equal(on) || !h.lastOn.Equal(on.AddDate(0, 0, h.n-1))) {
				t.Errorf("history %+v", h)
			}
		})
	}
}

// The aggregated history comes in any order and is summed up in (date, id) order.
func TestParseReleased(t *testing.T) {
	got, err := parseReleased(nil, "7 1300 2026-01-31,9 1350 2026-01-31,3 1000 2026-01-01,5 1200 2026-01-31")
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, r := range got {
		ids = append(ids, r.id)
	}
	if len(ids) != 4 || ids[0] != 3 || ids[1] != 5 || ids[2] != 7 || ids[3] != 9 || got[3].value != "1350" ||
		!got[0].on.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("parsed %+v", got)
	}
	if got, err := parseReleased(got[:0], ""); err != nil || len(got) != 0 {
		t.Errorf("no history: %+v %v", got, err)
	}
	if _, err := parseReleased(nil, "x 1000 2026-01-01"); err == nil {
		t.Error("a broken history was parsed")
	}
}
