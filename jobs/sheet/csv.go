package sheet

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
)

// peekSize is how much of the stream is looked at to guess the delimiter;
// it is also the buffer size.
const peekSize = 64 << 10

// sniffRecords is how many records of the head judge the delimiter.
const sniffRecords = 50

// maxRecordBytes bounds one CSV record (a line, or the lines of a quoted
// cell spanning several): above what a row of a profile's columns holds
// even with every cell at Excel's 32,767 characters, far below what would
// strain a worker's memory.
const maxRecordBytes = 4 << 20

// OpenCSV reads a CSV stream. It reads r incrementally and never holds more
// than a buffer and the current record; Close does not close r. All
// non-blank cells are Text.
//
// Encoding "auto" reads UTF-16 when the stream starts with its BOM (Excel's
// "Unicode text"), else UTF-8 (a BOM is dropped), switching to
// Windows-1252 at the first byte that is not UTF-8, provided everything
// before was ASCII; after valid non-ASCII UTF-8 (or a BOM), an invalid byte
// is a bad_encoding FileError. "utf-16" reads little-endian unless a BOM
// says otherwise.
//
// A first line "sep=X" (Excel's way of naming the delimiter) sets the
// delimiter unless one is given, and is not a row; row numbers still count
// it. Delimiter "auto" judges ; , tab | over the first 50 records of the
// first 64 KiB: the candidate under which they parse without quote errors
// and which splits the most records into the same number of fields (times
// that number minus one, so that a decimal comma here and there does not
// win over a table of ten columns) wins; ';' first on ties, ',' if none
// occurs. Old Mac line endings (CR only) are read as line ends.
func OpenCSV(r io.Reader, opts Options) (Reader, error) {
	comma, err := parseDelimiter(opts.Delimiter)
	if err != nil {
		return nil, err
	}
	enc := strings.ToLower(opts.Encoding)
	switch enc {
	case "", "auto", "utf-8", "utf-16", "windows-1252":
	default:
		return nil, fmt.Errorf("sheet: unknown encoding %q", opts.Encoding)
	}
	br := bufio.NewReaderSize(r, peekSize)
	head, err := br.Peek(peekSize)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("sheet: reading csv: %w", err)
	}
	if len(head) == 0 {
		return nil, emptyFile("")
	}

	c := &csvReader{}
	var src io.Reader
	utf16BOM := bytes.HasPrefix(head, []byte{0xFF, 0xFE}) || bytes.HasPrefix(head, []byte{0xFE, 0xFF})
	switch {
	case enc == "windows-1252":
		src, c.encoding = charmap.Windows1252.NewDecoder().Reader(br), "windows-1252"
	case enc == "utf-16" || utf16BOM && enc != "utf-8":
		// UseBOM: a BOM says the byte order and is dropped.
		src, c.encoding = unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewDecoder().Reader(br), "utf-16"
	default:
		d := &utf8Reader{src: br, strict: enc == "utf-8"}
		if bytes.HasPrefix(head, []byte("\xEF\xBB\xBF")) {
			_, _ = br.Discard(3) // cannot fail: the bytes are buffered
			d.strict = true      // the BOM declares UTF-8
		}
		src, c.utf8 = d, d
	}

	// The decoded head: an encoding error here comes back when csv reads.
	c.bound = &boundedReader{src: src}
	text := bufio.NewReaderSize(c.bound, peekSize)
	dhead, derr := text.Peek(peekSize)
	complete := derr != nil    // the head is the whole file (or all before a bad byte)
	dhead = bytes.Clone(dhead) // Peek's bytes are valid only until the next read
	if d, n, ok := sepLine(dhead); ok {
		if comma == 0 {
			comma = d
		}
		dhead = dhead[n:]
		c.skipped = 1
		_, _ = text.Discard(n) // cannot fail: the bytes are buffered
	}
	if comma == 0 {
		comma = sniffDelimiter(dhead, complete)
	}
	// csv.NewReader adopts a *bufio.Reader of at least its default size
	// instead of wrapping it in a 4 KiB one.
	in := text
	if bytes.IndexByte(dhead, '\n') < 0 && bytes.IndexByte(dhead, '\r') >= 0 {
		in = bufio.NewReaderSize(&crReader{src: text}, peekSize)
		c.bound.slack = peekSize
	}
	c.cr = csv.NewReader(in)
	c.cr.Comma = comma
	c.cr.FieldsPerRecord = -1
	c.cr.ReuseRecord = true
	c.comma = comma
	return prefetch(c, emptyFile(""))
}

// parseDelimiter returns the delimiter option as a rune; 0 means auto.
func parseDelimiter(s string) (rune, error) {
	switch s {
	case "", "auto":
		return 0, nil
	case ";", ",", "|":
		return rune(s[0]), nil
	case "tab":
		return '\t', nil
	}
	return 0, fmt.Errorf("sheet: unknown delimiter %q", s)
}

// sepLine recognises Excel's first line "sep=;" (also quoted, or followed
// by empty cells) and returns the delimiter and the line's length with its
// line end.
func sepLine(head []byte) (delim rune, n int, ok bool) {
	end := bytes.IndexAny(head, "\r\n")
	if end < 0 {
		return 0, 0, false
	}
	n = end + 1
	if head[end] == '\r' && n < len(head) && head[n] == '\n' {
		n++
	}
	line := strings.Trim(string(head[:end]), `" `)
	if len(line) < 5 || !strings.EqualFold(line[:4], "sep=") {
		return 0, 0, false
	}
	switch d := rune(line[4]); d {
	case ';', ',', '\t', '|':
		return d, n, true
	}
	return 0, 0, false
}

// sniffDelimiter judges the candidates over the head's first records; see
// OpenCSV. complete says the head holds the whole file, so its last record
// is not cut off.
func sniffDelimiter(head []byte, complete bool) rune {
	best, bestScore, bestClean := byte(','), 0, false
	for _, d := range [...]byte{';', ',', '\t', '|'} { // German Excel uses ';': first wins ties
		score, clean := delimiterScore(head, d, complete)
		if score > 0 && (clean && !bestClean || clean == bestClean && score > bestScore) {
			best, bestScore, bestClean = d, score, clean
		}
	}
	return rune(best)
}

// delimiterScore splits the head's first records at d, outside quotes, and
// returns how consistently it splits them (the records with the most
// common field count of two or more, times that count minus one) and
// whether they parse as CSV with d (no quote in the middle of a field, no
// text after a closing quote).
func delimiterScore(head []byte, d byte, complete bool) (score int, clean bool) {
	counts := map[int]int{}
	clean = true
	fields, records := 1, 0
	fieldStart, inQuotes, closed, empty := true, false, false, true
	for i := 0; i < len(head) && records < sniffRecords; i++ {
		b := head[i]
		switch {
		case inQuotes:
			if b == '"' {
				if i+1 < len(head) && head[i+1] == '"' {
					i++
				} else {
					inQuotes, closed = false, true
				}
			}
		case b == '\n' || b == '\r':
			if b == '\r' && i+1 < len(head) && head[i+1] == '\n' {
				i++
			}
			if !empty {
				records++
				if fields > 1 {
					counts[fields]++
				}
			}
			fields, fieldStart, closed, empty = 1, true, false, true
		case b == d:
			fields++
			fieldStart, closed, empty = true, false, false
		case b == '"':
			if !fieldStart {
				clean = false
			}
			inQuotes, fieldStart, empty = true, false, false
		default:
			if closed {
				clean = false
			}
			fieldStart, empty = false, false
		}
	}
	if complete && !empty && !inQuotes && records < sniffRecords && fields > 1 {
		counts[fields]++ // the last line has no line end
	}
	for f, n := range counts {
		if s := n * (f - 1); s > score {
			score = s
		}
	}
	return score, clean
}

type csvReader struct {
	cr    *csv.Reader
	bound *boundedReader
	utf8  *utf8Reader // nil unless the encoding is found out while reading
	// encoding and comma are what the reader reads with (see Detected).
	encoding string
	comma    rune
	// skipped is 1 after a sep= line: it is no row but counts in row numbers.
	skipped int
	// extra counts the newlines inside quoted fields of the records read so
	// far: they advance csv's line numbers but not the rows Excel shows.
	extra int
	// next is csv's line after the last record read, where a too long one begins.
	next int
}

func (c *csvReader) Next() (Row, error) {
	for {
		rec, err := c.cr.Read()
		if err != nil {
			return Row{}, c.fail(err)
		}
		c.bound.recordStart = c.cr.InputOffset()
		line, _ := c.cr.FieldPos(0) // csv's lines count blank lines too
		num := line - c.extra + c.skipped
		inside := 0
		for _, f := range rec {
			inside += strings.Count(f, "\n") // csv turns each \r\n into one \n
		}
		c.extra += inside
		c.next = line + inside + 1
		// The strings are fresh per record; ReuseRecord only recycles the
		// slice, which makeCells does not keep.
		if cells := makeCells(rec, csvKind); cells != nil {
			return Row{Num: num, Cells: cells}, nil
		}
	}
}

// Detected says how the file is read: the encoding as far as read so far
// (auto finds Windows-1252 at its first byte that is not UTF-8).
func (c *csvReader) Detected() Detected {
	d := Detected{Format: "csv", Encoding: c.encoding, Delimiter: string(c.comma)}
	if c.utf8 != nil {
		d.Encoding = "utf-8"
		if c.utf8.fallback != nil {
			d.Encoding = "windows-1252"
		}
	}
	if c.comma == '\t' {
		d.Delimiter = "tab"
	}
	return d
}

// fail maps a read error to a FileError naming the row where it can.
func (c *csvReader) fail(err error) error {
	if err == io.EOF {
		return io.EOF
	}
	if pe, ok := errors.AsType[*csv.ParseError](err); ok {
		return badCSV(pe.StartLine-c.extra+c.skipped, err)
	}
	if ee, ok := errors.AsType[*encodingError](err); ok {
		// Off by the earlier lines of the record if the bad byte sits in
		// the second line of a multi-line cell; good enough to find it.
		return badEncoding(ee.line-c.extra, err)
	}
	if errors.Is(err, errRecordTooLong) {
		return recordTooLong(max(c.next, 1)-c.extra+c.skipped, err)
	}
	return fmt.Errorf("sheet: reading csv: %w", err)
}

func (c *csvReader) Close() error { return nil } // the caller owns the stream

func csvKind(string) Kind { return Text }

var errRecordTooLong = errors.New("sheet: csv record over the bound")

func recordTooLong(row int, err error) *FileError {
	return &FileError{Code: CodeBadCSV, Err: err,
		Message: fmt.Sprintf("Die CSV-Datei enthält ab Zeile %d eine Zeile mit mehr als 4 MiB. So lange Zeilen entstehen meist durch ein Anführungszeichen (\"), das nicht geschlossen wird, oder durch eine Datei, die keine CSV-Datei ist. Bitte prüfen Sie die Datei.", row)}
}

// boundedReader fails once the record csv is reading exceeds
// maxRecordBytes: csv holds a record whole in memory. recordStart is csv's
// input offset after the last record; what was
// read beyond it is the current record, and at most the buffers more.
type boundedReader struct {
	src         io.Reader
	read        int64
	recordStart int64
	slack       int64 // the bytes of a second buffer between this and csv
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.read-b.recordStart > maxRecordBytes+peekSize+b.slack {
		return 0, errRecordTooLong
	}
	n, err := b.src.Read(p)
	b.read += int64(n)
	return n, err
}

// crReader turns old Mac line ends (CR alone) into LF; CRLF stays.
type crReader struct {
	src *bufio.Reader
}

func (c *crReader) Read(p []byte) (int, error) {
	n, err := c.src.Read(p)
	for i := range n {
		if p[i] != '\r' {
			continue
		}
		if i+1 < n {
			if p[i+1] != '\n' {
				p[i] = '\n'
			}
		} else if next, perr := c.src.Peek(1); perr != nil || next[0] != '\n' {
			p[i] = '\n'
		}
	}
	return n, err
}

// encodingError reports invalid UTF-8 on a physical line of the input.
type encodingError struct{ line int }

func (e *encodingError) Error() string {
	return fmt.Sprintf("sheet: invalid UTF-8 on line %d", e.line)
}

// utf8Reader passes valid UTF-8 through unchanged. At the first invalid
// byte it fails if strict, else it decodes the rest as Windows-1252: the
// bytes before were ASCII, which both encodings share.
type utf8Reader struct {
	src      *bufio.Reader
	strict   bool      // explicit utf-8, a BOM, or non-ASCII UTF-8 seen
	valid    int       // bytes at the head of src already validated
	lines    int       // newlines validated so far, to name the bad line
	fallback io.Reader // the Windows-1252 decoder, once switched
}

func (d *utf8Reader) Read(p []byte) (int, error) {
	if d.fallback == nil && d.valid == 0 {
		if err := d.validate(); err != nil {
			return 0, err
		}
	}
	if d.fallback != nil {
		return d.fallback.Read(p)
	}
	b, _ := d.src.Peek(min(len(p), d.valid)) // buffered: cannot fail
	n := copy(p, b)
	_, _ = d.src.Discard(n)
	d.valid -= n
	return n, nil
}

// validate checks the buffered bytes, setting valid to the length of their
// UTF-8 prefix, or switches to the fallback, or returns an error.
func (d *utf8Reader) validate() error {
	if _, err := d.src.Peek(1); err != nil {
		return err // io.EOF at the end
	}
	b, _ := d.src.Peek(d.src.Buffered())
	if !utf8.FullRune(b) {
		b, _ = d.src.Peek(utf8.UTFMax) // the rune straddles the buffer end; fewer bytes at EOF
	}
	n := 0
	for n < len(b) {
		if c := b[n]; c < utf8.RuneSelf {
			if c == '\n' {
				d.lines++
			}
			n++
			continue
		}
		r, size := utf8.DecodeRune(b[n:])
		if r == utf8.RuneError && size == 1 {
			break // invalid, or cut off at the buffer end: looked at again next time
		}
		d.strict = true
		n += size
	}
	if n > 0 {
		d.valid = n
		return nil
	}
	if d.strict {
		return &encodingError{line: d.lines + 1}
	}
	d.fallback = charmap.Windows1252.NewDecoder().Reader(d.src)
	return nil
}
