package api

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"portalwerk/store"
)

// errorsPageMax bounds the rows of one page of GET /v1/imports/{id}/errors?limit=.
const errorsPageMax = 100000

// importErrors answers the row errors of an import, ordered by row, as JSON (default),
// as CSV for German Excel (format=csv; delimiter=, for the English form) or as a
// workbook (format=xlsx). format decides, whatever Accept says. Every form is streamed
// from the database's cursor: no list of all errors is built.
func (s *Server) importErrors(w http.ResponseWriter, r *http.Request, caller store.Account) error {
	q := r.URL.Query()
	format := q.Get("format")
	if format == "" {
		format = "json"
	}
	if format != "json" && format != "csv" && format != "xlsx" {
		return BadRequest("format muss json, csv oder xlsx sein.")
	}
	delimiter := q.Get("delimiter")
	if delimiter == "" {
		delimiter = ";"
	}
	if delimiter != ";" && delimiter != "," || format != "csv" && q.Has("delimiter") {
		return BadRequest("delimiter muss „;“ oder „,“ sein und gilt nur mit format=csv.")
	}
	f := store.ErrorFilter{TenantID: caller.TenantID, Code: q.Get("code")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > errorsPageMax {
			return BadRequest("limit muss eine Zahl von 1 bis " + strconv.Itoa(errorsPageMax) + " sein (Zeilen je Seite).")
		}
		f.Rows = n
	}
	if v := q.Get("after"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return BadRequest("after muss eine Zeilennummer sein (die letzte Zeile der vorigen Seite).")
		}
		f.After = n
	}
	// Each download holds a database cursor and a connection for as long as its client
	// reads: a tenant gets only so many at once.
	if !s.downloads.acquire(caller.TenantID) {
		return retryLater(w, http.StatusTooManyRequests, 10*time.Second, fmt.Sprintf(
			"Ihr Mandant lädt schon %d Fehlerlisten zugleich herunter. Bitte warten Sie, bis eine davon fertig ist.", s.cfg.DownloadsPerTenant))
	}
	defer s.downloads.release(caller.TenantID)
	im, err := s.loadImport(r, caller)
	if err != nil {
		return err
	}
	f.ImportID = im.ID

	var out errorWriter
	switch format {
	case "csv":
		out = newCSVErrors(w, im.ID, delimiter)
	case "xlsx":
		out, err = newXLSXErrors(w, im.ID)
		if err != nil {
			return err
		}
	default:
		out = newJSONErrors(w)
	}
	err = store.EachImportError(r.Context(), s.db, f, out.write)
	if err == nil {
		err = out.close()
	}
	if err != nil && !out.started() {
		return err // nothing sent yet: the one error writer answers
	}
	if err != nil {
		// The answer has begun; all that is left is to say why it broke off.
		level := slog.LevelWarn
		if r.Context().Err() != nil {
			level = slog.LevelInfo // the client went away
		}
		s.log.Log(r.Context(), level, "error report cut off", slog.String("import_id", im.ID),
			slog.Int64("tenant_id", caller.TenantID), slog.String("tenant", caller.Tenant), slog.Any("err", err))
	}
	return nil
}

// errorWriter writes one form of the error report, row error by row error.
type errorWriter interface {
	write(store.RowError) error
	close() error
	started() bool // whether bytes of the answer have gone out
}

// countingWriter notes whether anything was written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

type jsonErrors struct {
	w     http.ResponseWriter
	cw    *countingWriter
	buf   *bufio.Writer
	first bool
}

func newJSONErrors(w http.ResponseWriter) *jsonErrors {
	cw := &countingWriter{w: w}
	return &jsonErrors{w: w, cw: cw, buf: bufio.NewWriterSize(cw, 32<<10), first: true}
}

func (j *jsonErrors) write(e store.RowError) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if j.first {
		j.w.Header().Set("Content-Type", "application/json; charset=utf-8")
		j.buf.WriteByte('[')
		j.first = false
	} else {
		j.buf.WriteByte(',')
	}
	_, err = j.buf.Write(b)
	return err
}

func (j *jsonErrors) close() error {
	if j.first {
		j.w.Header().Set("Content-Type", "application/json; charset=utf-8")
		j.buf.WriteByte('[')
	}
	j.buf.WriteString("]\n")
	return j.buf.Flush()
}

func (j *jsonErrors) started() bool { return j.cw.n > 0 }

// csvErrors writes the report for spreadsheets: UTF-8 with BOM; with ";" the German
// header German Excel opens with a double click, with "," the English one.
type csvErrors struct {
	cw  *countingWriter
	buf *bufio.Writer
	csv *csv.Writer
}

var (
	germanHeader  = []string{"Zeile", "Spalte", "Wert", "Fehler", "Meldung"}
	englishHeader = []string{"row", "column", "value", "code", "message"}
)

func newCSVErrors(w http.ResponseWriter, importID, delimiter string) *csvErrors {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="import-`+importID+`-fehler.csv"`)
	cw := &countingWriter{w: w}
	buf := bufio.NewWriterSize(cw, 32<<10)
	buf.WriteString("\uFEFF")
	c := csv.NewWriter(buf)
	c.UseCRLF = true
	header := germanHeader
	if delimiter == "," {
		c.Comma, header = ',', englishHeader
	} else {
		c.Comma = ';'
	}
	c.Write(header)
	return &csvErrors{cw: cw, buf: buf, csv: c}
}

func (c *csvErrors) write(e store.RowError) error {
	return c.csv.Write([]string{strconv.Itoa(e.Row), safeCell(e.Column), safeCell(e.Value), safeCell(e.Code), safeCell(e.Message)})
}

func (c *csvErrors) close() error {
	c.csv.Flush()
	if err := c.csv.Error(); err != nil {
		return err
	}
	return c.buf.Flush()
}

func (c *csvErrors) started() bool { return c.cw.n > 0 }

// xlsxErrors writes the report as a workbook through excelize's StreamWriter, which
// keeps rows beyond its buffer in a temp file instead of in memory.
type xlsxErrors struct {
	w    http.ResponseWriter
	cw   *countingWriter
	f    *excelize.File
	sw   *excelize.StreamWriter
	next int // the next sheet row
}

func newXLSXErrors(w http.ResponseWriter, importID string) (*xlsxErrors, error) {
	f := excelize.NewFile()
	if err := f.SetSheetName("Sheet1", "Fehler"); err != nil {
		f.Close()
		return nil, err
	}
	sw, err := f.NewStreamWriter("Fehler")
	if err != nil {
		f.Close()
		return nil, err
	}
	x := &xlsxErrors{w: w, cw: &countingWriter{w: w}, f: f, sw: sw, next: 1}
	header := make([]any, len(germanHeader))
	for i, h := range germanHeader {
		header[i] = h
	}
	if err := x.row(header); err != nil {
		f.Close()
		return nil, err
	}
	return x, nil
}

func (x *xlsxErrors) row(values []any) error {
	cell, err := excelize.CoordinatesToCellName(1, x.next)
	if err != nil {
		return err
	}
	x.next++
	return x.sw.SetRow(cell, values)
}

func (x *xlsxErrors) write(e store.RowError) error {
	return x.row([]any{e.Row, safeCell(e.Column), safeCell(e.Value), safeCell(e.Code), safeCell(e.Message)})
}

func (x *xlsxErrors) close() error {
	defer x.f.Close()
	if err := x.sw.Flush(); err != nil {
		return err
	}
	x.w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	x.w.Header().Set("Content-Disposition", `attachment; filename="import-fehler.xlsx"`)
	_, err := x.f.WriteTo(x.cw)
	return err
}

func (x *xlsxErrors) started() bool { return x.cw.n > 0 }

// safeCell neutralises what a spreadsheet would run as a formula. A cell must not
// begin, after leading spaces, no-break spaces and line breaks, with =, +, -, @, a tab
// or a CR; and because a user may split a line by hand on ";" or "," (or on line breaks
// inside a quoted cell), neither may any fragment that follows a ";", ",", LF or CR.
// Each such start gets a leading '.
func safeCell(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for p := 0; p < len(s); p++ {
		if (p == 0 || strings.IndexByte(";,\n\r", s[p-1]) >= 0) && dangerous(s[p:]) {
			b.WriteByte('\'')
		}
		b.WriteByte(s[p])
	}
	return b.String()
}

// dangerous says whether text starts a formula: after leading spaces, no-break spaces
// and line feeds comes =, +, -, @, a tab or a CR.
func dangerous(text string) bool {
	for len(text) > 0 {
		switch {
		case text[0] == ' ' || text[0] == '\n':
			text = text[1:]
		case strings.HasPrefix(text, "\u00a0"):
			text = text[len("\u00a0"):]
		default:
			return strings.IndexByte("=+-@\t\r", text[0]) >= 0
		}
	}
	return false
}
