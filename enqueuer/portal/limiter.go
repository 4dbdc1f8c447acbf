package portal

import (
	"sync"
	"time"
)

// maxLimiterKeys bounds the limiter's memory: past it, expired windows are dropped, and
// if none has expired, new keys are refused until one does.
const maxLimiterKeys = 100_000

// rates are the limits of login and forgot-password attempts, per address and per
// client IP.
type rates struct {
	loginPerAddress, loginPerIP, forgotPerAddress, forgotPerIP rate
}

var defaultRates = rates{
	loginPerAddress:  rate{n: 10, per: 15 * time.Minute},
	loginPerIP:       rate{n: 50, per: 15 * time.Minute},
	forgotPerAddress: rate{n: 3, per: time.Hour},
	forgotPerIP:      rate{n: 20, per: time.Hour},
}

type rate struct {
	n   int
	per time.Duration
}

// limiter counts attempts per key in fixed windows, in this process (bounded).
type limiter struct {
	mu   sync.Mutex
	max  int
	wins map[string]*window
}

type window struct {
	start time.Time
	per   time.Duration
	n     int
}

func newLimiter(max int) *limiter { return &limiter{max: max, wins: map[string]*window{}} }

// allow counts an attempt for key and says whether it is within r, and if not, how long
// until the window ends.
func (l *limiter) allow(key string, r rate, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.wins[key]
	if w != nil && now.Sub(w.start) >= w.per {
		w = nil
	}
	if w == nil {
		if len(l.wins) >= l.max {
			for k, old := range l.wins {
				if now.Sub(old.start) >= old.per {
					delete(l.wins, k)
				}
			}
			if len(l.wins) >= l.max {
				return false, time.Minute
			}
		}
		w = &window{start: now, per: r.per}
		l.wins[key] = w
	}
	w.n++
	if w.n > r.n {
		return false, w.start.Add(w.per).Sub(now)
	}
	return true, 0
}
