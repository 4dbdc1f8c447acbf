package sheet

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// A byte-level scanner for the parts of an xlsx package. It is not an XML
// parser: it knows the markup SpreadsheetML uses (elements, attributes,
// the five predefined entities, character references, comments, CDATA,
// processing instructions) and refuses the rest (a DOCTYPE, which could
// declare entities). Everything it holds is bounded: the buffer is fixed,
// a tag must fit into it, and text is only kept (see text) up to a limit;
// text nobody asked for is skipped without being kept. A NUL byte, which
// XML forbids, anywhere in the input makes the part damaged.

// Scanner errors; callers turn them into FileErrors.
var (
	errNUL        = errors.New("sheet: NUL byte in XML")
	errTagTooLong = errors.New("sheet: XML tag longer than the buffer")
	errTextLong   = errors.New("sheet: XML text longer than the cell limit")
	errDoctype    = errors.New("sheet: DOCTYPE in XML")
	errBadUTF8    = errors.New("sheet: text is not valid UTF-8")
)

const (
	scanBufSize = 512 << 10
	// maxRawText bounds the raw bytes of a text the caller keeps: 32,767
	// characters written as character references of up to 10 bytes each.
	maxRawText = 10*maxCellChars + 64
)

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokStart
	tokEnd
)

// token is a start or end tag. name is the local name (prefix removed);
// attrs is the raw attribute text of a start tag. Both point into the
// scanner's buffer and are valid until the next call.
type token struct {
	kind  tokKind
	name  []byte
	attrs []byte
	self  bool // <name/>
}

type xmlScanner struct {
	r        io.Reader
	buf      []byte
	pos, end int
	eof      bool
	rerr     error
	consumed int64 // bytes dropped from the buffer before buf[0]
}

func newXMLScanner(r io.Reader) *xmlScanner {
	return &xmlScanner{r: r, buf: make([]byte, scanBufSize)}
}

// fill moves the unread bytes to the front and reads more. It returns
// false when nothing new could be read.
func (s *xmlScanner) fill() (bool, error) {
	if s.rerr != nil {
		return false, s.rerr
	}
	if s.eof {
		return false, nil
	}
	if s.pos > 0 {
		n := copy(s.buf, s.buf[s.pos:s.end])
		s.consumed += int64(s.pos)
		s.pos, s.end = 0, n
	}
	if s.end == len(s.buf) {
		return false, nil
	}
	for {
		n, err := s.r.Read(s.buf[s.end:])
		if n > 0 {
			if bytes.IndexByte(s.buf[s.end:s.end+n], 0) >= 0 {
				s.rerr = errNUL
				return false, s.rerr
			}
			s.end += n
		}
		if err == io.EOF {
			s.eof = true
			return n > 0, nil
		}
		if err != nil {
			s.rerr = err
			return false, err
		}
		if n > 0 {
			return true, nil
		}
	}
}

// next skips text and returns the next start or end tag, or tokEOF.
func (s *xmlScanner) next() (token, error) {
	for {
		i := bytes.IndexByte(s.buf[s.pos:s.end], '<')
		if i < 0 {
			s.pos = s.end
			more, err := s.fill()
			if err != nil {
				return token{}, err
			}
			if !more {
				return token{kind: tokEOF}, nil
			}
			continue
		}
		s.pos += i
		t, ok, err := s.markup()
		if err != nil || ok {
			return t, err
		}
	}
}

// need makes sure n bytes are buffered from pos, if the input has them.
func (s *xmlScanner) need(n int) error {
	for s.end-s.pos < n {
		more, err := s.fill()
		if err != nil {
			return err
		}
		if !more {
			if s.end-s.pos >= n {
				return nil
			}
			if s.end-s.pos == len(s.buf) {
				return errTagTooLong
			}
			return io.ErrUnexpectedEOF
		}
	}
	return nil
}

// findFrom returns the index (relative to pos) of sep at or after from,
// reading more input as needed.
func (s *xmlScanner) findFrom(from int, sep []byte) (int, error) {
	for {
		if j := bytes.Index(s.buf[s.pos+from:s.end], sep); j >= 0 {
			return from + j, nil
		}
		if s.end-s.pos >= len(s.buf) {
			return 0, errTagTooLong
		}
		keep := s.end - s.pos - len(sep) + 1
		more, err := s.fill()
		if err != nil {
			return 0, err
		}
		if !more {
			return 0, io.ErrUnexpectedEOF
		}
		from = max(from, keep)
	}
}

// skipUntil skips input up to and including sep, without keeping it (for
// comments and processing instructions of any length).
func (s *xmlScanner) skipUntil(sep []byte) error {
	for {
		if j := bytes.Index(s.buf[s.pos:s.end], sep); j >= 0 {
			s.pos += j + len(sep)
			return nil
		}
		if keep := len(sep) - 1; s.end-s.pos > keep {
			s.pos = s.end - keep
		}
		more, err := s.fill()
		if err != nil {
			return err
		}
		if !more {
			return io.ErrUnexpectedEOF
		}
	}
}

var (
	cdataOpen  = []byte("<![CDATA[")
	cdataClose = []byte("]]>")
	commOpen   = []byte("<!--")
	commClose  = []byte("-->")
	piClose    = []byte("?>")
)

// markup reads the markup at pos ('<'). ok is false for markup that is no
// tag (comment, PI, CDATA outside a kept text), which is skipped.
func (s *xmlScanner) markup() (t token, ok bool, err error) {
	if err := s.need(2); err != nil {
		return t, false, err
	}
	switch s.buf[s.pos+1] {
	case '?':
		s.pos += 2
		return t, false, s.skipUntil(piClose)
	case '!':
		if err := s.need(9); err != nil && err != io.ErrUnexpectedEOF {
			return t, false, err
		}
		rest := s.buf[s.pos:s.end]
		switch {
		case bytes.HasPrefix(rest, commOpen):
			s.pos += len(commOpen)
			return t, false, s.skipUntil(commClose)
		case bytes.HasPrefix(rest, cdataOpen):
			s.pos += len(cdataOpen)
			return t, false, s.skipUntil(cdataClose)
		}
		return t, false, errDoctype
	}
	// A tag: find its '>' outside quotes.
	end, err := s.tagEnd()
	if err != nil {
		return t, false, err
	}
	tag := s.buf[s.pos+1 : s.pos+end]
	s.pos += end + 1
	if len(tag) > 0 && tag[0] == '/' {
		name := trimSpaceRight(tag[1:])
		// </> or </0> is no end tag (excelize stops there; reading on
		// would guess at the structure).
		if len(name) == 0 || !isNameStart(name[0]) {
			return t, false, fmt.Errorf("sheet: bad end tag %q", tag)
		}
		t.kind = tokEnd
		t.name = localName(name)
		return t, true, nil
	}
	t.kind = tokStart
	if len(tag) > 0 && tag[len(tag)-1] == '/' {
		t.self = true
		tag = tag[:len(tag)-1]
	}
	n := 0
	for n < len(tag) && !isSpace(tag[n]) {
		n++
	}
	if n == 0 {
		return t, false, fmt.Errorf("sheet: empty tag name")
	}
	if !isNameStart(tag[0]) {
		return t, false, fmt.Errorf("sheet: bad tag name %q", tag[:n])
	}
	t.name = localName(tag[:n])
	t.attrs = tag[n:]
	return t, true, nil
}

func isNameStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80
}

// tagEnd returns the index (relative to pos) of the '>' closing the tag at
// pos, honouring quoted attribute values.
func (s *xmlScanner) tagEnd() (int, error) {
	from := 1
	for {
		rest := s.buf[s.pos+from : s.end]
		if j := bytes.IndexByte(rest, '>'); j >= 0 {
			seg := s.buf[s.pos : s.pos+from+j]
			if bytes.IndexByte(seg, '\'') < 0 && bytes.Count(seg, quote)%2 == 0 {
				return from + j, nil
			}
			if k, ok := quotedTagEnd(s.buf[s.pos:s.end]); ok {
				return k, nil
			}
		}
		if s.end-s.pos >= len(s.buf) {
			return 0, errTagTooLong
		}
		from = max(1, s.end-s.pos)
		more, err := s.fill()
		if err != nil {
			return 0, err
		}
		if !more {
			return 0, io.ErrUnexpectedEOF
		}
	}
}

var quote = []byte{'"'}

func quotedTagEnd(b []byte) (int, bool) {
	var q byte
	for i := 1; i < len(b); i++ {
		c := b[i]
		switch {
		case q != 0:
			if c == q {
				q = 0
			}
		case c == '"' || c == '\'':
			q = c
		case c == '>':
			return i, true
		}
	}
	return 0, false
}

// text appends the decoded character data up to the next tag to dst
// (CDATA sections included, comments dropped) and leaves pos at that tag.
// It fails with errTextLong past maxRawText raw bytes.
func (s *xmlScanner) text(dst []byte, xescapes bool) ([]byte, error) {
	raw := 0
	for {
		i := bytes.IndexByte(s.buf[s.pos:s.end], '<')
		if i < 0 {
			if s.end-s.pos > maxRawText-raw {
				return dst, errTextLong
			}
			// Keep the run buffered whole so that entities are not split.
			if s.end-s.pos == len(s.buf) {
				return dst, errTextLong
			}
			more, err := s.fill()
			if err != nil {
				return dst, err
			}
			if !more {
				return dst, io.ErrUnexpectedEOF
			}
			continue
		}
		raw += i
		if raw > maxRawText {
			return dst, errTextLong
		}
		var err error
		dst, err = appendDecoded(dst, s.buf[s.pos:s.pos+i], xescapes)
		if err != nil {
			return dst, err
		}
		s.pos += i
		if err := s.need(9); err != nil && err != io.ErrUnexpectedEOF {
			return dst, err
		}
		rest := s.buf[s.pos:s.end]
		switch {
		case bytes.HasPrefix(rest, cdataOpen):
			j, err := s.findFrom(len(cdataOpen), cdataClose)
			if err != nil {
				if err == errTagTooLong {
					err = errTextLong
				}
				return dst, err
			}
			raw += j
			if raw > maxRawText {
				return dst, errTextLong
			}
			dst = append(dst, normalizeNewlines(s.buf[s.pos+len(cdataOpen):s.pos+j])...)
			s.pos += j + len(cdataClose)
		case bytes.HasPrefix(rest, commOpen):
			s.pos += len(commOpen)
			if err := s.skipUntil(commClose); err != nil {
				return dst, err
			}
		default:
			return dst, nil
		}
	}
}

// skip skips the element whose start tag was just read, up to its end.
func (s *xmlScanner) skip(start token) error {
	if start.self {
		return nil
	}
	depth := 1
	for {
		t, err := s.next()
		if err != nil {
			return err
		}
		switch t.kind {
		case tokEOF:
			return io.ErrUnexpectedEOF
		case tokStart:
			if !t.self {
				depth++
			}
		case tokEnd:
			depth--
			if depth == 0 {
				return nil
			}
		}
	}
}

// localName drops a namespace prefix: x:row is row.
func localName(b []byte) []byte {
	if i := bytes.LastIndexByte(b, ':'); i >= 0 {
		return b[i+1:]
	}
	return b
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// leadingSpace is the length of the whitespace b starts with.
func leadingSpace(b []byte) int {
	i := 0
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// startTag says whether b starts with the tag name's start tag, "<name"
// followed by whitespace, '>' or '/' (so "<c" is not "<col").
func startTag(b []byte, name string) bool {
	n := 1 + len(name)
	if len(b) <= n || b[0] != '<' || string(b[1:n]) != name {
		return false
	}
	c := b[n]
	return isSpace(c) || c == '>' || c == '/'
}

// nextAttr returns the first attribute in a and the rest; name is local.
// The value is raw (entities not decoded). ok is false at the end;
// malformed attribute text ends the iteration with err.
func nextAttr(a []byte) (name, val, rest []byte, ok bool, err error) {
	i := 0
	for i < len(a) && isSpace(a[i]) {
		i++
	}
	if i == len(a) {
		return nil, nil, nil, false, nil
	}
	eq := bytes.IndexByte(a[i:], '=')
	if eq < 0 {
		return nil, nil, nil, false, fmt.Errorf("sheet: attribute without value")
	}
	name = localName(bytes.TrimRight(a[i:i+eq], " \t\r\n"))
	j := i + eq + 1
	for j < len(a) && isSpace(a[j]) {
		j++
	}
	if j == len(a) || (a[j] != '"' && a[j] != '\'') {
		return nil, nil, nil, false, fmt.Errorf("sheet: unquoted attribute value")
	}
	q := a[j]
	k := bytes.IndexByte(a[j+1:], q)
	if k < 0 {
		return nil, nil, nil, false, fmt.Errorf("sheet: unterminated attribute value")
	}
	return name, a[j+1 : j+1+k], a[j+1+k+1:], true, nil
}

// attrValue decodes an attribute value's entities.
func attrValue(v []byte) (string, error) {
	if bytes.IndexByte(v, '&') < 0 {
		return string(v), nil
	}
	b, err := appendDecoded(nil, v, false)
	return string(b), err
}

// appendDecoded appends raw character data with its entities and
// character references decoded and, if xescapes, the _xHHHH_ escapes
// SpreadsheetML uses for characters XML cannot carry.
func appendDecoded(dst, raw []byte, xescapes bool) ([]byte, error) {
	if bytes.IndexByte(raw, '\r') >= 0 {
		raw = normalizeNewlines(raw)
	}
	if bytes.IndexByte(raw, '&') < 0 && (!xescapes || bytes.Index(raw, []byte("_x")) < 0) {
		return append(dst, raw...), nil
	}
	start := len(dst)
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '&')
		if i < 0 {
			dst = append(dst, raw...)
			break
		}
		dst = append(dst, raw[:i]...)
		raw = raw[i:]
		semi := bytes.IndexByte(raw, ';')
		if semi < 0 || semi > 12 {
			return dst, fmt.Errorf("sheet: unterminated entity")
		}
		ent := raw[1:semi]
		raw = raw[semi+1:]
		switch string(ent) {
		case "lt":
			dst = append(dst, '<')
		case "gt":
			dst = append(dst, '>')
		case "amp":
			dst = append(dst, '&')
		case "quot":
			dst = append(dst, '"')
		case "apos":
			dst = append(dst, '\'')
		default:
			if len(ent) < 2 || ent[0] != '#' {
				return dst, fmt.Errorf("sheet: unknown entity &%s;", ent)
			}
			var n uint64
			var err error
			if ent[1] == 'x' {
				n, err = strconv.ParseUint(string(ent[2:]), 16, 32)
			} else {
				n, err = strconv.ParseUint(string(ent[1:]), 10, 32)
			}
			if err != nil || n > utf8.MaxRune || (n >= 0xD800 && n < 0xE000) {
				return dst, fmt.Errorf("sheet: bad character reference &%s;", ent)
			}
			if n == 0 {
				return dst, errNUL
			}
			dst = utf8.AppendRune(dst, rune(n))
		}
	}
	if xescapes {
		return decodeXEscapes(dst, start), nil
	}
	return dst, nil
}

// decodeXEscapes decodes _xHHHH_ (a UTF-16 code unit) in dst[start:] in
// place. _x005F_ is a literal underscore, so _x005F_x000D_ stays
// "_x000D_". _x0000_ stays as written: a NUL has no place in a cell.
func decodeXEscapes(dst []byte, start int) []byte {
	if bytes.Index(dst[start:], []byte("_x")) < 0 {
		return dst
	}
	src := []byte(string(dst[start:]))
	out := dst[:start]
	for i := 0; i < len(src); {
		u, ok := xescape(src[i:])
		if !ok || u == 0 {
			out = append(out, src[i])
			i++
			continue
		}
		i += 7
		r := rune(u)
		if u >= 0xD800 && u < 0xDC00 {
			if lo, ok := xescape(src[i:]); ok && lo >= 0xDC00 && lo < 0xE000 {
				r = 0x10000 + (rune(u)-0xD800)<<10 + rune(lo) - 0xDC00
				i += 7
			} else {
				r = utf8.RuneError
			}
		} else if u >= 0xDC00 && u < 0xE000 {
			r = utf8.RuneError
		}
		out = utf8.AppendRune(out, r)
	}
	return out
}

func xescape(b []byte) (uint16, bool) {
	if len(b) < 7 || b[0] != '_' || b[1] != 'x' || b[6] != '_' {
		return 0, false
	}
	var u uint16
	for _, c := range b[2:6] {
		switch {
		case c >= '0' && c <= '9':
			u = u<<4 | uint16(c-'0')
		case c >= 'a' && c <= 'f':
			u = u<<4 | uint16(c-'a'+10)
		case c >= 'A' && c <= 'F':
			u = u<<4 | uint16(c-'A'+10)
		default:
			return 0, false
		}
	}
	return u, true
}

// utf16Len is the length Excel measures a cell in: UTF-16 code units.
func utf16Len(b []byte) int {
	n := 0
	for _, c := range b {
		if c&0xC0 != 0x80 {
			n++
		}
		if c >= 0xF0 {
			n++
		}
	}
	return n
}

func trimSpaceRight(b []byte) []byte {
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// asyncReader decompresses ahead in its own goroutine, so that inflating
// and scanning use two cores. Blocks are recycled; stop ends it.
type asyncReader struct {
	full  chan asyncBlock
	free  chan []byte
	cur   []byte
	block []byte
	err   error
	done  chan struct{}
	stop  chan struct{}
}

type asyncBlock struct {
	b   []byte
	err error
}

const asyncBlocks, asyncBlockSize = 4, 256 << 10

func newAsyncReader(r io.Reader) *asyncReader {
	a := &asyncReader{full: make(chan asyncBlock, asyncBlocks), free: make(chan []byte, asyncBlocks),
		done: make(chan struct{}), stop: make(chan struct{})}
	for range asyncBlocks {
		a.free <- make([]byte, asyncBlockSize)
	}
	go func() {
		defer close(a.done)
		for {
			var b []byte
			select {
			case b = <-a.free:
			case <-a.stop:
				return
			}
			n, err := io.ReadFull(r, b[:cap(b)])
			if err == io.ErrUnexpectedEOF {
				err = io.EOF
			}
			select {
			case a.full <- asyncBlock{b: b[:n], err: err}:
			case <-a.stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return a
}

func (a *asyncReader) Read(p []byte) (int, error) {
	for len(a.cur) == 0 {
		if a.err != nil {
			return 0, a.err
		}
		if a.block != nil {
			a.free <- a.block[:0]
			a.block = nil
		}
		blk := <-a.full
		a.cur, a.block, a.err = blk.b, blk.b, blk.err
	}
	n := copy(p, a.cur)
	a.cur = a.cur[n:]
	return n, nil
}

// close stops the goroutine and waits for it.
func (a *asyncReader) close() {
	close(a.stop)
	<-a.done
}

// normalizeNewlines does XML's end-of-line handling: CR LF and a lone CR
// are read as LF (a CR in the content is written &#13; or _x000D_).
func normalizeNewlines(b []byte) []byte {
	if bytes.IndexByte(b, '\r') < 0 {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '\r' {
			out = append(out, '\n')
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
			continue
		}
		out = append(out, b[i])
	}
	return out
}
