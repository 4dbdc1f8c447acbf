package api

import (
	"testing"

	"portalwerk/store"
)

func TestReadableBytes(t *testing.T) {
	for n, want := range map[int64]string{
		1: "1 Byte", 512: "512 Bytes", 1024: "1 KiB", 4096: "4 KiB", 1536: "1,5 KiB", 1023 * 1024: "1023 KiB",
		1 << 20: "1 MiB", 1<<20 + 1<<19 + 1<<18: "1,7 MiB", 256 << 20: "256 MiB", 5 << 30: "5 GiB",
	} {
		if got := readableBytes(n); got != want {
			t.Errorf("readableBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestPluralAndStatus(t *testing.T) {
	if got := plural(1, "fehlerhafte Zeile", "fehlerhafte Zeilen"); got != "1 fehlerhafte Zeile" {
		t.Error(got)
	}
	if got := plural(2, "fehlerhafte Zeile", "fehlerhafte Zeilen"); got != "2 fehlerhafte Zeilen" {
		t.Error(got)
	}
	for _, s := range []store.ImportStatus{store.ImportQueued, store.ImportPreviewing, store.ImportPreviewed,
		store.ImportApplying, store.ImportDone, store.ImportFailed, store.ImportCancelled} {
		if statusGerman[s] == "" {
			t.Errorf("status %s has no German name", s)
		}
	}
}
