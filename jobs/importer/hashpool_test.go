package importer

import (
	"context"
	"sync"
	"testing"
)

// hashBatch replaces every password of a batch, and only those, through the pool, and
// gives up a batch once the context ends.
func TestHashBatch(t *testing.T) {
	hashes := make(chan hashJob)
	var served sync.WaitGroup
	var mu sync.Mutex
	seen := map[plainPassword]bool{}
	for range 2 {
		served.Add(1)
		go func() {
			defer served.Done()
			for j := range hashes {
				mu.Lock()
				seen[j.pw] = true
				mu.Unlock()
				*j.dst = "hash:" + string(j.pw)
				j.done.Done()
			}
		}()
	}
	batch := [][]any{{1, "K-1", plainPassword("a")}, {2, "K-2", nil}, {3, "K-3", plainPassword("c")}}
	if !hashBatch(context.Background(), hashes, batch) {
		t.Fatal("hashBatch gave up without a cancel")
	}
	close(hashes)
	served.Wait()
	want := [][]any{{1, "K-1", "hash:a"}, {2, "K-2", nil}, {3, "K-3", "hash:c"}}
	for i := range want {
		for k := range want[i] {
			if batch[i][k] != want[i][k] {
				t.Errorf("row %d value %d = %v, want %v", i, k, batch[i][k], want[i][k])
			}
		}
	}
	if len(seen) != 2 {
		t.Errorf("the pool hashed %v, want a and c", seen)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if hashBatch(ctx, make(chan hashJob), [][]any{{1, plainPassword("x")}}) {
		t.Error("hashBatch went on after its context ended")
	}
}
