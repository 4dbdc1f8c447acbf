package sheet

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// sheetParser turns a worksheet's XML into rows. It runs in its own
// goroutine (run) and hands rows to Next in batches.
type sheetParser struct {
	s        *xmlScanner
	sst      *sharedStrings
	styles   []cellStyle
	date1904 bool
	lim      xlsxLimits

	row     int    // number of the row being read (or last read)
	cells   []Cell // the row being built, by column
	arena   []Cell // where finished rows' cells go
	rowSize int
	vbuf    []byte
}

const (
	batchMaxRows  = 512
	batchMaxBytes = 1 << 20
	cellSize      = int(unsafe.Sizeof(Cell{}))
)

// run parses the sheet and sends batches until the end, an error or stop.
func (p *sheetParser) run(out chan<- rowBatch, stop <-chan struct{}) {
	var batch []Row
	size := 0
	send := func(err error) bool {
		select {
		case out <- rowBatch{rows: batch, err: err}:
			batch, size = nil, 0
			return true
		case <-stop:
			return false
		}
	}
	err := p.parse(func(r Row) bool {
		batch = append(batch, r)
		size += len(r.Cells) * cellSize
		for _, c := range r.Cells {
			size += len(c.Value)
		}
		if len(batch) >= batchMaxRows || size >= batchMaxBytes {
			return send(nil)
		}
		return true
	})
	if err == errStopped {
		return
	}
	if err == nil {
		err = io.EOF
	}
	send(err)
}

var errStopped = errors.New("sheet: stopped")

// parse reads up to the end of sheetData, calling emit for every row that
// has a value; emit returning false stops it (errStopped).
func (p *sheetParser) parse(emit func(Row) bool) error {
	s := p.s
	// Find sheetData.
	for {
		tok, err := s.next()
		if err != nil {
			return p.fail(err)
		}
		if tok.kind == tokEOF {
			if p.s.consumed == 0 && p.s.end == 0 {
				return corrupt(0, errors.New("sheet: empty worksheet part"))
			}
			return nil // a worksheet without sheetData has no rows
		}
		if tok.kind == tokStart && string(tok.name) == "sheetData" {
			if tok.self {
				return nil
			}
			break
		}
	}
	for {
		tok, ok := s.rowStart()
		if !ok {
			var err error
			if tok, err = s.next(); err != nil {
				return p.fail(err)
			}
		}
		switch tok.kind {
		case tokEOF:
			return p.fail(io.ErrUnexpectedEOF)
		case tokEnd:
			if string(tok.name) == "sheetData" {
				return nil
			}
		case tokStart:
			if string(tok.name) != "row" {
				if err := s.skip(tok); err != nil {
					return p.fail(err)
				}
				continue
			}
			r, err := p.readRow(tok)
			if err != nil {
				return err
			}
			if r.Cells != nil && !emit(r) {
				return errStopped
			}
		}
	}
}

// fail turns a scanner or zip error into a FileError naming the row.
func (p *sheetParser) fail(err error) error {
	var fe *FileError
	switch {
	case errors.As(err, &fe):
		return err
	case errors.Is(err, errTextLong):
		return cellTooLong("", err)
	}
	return corrupt(p.row, err)
}

// readRow reads a row whose start tag was just read. Cells come in
// column order; a row without r follows the previous one.
func (p *sheetParser) readRow(start token) (Row, error) {
	prev := p.row
	num := 0
	if err := eachAttr(start.attrs, func(name, val []byte) error {
		if string(name) == "r" && len(val) > 0 {
			n, err := parseIndex(val)
			if err != nil {
				return err
			}
			num = n
		}
		return nil
	}); err != nil {
		return Row{}, corrupt(prev+1, err)
	}
	known := num != 0
	if !known {
		num = prev + 1
	}
	if err := p.checkRow(num, prev); err != nil {
		return Row{}, err
	}
	p.row = num
	// The row is built where it will stay: in the arena, one allocation
	// for many rows (a row that outgrows the arena's rest gets its own).
	if cap(p.arena)-len(p.arena) < 64 {
		p.arena = make([]Cell, 0, 4096)
	}
	p.cells = p.arena[len(p.arena):len(p.arena)]
	p.rowSize = 0
	if start.self {
		return Row{Num: num}, nil
	}
	col := 0 // last column read, 1-based
	s := p.s
	for {
		if s.atRowEnd() {
			return p.finishRow(), nil
		}
		c, ref, fast, err := p.fastCell()
		if err != nil {
			return Row{}, err
		}
		if !fast {
			tok, err := s.next()
			if err != nil {
				return Row{}, p.fail(err)
			}
			switch tok.kind {
			case tokEOF:
				return Row{}, p.fail(io.ErrUnexpectedEOF)
			case tokEnd:
				if string(tok.name) == "row" {
					return p.finishRow(), nil
				}
				continue
			case tokStart:
				if string(tok.name) != "c" {
					if err := s.skip(tok); err != nil {
						return Row{}, p.fail(err)
					}
					continue
				}
				if c, ref, err = p.readCell(tok); err != nil {
					return Row{}, err
				}
			}
		}
		{
			if ref.col == 0 {
				ref.col = col + 1
			} else if ref.row != p.row {
				if known || col > 0 || ref.row <= prev {
					return Row{}, corrupt(p.row, fmt.Errorf("sheet: cell %s in row %d", ref.name(), p.row))
				}
				// <row> without r: the cells say which row it is.
				if err := p.checkRow(ref.row, prev); err != nil {
					return Row{}, err
				}
				p.row = ref.row
				known = true
			}
			if ref.col <= col {
				return Row{}, corrupt(p.row, fmt.Errorf("sheet: cell %s after column %d", ref.name(), col))
			}
			if ref.col > maxCols {
				return Row{}, beyondExcel(p.row, "mehr Spalten als die 16.384, die Excel erlaubt", fmt.Errorf("sheet: column %d", ref.col))
			}
			col = ref.col
			if c.Kind == Empty {
				continue
			}
			p.rowSize += len(c.Value) + (col-len(p.cells))*cellSize
			if p.rowSize > p.lim.rowBytes {
				return Row{}, rowTooLarge(p.row, fmt.Errorf("sheet: row %d over %d bytes", p.row, p.lim.rowBytes))
			}
			for len(p.cells) < col-1 {
				p.cells = append(p.cells, Cell{})
			}
			p.cells = append(p.cells, c)
		}
	}
}

func (p *sheetParser) checkRow(num, prev int) error {
	if num > maxRows {
		return beyondExcel(num, "mehr Zeilen als die 1.048.576, die Excel erlaubt", fmt.Errorf("sheet: row %d", num))
	}
	if num <= prev {
		return corrupt(num, fmt.Errorf("sheet: row %d after row %d", num, prev))
	}
	return nil
}

// finishRow hands out the row's cells (trailing blanks dropped); Cells is
// nil when no cell has a value.
func (p *sheetParser) finishRow() Row {
	n := len(p.cells)
	if n == 0 {
		return Row{Num: p.row}
	}
	cells := p.cells[:n:n]
	if cap(p.cells) == cap(p.arena)-len(p.arena) {
		p.arena = p.arena[:len(p.arena)+n] // built in place
	}
	p.cells = nil
	return Row{Num: p.row, Cells: cells}
}

// cellRef is a parsed cell reference; col 0 when the cell has none.
type cellRef struct{ col, row int }

func (r cellRef) name() string {
	var b []byte
	for c := r.col; c > 0; c = (c - 1) / 26 {
		b = append([]byte{byte('A' + (c-1)%26)}, b...)
	}
	return string(b) + strconv.Itoa(r.row)
}

// Cell types (the t attribute).
const (
	typNumber = iota
	typShared
	typInline
	typFormulaString
	typBool
	typError
	typDate
)

// readCell reads a cell whose start tag was just read.
func (p *sheetParser) readCell(start token) (Cell, cellRef, error) {
	var ref cellRef
	typ, style := typNumber, 0
	a := start.attrs
	for {
		name, val, rest, ok, err := nextAttr(a)
		if err != nil {
			return Cell{}, ref, corrupt(p.row, err)
		}
		if !ok {
			break
		}
		a = rest
		switch string(name) {
		case "r":
			if len(val) > 0 {
				if ref, err = parseRef(val); err != nil {
					return Cell{}, ref, p.refError(val, err)
				}
			}
		case "s":
			if len(val) > 0 {
				if style, err = parseIndex(val); err != nil {
					style = 0 // Excel itself reads the cell with the default style
				}
			}
		case "t":
			switch string(val) {
			case "s":
				typ = typShared
			case "inlineStr":
				typ = typInline
			case "str":
				typ = typFormulaString
			case "b":
				typ = typBool
			case "e":
				typ = typError
			case "d":
				typ = typDate
			}
		}
	}
	var st cellStyle
	if style < len(p.styles) {
		st = p.styles[style]
	}
	if start.self {
		return Cell{}, ref, nil
	}
	s := p.s
	var v []byte
	haveV := false
	var inline []byte
	for {
		tok, err := s.next()
		if err != nil {
			return Cell{}, ref, p.cellFail(ref, err)
		}
		if tok.kind == tokEOF {
			return Cell{}, ref, p.fail(io.ErrUnexpectedEOF)
		}
		if tok.kind == tokEnd {
			if string(tok.name) == "c" {
				break
			}
			continue
		}
		switch {
		case string(tok.name) == "v" && !tok.self:
			p.vbuf, err = s.text(p.vbuf[:0], typ == typFormulaString)
			if err != nil {
				return Cell{}, ref, p.cellFail(ref, err)
			}
			v, haveV = p.vbuf, true
			if err := s.skip(tok); err != nil {
				return Cell{}, ref, p.cellFail(ref, err)
			}
		case string(tok.name) == "is" && !tok.self:
			inline, err = collectText(s, inline[:0])
			if err != nil {
				return Cell{}, ref, p.cellFail(ref, err)
			}
		default:
			if err := s.skip(tok); err != nil {
				return Cell{}, ref, p.cellFail(ref, err)
			}
		}
	}

	c, err := p.makeCell(typ, st, v, haveV, inline)
	return c, ref, err
}

// fastCell reads the common shape of a cell, <c r="B2" s="1" t="s"><v>7</v></c>
// or <c r="B2" s="1"/>, straight from the buffer: double-quoted attributes
// without entities, at most a <v> without markup or entities. Anything
// else (or a cell not wholly buffered) is left to readCell: fast is false
// and nothing is consumed. It is the hot loop of every import: one pass
// over each byte, no calls for the attributes.
func (p *sheetParser) fastCell() (c Cell, ref cellRef, fast bool, err error) {
	s := p.s
	b := s.buf[s.pos:s.end]
	i := leadingSpace(b)
	if !startTag(b[i:], "c") {
		return c, ref, false, nil
	}
	j := i + 2
	typ, style := typNumber, 0
	for {
		for j < len(b) && isSpace(b[j]) {
			j++
		}
		if j >= len(b) {
			return c, ref, false, nil
		}
		if b[j] == '>' || b[j] == '/' {
			break
		}
		ns := j
		for j < len(b) && b[j] != '=' && b[j] != '>' && !isSpace(b[j]) {
			j++
		}
		if j+1 >= len(b) || b[j] != '=' || b[j+1] != '"' {
			return c, ref, false, nil
		}
		name := b[ns:j]
		vs := j + 2
		k := vs
		for k < len(b) && b[k] != '"' {
			if ch := b[k]; ch == '&' || ch == '<' || ch == '>' {
				return c, ref, false, nil
			}
			k++
		}
		if k >= len(b) {
			return c, ref, false, nil
		}
		val := b[vs:k]
		j = k + 1
		if len(name) != 1 {
			continue
		}
		switch name[0] {
		case 'r':
			if len(val) > 0 {
				if ref, err = parseRef(val); err != nil {
					return c, ref, true, p.refError(val, err)
				}
			}
		case 's':
			if len(val) > 0 {
				if style, err = parseIndex(val); err != nil {
					style = 0
				}
			}
		case 't':
			switch string(val) {
			case "s":
				typ = typShared
			case "n", "":
			case "b":
				typ = typBool
			case "e":
				typ = typError
			case "d":
				typ = typDate
			default: // inline and formula strings take the general path
				return c, ref, false, nil
			}
		}
	}
	var v []byte
	haveV := false
	if b[j] == '/' {
		if j+1 >= len(b) || b[j+1] != '>' {
			return c, ref, false, nil
		}
		j += 2
	} else {
		j++ // '>'
		rest := b[j:]
		switch {
		case len(rest) >= 4 && string(rest[:4]) == "</c>":
			j += 4
		case len(rest) >= 3 && string(rest[:3]) == "<v>":
			k := 3
			for k < len(rest) && rest[k] != '<' {
				if ch := rest[k]; ch == '&' || ch == '\r' {
					return c, ref, false, nil
				}
				k++
			}
			if len(rest)-k < len("</v></c>") || string(rest[k:k+len("</v></c>")]) != "</v></c>" {
				return c, ref, false, nil
			}
			v, haveV = rest[3:k], true
			j += k + len("</v></c>")
		default:
			return c, ref, false, nil
		}
	}
	var st cellStyle
	if style < len(p.styles) {
		st = p.styles[style]
	}
	if typ == typShared {
		// The shared string held in memory, without the general path.
		if i, err := parseIndex(v); err == nil {
			if str, ok := p.sst.inMemory(i); ok {
				s.pos += j
				if isBlank(str) {
					return Cell{}, ref, true, nil
				}
				return Cell{Kind: Text, Value: str, Format: st.format}, ref, true, nil
			}
		}
	}
	c, err = p.makeCell(typ, st, v, haveV, nil)
	if err != nil {
		return c, ref, true, err
	}
	s.pos += j
	return c, ref, true, nil
}

// rowStart reads a <row …> start tag (after whitespace) wholly in the
// buffer, the one tag of every row, without the general markup path.
func (s *xmlScanner) rowStart() (token, bool) {
	b := s.buf[s.pos:s.end]
	i := leadingSpace(b)
	if !startTag(b[i:], "row") {
		return token{}, false
	}
	k, ok := quotedTagEnd(b[i:])
	if !ok {
		return token{}, false
	}
	j := i + k
	t := token{kind: tokStart, name: b[i+1 : i+4], attrs: b[i+4 : j]}
	if b[j-1] == '/' {
		t.self, t.attrs = true, b[i+4:j-1]
	}
	s.pos += j + 1
	return t, true
}

// atRowEnd consumes </row> (after whitespace) if the buffer starts with it.
func (s *xmlScanner) atRowEnd() bool {
	b := s.buf[s.pos:s.end]
	i := leadingSpace(b)
	if len(b)-i >= len("</row>") && string(b[i:i+len("</row>")]) == "</row>" {
		s.pos += i + len("</row>")
		return true
	}
	return false
}

// makeCell builds a cell from its type, style and content.
func (p *sheetParser) makeCell(typ int, st cellStyle, v []byte, haveV bool, inline []byte) (Cell, error) {
	c := Cell{Format: st.format}
	switch typ {
	case typInline:
		if inline == nil && haveV { // some writers put the text in <v>
			inline = v
		}
		if len(inline) == 0 {
			return Cell{}, nil
		}
		c.Kind, c.Value = Text, string(inline)
	case typShared:
		if !haveV || len(v) == 0 {
			return Cell{}, nil
		}
		i, err := parseIndex(v)
		if err != nil {
			return Cell{}, corrupt(p.row, fmt.Errorf("sheet: shared string index %q", v))
		}
		str, ok, err := p.sst.get(i)
		if err != nil {
			return Cell{}, err
		}
		if !ok {
			return Cell{}, corrupt(p.row, fmt.Errorf("sheet: shared string %d of %d", i, p.sst.n))
		}
		c.Kind, c.Value = Text, str
	default:
		if !haveV || len(v) == 0 {
			return Cell{}, nil
		}
		if !utf8.Valid(v) {
			return Cell{}, corrupt(p.row, errBadUTF8)
		}
		if utf16Len(v) > maxCellChars {
			return Cell{}, cellTooLong("", errTextLong)
		}
		c.Value = string(v)
		switch typ {
		case typFormulaString:
			c.Kind = Text
		case typBool:
			c.Kind = Bool
		case typError:
			c.Kind = Error
		case typDate:
			c.Kind, c.Date1904 = Date, p.date1904
		default:
			c.Kind = Text
			if numberSyntax(v) {
				c.Kind = Number
				if st.date {
					c.Kind, c.Date1904 = Date, p.date1904
				}
			}
		}
	}
	if c.Kind == Text && isBlank(c.Value) {
		return Cell{}, nil
	}
	return c, nil
}

func (p *sheetParser) refName(ref cellRef) string {
	if ref.col == 0 {
		return ""
	}
	return ref.name()
}

func (p *sheetParser) cellFail(ref cellRef, err error) error {
	if errors.Is(err, errTextLong) {
		return cellTooLong(p.refName(ref), err)
	}
	return p.fail(err)
}

var errBadRef = errors.New("sheet: bad cell reference")

func (p *sheetParser) refError(val []byte, err error) error {
	var fe *FileError
	if errors.As(err, &fe) {
		return err
	}
	return corrupt(p.row, fmt.Errorf("%w %q", err, val))
}

// parseRef parses a cell reference such as B12 (Excel's limits checked).
func parseRef(b []byte) (cellRef, error) {
	var r cellRef
	i := 0
	for ; i < len(b) && b[i] >= 'A' && b[i] <= 'Z'; i++ {
		if r.col > maxCols {
			break // keep going only to find the end; the value is over the limit
		}
		r.col = r.col*26 + int(b[i]-'A'+1)
	}
	for ; i < len(b) && b[i] >= 'A' && b[i] <= 'Z'; i++ {
	}
	if i == 0 || i == len(b) {
		return r, errBadRef
	}
	n, err := parseIndex(b[i:])
	if err != nil || n == 0 {
		return r, errBadRef
	}
	r.row = n
	if r.col > maxCols {
		return r, beyondExcel(n, "mehr Spalten als die 16.384, die Excel erlaubt", fmt.Errorf("sheet: cell %s", b))
	}
	if n > maxRows {
		return r, beyondExcel(n, "mehr Zeilen als die 1.048.576, die Excel erlaubt", fmt.Errorf("sheet: cell %s", b))
	}
	return r, nil
}

// parseIndex parses a non-negative decimal without sign (at most 10
// digits, so that it cannot overflow).
func parseIndex(b []byte) (int, error) {
	if len(b) == 0 || len(b) > 10 {
		return 0, errBadRef
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, errBadRef
		}
		n = n*10 + int(c-'0')
	}
	return n, nil
}

// numberSyntax reports whether v is a number as spreadsheets store them
// (lenient: a sign, leading zeros or a leading point are allowed).
func numberSyntax(v []byte) bool {
	i := 0
	if i < len(v) && (v[i] == '-' || v[i] == '+') {
		i++
	}
	digits := 0
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
		digits++
	}
	if i < len(v) && v[i] == '.' {
		i++
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(v) && (v[i] == 'E' || v[i] == 'e') {
		i++
		if i < len(v) && (v[i] == '+' || v[i] == '-') {
			i++
		}
		exp := 0
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
			exp++
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(v)
}
