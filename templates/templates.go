// Package templates holds Portalwerk's mail and portal templates, German and English, as
// an embedded file system. It imports no project package.
package templates

import "embed"

// FS holds the templates under mail/ (named <name>.<lang>.<ext>).
//
//go:embed mail
var FS embed.FS
