// Package templates holds Portalwerk's mail and portal templates, German and English, as
// an embedded file system. It imports no project package.
package templates

import (
	"embed"
	"strings"
	"time"
)

// FS holds the mail templates under mail/ (named <name>.<lang>.<ext>) and the portal
// pages under portal/ (layout.html and one file per page).
//
//go:embed mail portal
var FS embed.FS

// Lang is the template language for a locale ("de", "en-GB", "EN" …): English for
// English, German, the default, for everything else.
func Lang(locale string) string {
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(locale)), "en") {
		return "en"
	}
	return "de"
}

// Number writes a decimal as its language reads it ("12345.50": German "12.345,50",
// English "12,345.50"). The digits stay as given: no rounding.
func Number(lang, s string) string {
	group, point := ".", ","
	if lang == "en" {
		group, point = ",", "."
	}
	intPart, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	if rest, neg := strings.CutPrefix(intPart, "-"); neg {
		b.WriteByte('-')
		intPart = rest
	}
	for i, r := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteString(group)
		}
		b.WriteRune(r)
	}
	if hasFrac {
		b.WriteString(point + frac)
	}
	return b.String()
}

// Date writes a day as its language reads it: German 03.11.2026, English 3 Nov 2026.
func Date(lang string, t time.Time) string {
	if lang == "en" {
		return t.Format("2 Jan 2006")
	}
	return t.Format("02.01.2006")
}
