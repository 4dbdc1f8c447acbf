// Package sheet reads uploaded spreadsheets (.xlsx and .csv) row by row as
// typed cells. It is the only place that knows about excelize and
// encoding/csv; import profiles consume the Reader interface. Readers stream:
// memory stays flat however many rows the file has.
package sheet

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// Kind is the type of a cell's content.
type Kind uint8

// Cell kinds. Date is part of the model but not produced yet: the xlsx
// reader cannot see cell styles, so dates arrive as Number (the Excel serial
// day), and CSV has no types at all.
const (
	Empty Kind = iota
	Text
	Number
	Bool
	Date
	Error // a spreadsheet error value such as #N/A
)

// Cell is one cell of a row.
type Cell struct {
	Kind Kind
	// Value is the cell's raw content: text as typed; for numbers the number
	// as stored in the file (e.g. "1200100123", "1.2345678901234567E+19",
	// "12.5"), not the formatted display. Empty cells have Value "".
	Value string
	// Format is the number format code where the reader knows it; "" else.
	Format string
}

// Row is a row that has a value in at least one cell.
type Row struct {
	// Num is the row number as the user sees it in the spreadsheet: header
	// = 1; blank rows in between still count.
	Num int
	// Cells is indexed by column position (0 = column A); trailing empty
	// cells are omitted.
	Cells []Cell
}

// Reader yields the rows of one sheet. It is not safe for concurrent use.
type Reader interface {
	// Next returns the next row that has a value in at least one cell; rows
	// whose cells are all empty or whitespace-only are passed over
	// (LibreOffice appends thousands of formatted empty rows). It returns
	// io.EOF at the end.
	Next() (Row, error)
	// Close releases the file and any temp files.
	Close() error
}

// Options selects what to read and how.
type Options struct {
	Sheet     string // xlsx: sheet name; "" = first sheet
	Delimiter string // csv: "auto" (or "") | ";" | "," | "tab" | "|"
	Encoding  string // csv: "auto" (or "") | "utf-8" | "utf-16" | "windows-1252"
}

// Detected is what a reader found out about its file, for the user to see.
type Detected struct {
	Format    string // "csv" or "xlsx"; "" when the reader does not say
	Sheet     string // xlsx: the sheet read
	Encoding  string // csv: "utf-8", "utf-16" or "windows-1252"
	Delimiter string // csv: ";", ",", "tab" or "|"
}

// Describe returns what r found out about its file, as far as its reader tells (a
// reader says so with a method Detected() Detected). Asked after the last row, it
// includes what only reading showed (a late switch to Windows-1252).
func Describe(r Reader) Detected {
	if p, ok := r.(*prefetched); ok {
		r = p.Reader
	}
	if d, ok := r.(interface{ Detected() Detected }); ok {
		return d.Detected()
	}
	return Detected{}
}

// FileError codes.
const (
	CodeNotXLSX       = "not_xlsx"
	CodeEncrypted     = "encrypted"
	CodeCorrupt       = "corrupt"
	CodeTooLarge      = "too_large"
	CodeSheetNotFound = "sheet_not_found"
	CodeEmptyFile     = "empty_file"
	CodeBadEncoding   = "bad_encoding"
	CodeBadCSV        = "bad_csv"
)

const resaveAsXLSXAdvice = "Bitte speichern Sie sie in Excel als „Excel-Arbeitsmappe (.xlsx)“."

// FileError is a problem with the file as a whole, with a sentence a German
// property manager understands.
type FileError struct {
	Code    string // one of the Code* constants
	Message string // German, shown to the user as is
	Err     error  // the technical cause, for logs; may be nil
}

// Error returns the user-facing message.
func (e *FileError) Error() string { return e.Message }

// Unwrap returns the technical cause.
func (e *FileError) Unwrap() error { return e.Err }

func notXLSX(err error) *FileError {
	return &FileError{Code: CodeNotXLSX, Err: err,
		Message: "Die Datei ist keine gültige .xlsx-Datei. " + resaveAsXLSXAdvice}
}

func oldXLS() *FileError {
	return &FileError{Code: CodeNotXLSX,
		Message: "Die Datei ist im alten Excel-Format (.xls) gespeichert. " + resaveAsXLSXAdvice}
}

func encrypted(err error) *FileError {
	return &FileError{Code: CodeEncrypted, Err: err,
		Message: "Die Datei ist mit einem Kennwort geschützt. Bitte entfernen Sie den Kennwortschutz in Excel und laden Sie die Datei erneut hoch."}
}

// corrupt builds a corrupt error; row 0 means the row is not known.
func corrupt(row int, err error) *FileError {
	where := ""
	if row > 0 {
		where = fmt.Sprintf(" ab Zeile %d", row)
	}
	return &FileError{Code: CodeCorrupt, Err: err,
		Message: "Die Datei ist" + where + " beschädigt und kann nicht gelesen werden. Bitte öffnen Sie sie in Excel, speichern Sie sie erneut und laden Sie sie noch einmal hoch."}
}

func tooLarge(err error) *FileError {
	return &FileError{Code: CodeTooLarge, Err: err,
		Message: "Die Datei ist zu groß, um sie zu verarbeiten. Bitte entfernen Sie nicht benötigte Tabellenblätter, Bilder und Formatierungen oder teilen Sie die Daten auf mehrere Dateien auf."}
}

func sheetNotFound(name string, available []string) *FileError {
	return &FileError{Code: CodeSheetNotFound,
		Message: fmt.Sprintf("Das Tabellenblatt „%s“ gibt es in der Datei nicht. Vorhandene Tabellenblätter: „%s“.",
			name, strings.Join(available, "“, „"))}
}

func emptyFile(sheet string) *FileError {
	msg := "Die Datei enthält keine Daten."
	if sheet != "" {
		msg = fmt.Sprintf("Das Tabellenblatt „%s“ enthält keine Daten.", sheet)
	}
	return &FileError{Code: CodeEmptyFile, Message: msg}
}

func badEncoding(row int, err error) *FileError {
	return &FileError{Code: CodeBadEncoding, Err: err,
		Message: fmt.Sprintf("Die Datei enthält in Zeile %d Zeichen in einer unbekannten Kodierung. Bitte speichern Sie sie in Excel als „CSV UTF-8 (durch Trennzeichen getrennt)“.", row)}
}

func badCSV(row int, err error) *FileError {
	return &FileError{Code: CodeBadCSV, Err: err,
		Message: fmt.Sprintf("Die CSV-Datei ist in Zeile %d fehlerhaft: Ein Anführungszeichen (\") steht an einer unerwarteten Stelle oder wird nicht geschlossen. Bitte prüfen Sie die Zeile oder speichern Sie die Datei in Excel erneut als CSV.", row)}
}

// makeCells turns raw values into cells, dropping trailing blanks, and
// returns nil when every value is blank so callers can skip the row.
func makeCells(vals []string, kind func(string) Kind) []Cell {
	n := len(vals)
	for n > 0 && isBlank(vals[n-1]) {
		n--
	}
	if n == 0 {
		return nil
	}
	cells := make([]Cell, n)
	for i, v := range vals[:n] {
		if !isBlank(v) {
			cells[i] = Cell{Kind: kind(v), Value: v}
		}
	}
	return cells
}

// isBlank treats whitespace (including the no-break space Excel exports
// like to contain) as no value.
func isBlank(s string) bool { return strings.TrimSpace(s) == "" }

// prefetch reads the first row so that a file without data fails at open
// time with a FileError, instead of looking like an import of nothing.
func prefetch(r Reader, empty *FileError) (Reader, error) {
	row, err := r.Next()
	if err == nil {
		return &prefetched{Reader: r, first: &row}, nil
	}
	if err == io.EOF {
		err = empty
	}
	if cerr := r.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	return nil, err
}

// prefetched hands out the row prefetch read before continuing.
type prefetched struct {
	Reader
	first *Row
}

func (p *prefetched) Next() (Row, error) {
	if p.first != nil {
		row := *p.first
		p.first = nil
		return row, nil
	}
	return p.Reader.Next()
}
