// Package sheet reads uploaded spreadsheets (.xlsx and .csv) row by row as
// typed cells. It is the only place that knows about excelize and
// encoding/csv; import profiles consume the Reader interface. Readers stream:
// memory stays flat however many rows the file has.
package sheet

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Kind is the type of a cell's content.
type Kind uint8

// Cell kinds. The xlsx reader types cells by the file (see OpenXLSX); CSV
// has no types: its cells are Text.
const (
	Empty Kind = iota
	Text
	Number
	Bool  // Value "1" or "0"
	Date  // a number with a date or time format: Value is the serial day, see Cell.Time
	Error // a spreadsheet error value such as #N/A
)

// Cell is one cell of a row.
type Cell struct {
	Kind Kind
	// Value is the cell's raw content: text as typed; for numbers the number
	// as stored in the file (e.g. "1200100123", "1.2345678901234567E+19",
	// "12.5"), not the formatted display. Empty cells have Value "".
	Value string
	// Format is the number format code of the cell's style (xlsx), e.g.
	// "0.00", "dd.mm.yyyy" or "@" (text); "" for General or when unknown.
	Format string
	// Date1904 is the workbook's date system (xlsx, Kind Date): serial 0
	// is 1904-01-01 instead of serial 1 being 1900-01-01. Cell.Time
	// honours it.
	Date1904 bool
}

// Time returns the calendar date and time of a Date cell (a serial day,
// or an ISO 8601 date as t="d" cells hold it) as a UTC wall clock,
// milliseconds rounded, in the cell's date system.
func (c Cell) Time() (time.Time, error) {
	if c.Kind != Date {
		return time.Time{}, fmt.Errorf("sheet: cell %q is no date", c.Value)
	}
	if v, err := strconv.ParseFloat(c.Value, 64); err == nil {
		return serialTime(v, c.Date1904)
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05Z07:00", "2006-01-02", "15:04:05"} {
		if t, err := time.Parse(layout, c.Value); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("sheet: %q is no date", c.Value)
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
	// Detected says what the reader found out about its file, for the user to see.
	// Asked after the last row, it includes what only reading showed (a late switch
	// to Windows-1252).
	Detected() Detected
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

func xlsb() *FileError {
	return &FileError{Code: CodeNotXLSX,
		Message: "Die Datei ist eine binäre Excel-Arbeitsmappe (.xlsb), die nicht gelesen werden kann. " + resaveAsXLSXAdvice}
}

// tooManyStrings refuses a shared-string table beyond the reader's bound.
func tooManyStrings(err error) *FileError {
	return &FileError{Code: CodeTooLarge, Err: err,
		Message: "Die Datei enthält zu viele verschiedene Texte, um sie zu verarbeiten (höchstens 8.388.608 verschiedene Zellinhalte mit zusammen höchstens 1 GB). Bitte teilen Sie die Daten auf mehrere Dateien auf."}
}

// cellTooLong refuses a cell beyond Excel's 32,767 characters; ref may be
// "" when the cell is not known (a shared string).
func cellTooLong(ref string, err error) *FileError {
	where := "Eine Zelle"
	if ref != "" {
		where = "Die Zelle " + ref
	}
	return &FileError{Code: CodeTooLarge, Err: err,
		Message: where + " enthält mehr als 32.767 Zeichen, die Höchstlänge einer Excel-Zelle. Bitte kürzen Sie den Inhalt."}
}

// beyondExcel refuses a row or column Excel cannot have.
func beyondExcel(row int, what string, err error) *FileError {
	return &FileError{Code: CodeTooLarge, Err: err,
		Message: fmt.Sprintf("Die Datei ist ab Zeile %d beschädigt: Sie enthält %s. Bitte öffnen Sie sie in Excel, speichern Sie sie erneut und laden Sie sie noch einmal hoch.", row, what)}
}

// rowTooLarge refuses a row whose cells together are beyond the bound.
func rowTooLarge(row int, err error) *FileError {
	return &FileError{Code: CodeTooLarge, Err: err,
		Message: fmt.Sprintf("Die Zeile %d enthält zu viel Text, um sie zu verarbeiten (mehr als 16 MB). Bitte kürzen Sie die Zellen dieser Zeile.", row)}
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

// emptySheet is an empty first sheet of a workbook whose other sheets hold data.
func emptySheet(sheet string, full []string) *FileError {
	return &FileError{Code: CodeEmptyFile, Message: fmt.Sprintf(
		"Das erste Tabellenblatt „%s“ enthält keine Daten. Daten stehen auf: „%s“. Bitte verschieben Sie die Tabelle auf das erste Blatt oder geben Sie das Blatt beim Hochladen an (Feld „sheet“).",
		sheet, strings.Join(full, "“, „"))}
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
func isBlank(s string) bool {
	// Most cells start with a visible ASCII character: no need to trim.
	if len(s) > 0 && s[0] > ' ' && s[0] < 0x80 {
		return false
	}
	return strings.TrimSpace(s) == ""
}

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
