package importer

import (
	"fmt"
	"slices"
	"testing"
)

func TestDupFilterFindsEveryDuplicate(t *testing.T) {
	f := newDupFilter()
	dups := []string{}
	for i := range 200000 {
		f.add(fmt.Sprintf("%020d", i))
		if i%50000 == 7 {
			f.add(fmt.Sprintf("%020d", i/2)) // a duplicate of an earlier value
			dups = append(dups, fmt.Sprintf("%020d", i/2))
		}
	}
	got := f.result()
	if got.all {
		t.Fatal("overflowed at 200,000 values")
	}
	for _, d := range dups {
		if !slices.Contains(got.values, d) {
			t.Errorf("duplicate %s is not a candidate", d)
		}
	}
	if len(got.values) > len(dups)+100 {
		t.Errorf("%d candidates for %d duplicates: too many false positives", len(got.values), len(dups))
	}
}

func TestDupFilterWithoutDuplicatesHasFewCandidates(t *testing.T) {
	f := newDupFilter()
	for i := range 100000 {
		f.add(fmt.Sprintf("k%d", i))
	}
	if got := f.result(); got.all || len(got.values) > 10 {
		t.Errorf("all %v, %d candidates for 100,000 distinct values", got.all, len(got.values))
	}
}

func TestDupFilterOverflowsToAll(t *testing.T) {
	f := newDupFilter()
	for i := range maxCandidates + 1 {
		f.add(fmt.Sprint(i))
		f.add(fmt.Sprint(i))
	}
	if got := f.result(); !got.all || got.values != nil {
		t.Errorf("after %d duplicates: all %v, %d values", maxCandidates+1, got.all, len(got.values))
	}
	var nilFilter *dupFilter
	if !nilFilter.result().all {
		t.Error("no filter must mean: search everything")
	}
}
