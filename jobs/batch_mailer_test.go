package jobs

import (
	"testing"
	"time"
)

// A sender that found nothing to claim claims again when a slice came since it looked,
// waits while the selection is still running, and ends once the selection has finished
// with nothing new; without a growing selection it ends at once.
func TestGrowingSelection(t *testing.T) {
	var none *growing
	if none.wait(none.seen()) {
		t.Error("a complete selection (nil) said more may come")
	}
	g := newGrowing()
	seen := g.seen()
	g.added()
	if !g.wait(seen) {
		t.Error("a slice committed after the claim looked: want claim again")
	}
	seen = g.seen()
	woke := make(chan bool, 1)
	go func() { woke <- g.wait(seen) }()
	select {
	case <-woke:
		t.Fatal("wait returned while the selection was running with nothing new")
	case <-time.After(20 * time.Millisecond):
	}
	g.added()
	if !<-woke {
		t.Error("woken by a new slice: want claim again")
	}
	seen = g.seen()
	g.finish()
	if !g.wait(seen) {
		t.Error("finished after the claim looked: want one more claim (the last slice's rows)")
	}
	if g.wait(g.seen()) {
		t.Error("finished and nothing new: want the sender to end")
	}
}
