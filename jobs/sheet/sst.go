package sheet

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"unicode/utf8"
)

// sharedStrings is the workbook's shared-string table with bounded memory:
// an index of 8 bytes per string, the first memBytes of decoded text in
// memory (sealed chunks, so a cell's Value is a substring and costs no
// allocation), the rest in a temp file read through a small block cache.
type sharedStrings struct {
	idx    [][]uint64 // idxChunk entries each; see entry
	n      int
	chunks []string // sealed text chunks
	cur    []byte   // chunk being filled while loading
	mem    int64    // text bytes held in memory
	memMax int64

	file     *os.File // spilled text; nil until needed
	w        *bufio.Writer
	fileSize int64
	blocks   [cacheBlocks]cacheBlock
	scratch  []byte
}

const (
	idxChunk    = 1 << 16
	textChunk   = 1 << 20
	cacheBlocks = 64
	blockSize   = 64 << 10

	// An entry is flag(1) | position(46) | length(17). In memory the
	// position is chunk<<20 | offset; in the file it is the file offset.
	lenBits  = 17
	inFile   = uint64(1) << 63
	lenMask  = (uint64(1) << lenBits) - 1
	maxBytes = 3 * maxCellChars // a cell's text in UTF-8 at most
)

type cacheBlock struct {
	n    int64 // block number + 1; 0 = empty
	data []byte
}

// errSSTCount and errSSTBytes are refusals of a table beyond the bounds.
var (
	errSSTCount = errors.New("sheet: too many shared strings")
	errSSTBytes = errors.New("sheet: shared strings too large")
)

func (t *sharedStrings) add(s []byte) error {
	if t.n >= len(t.idx)*idxChunk {
		t.idx = append(t.idx, make([]uint64, idxChunk))
	}
	var e uint64
	if t.file == nil && t.mem+int64(len(s)) <= t.memMax {
		if len(t.cur)+len(s) > textChunk {
			t.seal()
		}
		if t.cur == nil {
			t.cur = make([]byte, 0, min(textChunk, max(int64(len(s)), t.memMax-t.mem, 4096)))
		}
		e = (uint64(len(t.chunks))<<20 | uint64(len(t.cur))) << lenBits
		t.cur = append(t.cur, s...)
		t.mem += int64(len(s))
	} else {
		if t.file == nil {
			f, err := os.CreateTemp("", "portalwerk-sst-*")
			if err != nil {
				return fmt.Errorf("sheet: shared strings temp file: %w", err)
			}
			t.file, t.w = f, bufio.NewWriterSize(f, blockSize)
		}
		if _, err := t.w.Write(s); err != nil {
			return fmt.Errorf("sheet: shared strings temp file: %w", err)
		}
		e = inFile | uint64(t.fileSize)<<lenBits
		t.fileSize += int64(len(s))
	}
	t.idx[t.n>>16][t.n&(idxChunk-1)] = e | uint64(len(s))
	t.n++
	return nil
}

func (t *sharedStrings) seal() {
	if t.cur != nil {
		t.chunks = append(t.chunks, string(t.cur))
		t.cur = nil
	}
}

// done ends loading.
func (t *sharedStrings) done() error {
	t.seal()
	if t.w != nil {
		if err := t.w.Flush(); err != nil {
			return fmt.Errorf("sheet: shared strings temp file: %w", err)
		}
		t.w = nil
	}
	return nil
}

// get returns string i; ok is false for an index out of range.
func (t *sharedStrings) get(i int) (string, bool, error) {
	if i < 0 || i >= t.n {
		return "", false, nil
	}
	e := t.idx[i>>16][i&(idxChunk-1)]
	if e&inFile == 0 {
		return t.memText(e), true, nil
	}
	b, err := t.readAt(int64((e&^inFile)>>lenBits), int(e&lenMask))
	return string(b), true, err
}

// inMemory returns string i if it is held in memory: the hot path of a
// shared-string cell, which never touches the temp file.
func (t *sharedStrings) inMemory(i int) (string, bool) {
	if i < 0 || i >= t.n {
		return "", false
	}
	e := t.idx[i>>16][i&(idxChunk-1)]
	if e&inFile != 0 {
		return "", false
	}
	return t.memText(e), true
}

// memText is the text of an in-memory entry e.
func (t *sharedStrings) memText(e uint64) string {
	pos := e >> lenBits
	off := int(pos & (textChunk - 1))
	return t.chunks[pos>>20][off : off+int(e&lenMask)]
}

// readAt reads n bytes at off of the temp file through the block cache.
func (t *sharedStrings) readAt(off int64, n int) ([]byte, error) {
	blk := off / blockSize
	if (off+int64(n)-1)/blockSize != blk || n == 0 {
		if cap(t.scratch) < n {
			t.scratch = make([]byte, n)
		}
		b := t.scratch[:n]
		if _, err := t.file.ReadAt(b, off); err != nil {
			return nil, fmt.Errorf("sheet: shared strings temp file: %w", err)
		}
		return b, nil
	}
	cb := &t.blocks[blk%cacheBlocks]
	if cb.n != blk+1 {
		if cb.data == nil {
			cb.data = make([]byte, blockSize)
		}
		m, err := t.file.ReadAt(cb.data, blk*blockSize)
		if err != nil && err != io.EOF {
			cb.n = 0
			return nil, fmt.Errorf("sheet: shared strings temp file: %w", err)
		}
		cb.data = cb.data[:m]
		cb.n = blk + 1
	}
	start := int(off - blk*blockSize)
	return cb.data[start : start+n], nil
}

// close removes the temp file.
func (t *sharedStrings) close() error {
	if t.file == nil {
		return nil
	}
	name := t.file.Name()
	cerr := t.file.Close()
	rerr := os.Remove(name)
	t.file = nil
	if cerr != nil {
		return cerr
	}
	return rerr
}

// loadSharedStrings reads xl/sharedStrings.xml: each <si> is plain
// (<t>) or rich text (runs <r><t>, concatenated); phonetic runs <rPh>
// are not part of the text. It refuses a table of more than lim.sstCount
// strings or lim.sstBytes decoded bytes, and a string longer than a cell.
func loadSharedStrings(r io.Reader, lim xlsxLimits) (*sharedStrings, error) {
	t := &sharedStrings{memMax: lim.sstMemBytes}
	if err := t.load(newXMLScanner(r), lim); err != nil {
		t.close()
		return nil, err
	}
	return t, nil
}

func (t *sharedStrings) load(s *xmlScanner, lim xlsxLimits) error {
	var buf []byte
	var total int64
	for {
		// Most items are plain <si><t>text</t></si>: taken straight from
		// the buffer, without the general scanner.
		if text, n, ok := plainSI(s.buf[s.pos:s.end]); ok {
			if err := t.checkCount(lim); err != nil {
				return err
			}
			if !utf8.Valid(text) {
				return errBadUTF8
			}
			if len(text) > maxCellChars && (utf16Len(text) > maxCellChars || len(text) > maxBytes) {
				return errTextLong
			}
			if err := t.addText(text, &total, lim); err != nil {
				return err
			}
			s.pos += n
			continue
		}
		tok, err := s.next()
		if err != nil {
			return err
		}
		switch {
		case tok.kind == tokEOF:
			return t.done()
		case tok.kind == tokStart && string(tok.name) == "sst":
			// A declared count beyond the bound is refused at once.
			for a := tok.attrs; ; {
				name, val, rest, ok, err := nextAttr(a)
				if err != nil || !ok {
					break
				}
				a = rest
				if string(name) == "uniqueCount" {
					if n, err := strconv.ParseInt(string(val), 10, 64); err == nil && n > int64(lim.sstCount) {
						return fmt.Errorf("%w: uniqueCount %d", errSSTCount, n)
					}
				}
			}
		case tok.kind == tokStart && string(tok.name) == "si":
			if err := t.checkCount(lim); err != nil {
				return err
			}
			buf = buf[:0]
			if !tok.self {
				if buf, err = collectText(s, buf); err != nil {
					return err
				}
			}
			if err := t.addText(buf, &total, lim); err != nil {
				return err
			}
		}
	}
}

// checkCount refuses one string more than the bound.
func (t *sharedStrings) checkCount(lim xlsxLimits) error {
	if t.n >= lim.sstCount {
		return fmt.Errorf("%w: more than %d", errSSTCount, lim.sstCount)
	}
	return nil
}

// addText adds an item's text; total is the text so far, bounded.
func (t *sharedStrings) addText(text []byte, total *int64, lim xlsxLimits) error {
	*total += int64(len(text))
	if *total > lim.sstBytes {
		return fmt.Errorf("%w: more than %d bytes", errSSTBytes, lim.sstBytes)
	}
	return t.add(text)
}

// collectText reads the content of a string item (<si> or <is>) whose
// start tag was just read, up to its end tag, appending the text of its
// <t> elements (plain or inside runs), skipping phonetic runs. It fails
// with errTextLong past a cell's length.
func collectText(s *xmlScanner, dst []byte) ([]byte, error) {
	depth, units := 1, 0
	for {
		tok, err := s.next()
		if err != nil {
			return dst, err
		}
		switch tok.kind {
		case tokEOF:
			return dst, io.ErrUnexpectedEOF
		case tokEnd:
			depth--
			if depth == 0 {
				return dst, nil
			}
		case tokStart:
			switch {
			case tok.self:
			case bytes.Equal(tok.name, []byte("t")):
				before := len(dst)
				if dst, err = s.text(dst, true); err != nil {
					return dst, err
				}
				if !utf8.Valid(dst[before:]) {
					return dst, errBadUTF8
				}
				if units += utf16Len(dst[before:]); units > maxCellChars || len(dst) > maxBytes {
					return dst, errTextLong
				}
				depth++
			case bytes.Equal(tok.name, []byte("rPh")):
				if err := s.skip(tok); err != nil {
					return dst, err
				}
			default:
				depth++
			}
		}
	}
}

var (
	siOpen     = []byte("<si><t>")
	siOpenKeep = []byte(`<si><t xml:space="preserve">`)
	siClose    = []byte("</t></si>")
)

// plainSI matches a whole string item without markup, entities, escapes
// or CRs in its text at the start of b (after whitespace): the text and
// the bytes the item takes. Anything else, or an item not wholly in b, is
// left to the general path (ok false).
func plainSI(b []byte) (text []byte, n int, ok bool) {
	i := leadingSpace(b)
	rest := b[i:]
	switch {
	case bytes.HasPrefix(rest, siOpen):
		i += len(siOpen)
	case bytes.HasPrefix(rest, siOpenKeep):
		i += len(siOpenKeep)
	default:
		return nil, 0, false
	}
	end := bytes.IndexByte(b[i:], '<')
	if end < 0 || !bytes.HasPrefix(b[i+end:], siClose) {
		return nil, 0, false
	}
	text = b[i : i+end]
	for j, c := range text {
		if c == '&' || c == '\r' || c == '_' && j+1 < len(text) && text[j+1] == 'x' {
			return nil, 0, false
		}
	}
	return text, i + end + len(siClose), true
}
