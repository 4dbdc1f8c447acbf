// Package templates holds Portalwerk's mail and portal templates, German and English, as
// an embedded file system. It imports no project package.
package templates

import (
	"embed"
	"strings"
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
