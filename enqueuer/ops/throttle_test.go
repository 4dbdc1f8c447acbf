package ops

import (
	"fmt"
	"testing"
	"time"
)

func TestLoginThrottle(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	l := newLoginThrottle(func() time.Time { return now })
	for range maxFailures - 1 {
		l.failed("a")
	}
	if l.blocked("a") != 0 {
		t.Fatal("blocked before the limit")
	}
	l.failed("a")
	if w := l.blocked("a"); w != failureWindow {
		t.Fatalf("blocked for %s, want %s", w, failureWindow)
	}
	now = now.Add(failureWindow + time.Second)
	if l.blocked("a") != 0 {
		t.Error("still blocked after the window")
	}
	// Failures spread wider than the window never block.
	for range 3 * maxFailures {
		l.failed("b")
		now = now.Add(failureWindow / 5)
	}
	if l.blocked("b") != 0 {
		t.Error("slow failures blocked")
	}
	// A success forgets the failures.
	for range maxFailures - 1 {
		l.failed("c")
	}
	l.succeeded("c")
	l.failed("c")
	if l.blocked("c") != 0 {
		t.Error("failures before a success still count")
	}
	// The memory is bounded.
	for i := range 2 * maxTracked {
		l.failed(fmt.Sprint("ip-", i))
	}
	if len(l.fails) > maxTracked {
		t.Errorf("%d addresses tracked, bound %d", len(l.fails), maxTracked)
	}
}
