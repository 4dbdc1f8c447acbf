package api

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// perTenant counts what each tenant holds of one resource (uploads, downloads) in this
// process, so that one tenant cannot take all of it from the others.
type perTenant struct {
	max  int
	mu   sync.Mutex
	held map[int64]int
}

func newPerTenant(max int) *perTenant {
	return &perTenant{max: max, held: map[int64]int{}}
}

// acquire takes one of the tenant's slots; it reports false when all are taken. The
// caller calls release exactly once after a true.
func (p *perTenant) acquire(tenantID int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held[tenantID] >= p.max {
		return false
	}
	p.held[tenantID]++
	return true
}

func (p *perTenant) release(tenantID int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held[tenantID]--; p.held[tenantID] <= 0 {
		delete(p.held, tenantID)
	}
}

// retryLater is a refusal for now (429 or 503) that tells the client when to try again.
func retryLater(w http.ResponseWriter, status int, after time.Duration, msg string) *Error {
	w.Header().Set("Retry-After", strconv.Itoa(int(after.Round(time.Second)/time.Second)))
	return &Error{status, msg}
}
