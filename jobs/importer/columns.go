package importer

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"

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
		{field: "external_id", names: []string{"external_id", "Externe ID", "Nutzerfremdnummer", "Nutzer-Fremdnummer", "User foreign number"}},
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

// nfnHeaders are the header names that make a key column a Nutzerfremdnummer (20
// digits), in every profile.
var nfnHeaders = []string{"Nutzerfremdnummer", "Nutzer-Fremdnummer", "User foreign number"}

func isNFNHeader(name string) bool {
	n := normalizeHeader(name)
	for _, h := range nfnHeaders {
		if n == normalizeHeader(h) {
			return true
		}
	}
	return false
}

// layout maps a profile's fields to positions in the file's rows.
type layout struct {
	pos  map[string]int    // field → column index
	name map[string]string // field → the column's name as the user sees it
	// headerRow is the header's row number (0 with header=false); headers are its
	// cells as found, ignored those the profile does not know.
	headerRow int
	headers   []string
	ignored   []string
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

// columnName names column i of the file for a row error: its header, else its letter.
func (l layout) columnName(i int) string {
	if i < len(l.headers) && l.headers[i] != "" {
		return l.headers[i]
	}
	for f, p := range l.pos {
		if p == i {
			return l.name[f]
		}
	}
	return "Spalte " + columnLetter(i)
}

// columnLetter is the spreadsheet name of column i (0 = A).
func columnLetter(i int) string {
	s := ""
	for i++; i > 0; i = (i - 1) / 26 {
		s = string(rune('A'+(i-1)%26)) + s
	}
	return s
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

// headerSearchRows is how many rows (with a value) may stand above the header: exports
// put a title, an account or a date line above the table.
const headerSearchRows = 20

// findHeader reads up to headerSearchRows rows and takes the first that holds every
// required field (and at least one known column) as the header; the rows above it are
// passed over. When none does, the error names what the best candidate lacks.
func findHeader(rd sheet.Reader, profile string, required []string) (layout, error) {
	var best layout
	var bestErr error
	for n := 0; n < headerSearchRows; n++ {
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			if n == 0 {
				return layout{}, &FileError{Code: "empty_file", Message: "Die Datei enthält keine Zeilen."}
			}
			break
		}
		if err != nil {
			return layout{}, fileError(err)
		}
		l, dup := matchHeader(profile, row)
		if len(l.pos) == 0 {
			continue
		}
		missing := ""
		for _, f := range required {
			if !l.has(f) {
				missing = f
				break
			}
		}
		if missing == "" {
			return l, dup
		}
		if len(l.pos) > len(best.pos) {
			best, bestErr = l, missingColumn(profile, missing, row.Num)
		}
	}
	if bestErr != nil {
		return best, bestErr
	}
	cols := profileColumns[profile]
	return layout{}, &FileError{Code: "missing_column", Message: fmt.Sprintf(
		"In den ersten %d Zeilen der Datei steht keine Kopfzeile mit bekannten Spalten. Erwartet werden z. B. „%s“ und „%s“.",
		headerSearchRows, cols[0].names[0], cols[1].names[0])}
}

// missingColumn is the error for a header that lacks a required field.
func missingColumn(profile, field string, row int) error {
	for _, c := range profileColumns[profile] {
		if c.field == field && c.required {
			return &FileError{Code: "missing_column", Message: fmt.Sprintf("Die Pflichtspalte „%s“ fehlt in der Kopfzeile (Zeile %d). Bitte benennen Sie die Spalte genau so.", c.names[0], row)}
		}
	}
	return &FileError{Code: "missing_column", Message: fmt.Sprintf("Für den Abgleich fehlt die Spalte %s in der Kopfzeile (Zeile %d).", field, row)}
}

// matchHeader maps a header row; unknown columns are ignored (and listed), a field
// twice is an error naming the column.
func matchHeader(profile string, header sheet.Row) (layout, error) {
	cols := profileColumns[profile]
	l := layout{pos: map[string]int{}, name: map[string]string{}, headerRow: header.Num}
	var dup error
	for i, c := range header.Cells {
		found := printable(strings.TrimSpace(c.Value))
		l.headers = append(l.headers, found)
		col, ok := findColumn(cols, c.Value)
		if !ok {
			if found != "" {
				l.ignored = append(l.ignored, found)
			}
			continue
		}
		if _, seen := l.pos[col.field]; seen {
			if dup == nil {
				dup = &FileError{Code: "duplicate_column", Message: fmt.Sprintf("Die Spalte „%s“ kommt in der Kopfzeile zweimal vor.", found)}
			}
			continue
		}
		l.pos[col.field] = i
		l.name[col.field] = found
	}
	return l, dup
}

// printable drops control characters (a NUL cannot be stored in PostgreSQL text).
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
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
		if isNFNHeader(name) {
			l.name[col.field] = nfnHeaders[0] // read as a Nutzerfremdnummer
		}
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
