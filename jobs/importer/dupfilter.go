package importer

import (
	"hash/maphash"
)

// dupFilter watches the values of a column that must be unique in the file while the
// rows stream past, in fixed memory: a Bloom filter of 2^25 bits (4 MiB) and the values
// it may have seen before, false positives included, up to maxCandidates. With no
// candidates the file has no duplicates and the forecast skips its duplicate search
// over the staging table; with a few it searches only their rows; past the cap it
// searches everything. About 200 false positives are expected at 1,000,000 rows.
type dupFilter struct {
	seed       maphash.Seed
	bits       []uint64
	candidates map[string]struct{}
	overflow   bool
}

const (
	dupFilterBits = 1 << 25
	maxCandidates = 10000
)

func newDupFilter() *dupFilter {
	return &dupFilter{seed: maphash.MakeSeed(), bits: make([]uint64, dupFilterBits/64), candidates: map[string]struct{}{}}
}

// add notes v; a value that may have been added before becomes a candidate.
func (f *dupFilter) add(v string) {
	h := maphash.String(f.seed, v)
	h1, h2 := uint32(h), uint32(h>>32)|1
	seen := true
	for i := range uint32(3) { // three probes by double hashing
		bit := (h1 + i*h2) % dupFilterBits
		word, mask := bit/64, uint64(1)<<(bit%64)
		if f.bits[word]&mask == 0 {
			seen = false
			f.bits[word] |= mask
		}
	}
	if !seen || f.overflow {
		return
	}
	if len(f.candidates) >= maxCandidates {
		f.overflow, f.candidates = true, nil
		return
	}
	f.candidates[v] = struct{}{}
}

// dupCheck says where duplicates of a column can be: nowhere, among some values, or
// anywhere (all).
type dupCheck struct {
	all    bool
	values []string
}

func (f *dupFilter) result() dupCheck {
	if f == nil || f.overflow {
		return dupCheck{all: true}
	}
	values := make([]string, 0, len(f.candidates))
	for v := range f.candidates {
		values = append(values, v)
	}
	return dupCheck{values: values}
}
