package api

import (
	"fmt"
	"strconv"
	"strings"

	"portalwerk/store"
)

// statusGerman is how a status reads inside a German sentence; the API's own status
// value follows in brackets, so API users can match it.
var statusGerman = map[store.ImportStatus]string{
	store.ImportQueued:     "in der Warteschlange",
	store.ImportPreviewing: "Vorschau läuft",
	store.ImportPreviewed:  "in Vorschau",
	store.ImportApplying:   "wird angewendet",
	store.ImportDone:       "angewendet",
	store.ImportFailed:     "fehlgeschlagen",
	store.ImportCancelled:  "abgebrochen",
}

// inStatus reads „in Vorschau“ (previewed).
func inStatus(s store.ImportStatus) string {
	return "„" + statusGerman[s] + "“ (" + string(s) + ")"
}

// plural reads "1 fehlerhafte Zeile", "2 fehlerhafte Zeilen".
func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.FormatInt(n, 10) + " " + many
}

// readableBytes gives a size in the largest binary unit it fills, never rounded up (a
// limit must not read larger than it is): 512 Bytes, 4 KiB, 1,5 MiB, 256 MiB.
func readableBytes(n int64) string {
	units := []string{"KiB", "MiB", "GiB", "TiB"}
	if n < 1024 {
		return plural(n, "Byte", "Bytes")
	}
	unit := int64(1024)
	i := 0
	for i < len(units)-1 && n >= unit*1024 {
		unit *= 1024
		i++
	}
	tenths := n * 10 / unit
	if tenths%10 == 0 {
		return fmt.Sprintf("%d %s", tenths/10, units[i])
	}
	return strings.Replace(fmt.Sprintf("%d.%d %s", tenths/10, tenths%10, units[i]), ".", ",", 1)
}
