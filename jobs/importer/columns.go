package importer

import (
	"fmt"
	"strings"

	"portalwerk/jobs/sheet"
)

// column is a field a profile reads; the first name is how the user sees it in errors
// when the file has no header.
type column struct {
	field    string
	names    []string // display name first, then aliases; matched case-insensitively
	required bool
}

var profileColumns = map[string][]column{
	ProfileEmails: {
		{field: "external_id", names: []string{"Nutzerfremdnummer", "User foreign number", "Nutzer-Fremdnummer", "external_id"}, required: true},
		{field: "email", names: []string{"E-Mail", "E-mail", "Email", "E-Mail-Adresse"}, required: true},
	},
	ProfileCustomers: {
		{field: "external_id", names: []string{"external_id", "Externe ID", "Nutzerfremdnummer"}},
		{field: "portal_id", names: []string{"portal_id", "Portal ID"}},
		{field: "salutation", names: []string{"salutation", "Anrede"}},
		{field: "first_name", names: []string{"first_name", "Vorname"}},
		{field: "last_name", names: []string{"last_name", "Nachname"}},
		{field: "company", names: []string{"company", "Firma"}},
		{field: "street", names: []string{"street", "Straße"}},
		{field: "zip", names: []string{"zip", "PLZ", "Postleitzahl"}},
		{field: "city", names: []string{"city", "Ort"}},
		{field: "email", names: []string{"email", "E-Mail"}},
		{field: "phone", names: []string{"phone", "Telefon"}},
		{field: "login_id", names: []string{"login_id", "Login ID"}},
		{field: "password", names: []string{"password", "Passwort"}},
	},
	ProfileContracts: contractsColumns,
}

func normalizeHeader(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

// layout maps a profile's fields to positions in the file's rows.
type layout struct {
	pos  map[string]int    // field → column index
	name map[string]string // field → the column's name as the user sees it
}

func (l layout) has(field string) bool { _, ok := l.pos[field]; return ok }

// cell returns the field's cell of a row (Empty when the row is short or the column absent).
func (l layout) cell(r sheet.Row, field string) sheet.Cell {
	i, ok := l.pos[field]
	if !ok || i >= len(r.Cells) {
		return sheet.Cell{}
	}
	return r.Cells[i]
}

func findColumn(cols []column, name string) (column, bool) {
	n := normalizeHeader(name)
	for _, c := range cols {
		for _, alias := range c.names {
			if normalizeHeader(alias) == n {
				return c, true
			}
		}
	}
	return column{}, false
}

// layoutFromHeader matches a header row; unknown columns are ignored, a missing required
// column is an error naming it.
func layoutFromHeader(profile string, header sheet.Row) (layout, error) {
	cols := profileColumns[profile]
	l := layout{pos: map[string]int{}, name: map[string]string{}}
	for i, c := range header.Cells {
		col, ok := findColumn(cols, c.Value)
		if !ok {
			continue
		}
		if _, dup := l.pos[col.field]; dup {
			return l, &FileError{Code: "duplicate_column", Message: fmt.Sprintf("Die Spalte „%s“ kommt in der Kopfzeile zweimal vor.", strings.TrimSpace(c.Value))}
		}
		l.pos[col.field] = i
		l.name[col.field] = strings.TrimSpace(c.Value)
	}
	for _, c := range cols {
		if c.required && !l.has(c.field) {
			return l, &FileError{Code: "missing_column", Message: fmt.Sprintf("Die Pflichtspalte „%s“ fehlt in der Kopfzeile (Zeile %d). Bitte benennen Sie die Spalte genau so.", c.names[0], header.Num)}
		}
	}
	if len(l.pos) == 0 {
		return l, &FileError{Code: "missing_column", Message: fmt.Sprintf("Die Kopfzeile (Zeile %d) enthält keine bekannte Spalte. Erwartet werden z. B. %s.", header.Num, cols[0].names[0])}
	}
	return l, nil
}

// columnsByPosition maps `columns=a,b,-,c` (header=false): fields in file order, "-"
// skips a column.
func columnsByPosition(profile, spec string) (layout, error) {
	cols := profileColumns[profile]
	l := layout{pos: map[string]int{}, name: map[string]string{}}
	for i, name := range strings.Split(spec, ",") {
		name = strings.TrimSpace(name)
		if name == "-" || name == "" {
			continue
		}
		col, ok := findColumn(cols, name)
		if !ok {
			return l, &OptionError{Field: "columns", Message: fmt.Sprintf("Unbekannte Spalte „%s“ in „columns“.", name)}
		}
		if _, dup := l.pos[col.field]; dup {
			return l, &OptionError{Field: "columns", Message: fmt.Sprintf("Die Spalte „%s“ steht zweimal in „columns“.", name)}
		}
		l.pos[col.field] = i
		l.name[col.field] = col.names[0]
	}
	for _, c := range cols {
		if c.required && !l.has(c.field) {
			return l, &OptionError{Field: "columns", Message: fmt.Sprintf("„columns“ muss die Pflichtspalte „%s“ enthalten.", c.names[0])}
		}
	}
	return l, nil
}

// FileError is a problem with the file as a whole, in a sentence for the user.
type FileError struct {
	Code    string
	Message string // shown to the user as is
	Err     error  // the technical cause (the reader's error), for logs; may be nil
}

// Error returns the user's message.
func (e *FileError) Error() string { return e.Message }

// Unwrap returns the technical cause.
func (e *FileError) Unwrap() error { return e.Err }
