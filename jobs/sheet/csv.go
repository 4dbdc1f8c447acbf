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
)

// peekSize is how much of the stream is looked at to guess the delimiter;
// it is also the buffer size, so longer header lines are judged on their
// start.
const peekSize = 64 << 10

// OpenCSV reads a CSV stream. It reads r incrementally and never holds more
// than a buffer and the current record; Close does not close r. All
// non-blank cells are Text.
//
// Encoding "auto" reads UTF-8 (a BOM is dropped) and switches to
// Windows-1252 at the first byte that is not UTF-8, provided everything
// before was ASCII; after valid non-ASCII UTF-8 (or a BOM), an invalid byte
// is a bad_encoding FileError. Delimiter "auto" picks the most frequent of
// ; , tab | outside quotes in the first line, ';' winning ties, ',' if none
// occurs.
func OpenCSV(r io.Reader, opts Options) (Reader, error) {
	comma, err := parseDelimiter(opts.Delimiter)
	if err != nil {
		return nil, err
	}
	enc := strings.ToLower(opts.Encoding)
	if enc != "" && enc != "auto" && enc != "utf-8" && enc != "windows-1252" {
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
	if comma == 0 {
		comma = sniffDelimiter(head)
	}

	var src io.Reader
	switch {
	case enc == "windows-1252":
		src = charmap.Windows1252.NewDecoder().Reader(br)
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}) || bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		// Excel's "Unicode-Text" export; decoded as 1252 it would be garbage.
		return nil, badEncoding(1, errors.New("sheet: UTF-16 input"))
	default:
		d := &utf8Reader{src: br, strict: enc == "utf-8"}
		if bytes.HasPrefix(head, []byte("\xEF\xBB\xBF")) {
			_, _ = br.Discard(3) // cannot fail: the bytes are buffered
			d.strict = true      // the BOM declares UTF-8
		}
		src = d
	}

	// A big buffer: csv.NewReader adopts a *bufio.Reader of at least its
	// default size instead of wrapping it in a 4 KiB one.
	cr := csv.NewReader(bufio.NewReaderSize(src, peekSize))
	cr.Comma = comma
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	return prefetch(&csvReader{cr: cr}, emptyFile(""))
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

// sniffDelimiter counts the candidates in the first line of head, outside
// quotes (a quoted field may contain delimiters and newlines).
func sniffDelimiter(head []byte) rune {
	candidates := [...]byte{';', ',', '\t', '|'} // German Excel uses ';': first wins ties
	var counts [len(candidates)]int
	inQuotes := false
scan:
	for _, b := range head {
		switch {
		case b == '"':
			inQuotes = !inQuotes
		case inQuotes:
		case b == '\n':
			break scan
		default:
			for i, c := range candidates {
				if b == c {
					counts[i]++
				}
			}
		}
	}
	best, most := byte(','), 0
	for i, c := range candidates {
		if counts[i] > most {
			best, most = c, counts[i]
		}
	}
	return rune(best)
}

type csvReader struct {
	cr *csv.Reader
	// extra counts the newlines inside quoted fields of the records read so
	// far: they advance csv's line numbers but not the rows Excel shows.
	extra int
}

func (c *csvReader) Next() (Row, error) {
	for {
		rec, err := c.cr.Read()
		if err != nil {
			return Row{}, c.fail(err)
		}
		line, _ := c.cr.FieldPos(0) // csv's lines count blank lines too
		num := line - c.extra
		for _, f := range rec {
			c.extra += strings.Count(f, "\n") // csv turns each \r\n into one \n
		}
		// The strings are fresh per record; ReuseRecord only recycles the
		// slice, which makeCells does not keep.
		if cells := makeCells(rec, csvKind); cells != nil {
			return Row{Num: num, Cells: cells}, nil
		}
	}
}

// fail maps a read error to a FileError naming the row where it can.
func (c *csvReader) fail(err error) error {
	if err == io.EOF {
		return io.EOF
	}
	if pe, ok := errors.AsType[*csv.ParseError](err); ok {
		return badCSV(pe.StartLine-c.extra, err)
	}
	if ee, ok := errors.AsType[*encodingError](err); ok {
		// Off by the earlier lines of the record if the bad byte sits in
		// the second line of a multi-line cell; good enough to find it.
		return badEncoding(ee.line-c.extra, err)
	}
	return fmt.Errorf("sheet: reading csv: %w", err)
}

func (c *csvReader) Close() error { return nil } // the caller owns the stream

func csvKind(string) Kind { return Text }

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
