package sheet

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/klauspost/compress/flate"
	"github.com/richardlehane/mscfb"
)

// Excel's own limits (Excel specifications and limits).
const (
	maxRows      = 1 << 20 // 1,048,576
	maxCols      = 1 << 14 // 16,384 (XFD)
	maxCellChars = 32767
)

// xlsxLimits bound what reading a workbook may cost; tests shrink them.
type xlsxLimits struct {
	unzipBytes int64 // all parts together, decompressed (zip bombs)
	// metaBytes caps each of workbook.xml, the relationships and
	// styles.xml: everything the reader keeps from them is smaller.
	metaBytes   int64
	sstCount    int   // shared strings: at most this many
	sstBytes    int64 // … with at most this much decoded text
	sstMemBytes int64 // … of which this much is held in memory, the rest in a temp file
	rowBytes    int   // text and cells of one row
}

func defaultXLSXLimits() xlsxLimits {
	return xlsxLimits{
		unzipBytes:  4 << 30,
		metaBytes:   32 << 20,
		sstCount:    1 << 23, // 8,388,608: an index of 64 MiB at most
		sstBytes:    1 << 30,
		sstMemBytes: 32 << 20,
		rowBytes:    16 << 20,
	}
}

// oleHeader starts every OLE compound file: password-protected .xlsx files
// and old .xls files.
const oleHeader = "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"

// OpenXLSX opens the workbook at path (a local temp file the caller spooled
// the upload into) and reads the sheet named opts.Sheet (any sheet, also a
// hidden one; Excel's case-insensitive names), or the first visible
// worksheet. The file itself may be removed once OpenXLSX returns.
//
// The reader is its own (no excelize): a byte-level scanner over the sheet
// XML, parsing in a goroutine ahead of Next. Cells are typed by the file:
// shared, inline and formula strings are Text (also when they look like a
// number: "10.200" typed as text stays Text), numbers Number with their
// style's number format in Format, numbers with a date or time format
// Date (see Cell.Time for the calendar date, honouring the workbook's date
// system), booleans Bool ("1"/"0"), error values Error ("#N/A").
//
// What reading may cost is bounded whatever the file claims: see
// xlsxLimits for the shared strings (a 64 MiB index at most, text beyond
// 32 MiB spilled to a temp file), rows, cells and parts; Excel's limits
// (rows, columns, 32,767 characters per cell) are FileErrors, and so is a
// NUL byte, rows or cells out of order and any malformed XML.
func OpenXLSX(path string, opts Options) (Reader, error) {
	return openXLSX(path, opts, defaultXLSXLimits())
}

func openXLSX(path string, opts Options, lim xlsxLimits) (Reader, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sheet: %w", err)
	}
	r, err := openPackage(fh, opts, lim)
	if err != nil {
		fh.Close()
		return nil, err
	}
	x := r.(*xlsxReader)
	rd, err := prefetch(r, emptyFile(x.sheetName))
	var fe *FileError
	if errors.As(err, &fe) && fe.Code == CodeEmptyFile && opts.Sheet == "" {
		if full := sheetsWithData(path, x.others, lim); len(full) > 0 {
			return nil, emptySheet(x.sheetName, full)
		}
	}
	return rd, err
}

// maxSheetsProbed bounds the search for data on other sheets when the first one is
// empty: each probe reads the workbook's shared strings again.
const maxSheetsProbed = 8

// sheetsWithData lists which of the named sheets have at least one row with a value,
// so that the user learns where the data is (or to pass `sheet`).
func sheetsWithData(path string, names []string, lim xlsxLimits) []string {
	var full []string
	for _, name := range names[:min(len(names), maxSheetsProbed)] {
		fh, err := os.Open(path)
		if err != nil {
			return full
		}
		r, err := openPackage(fh, Options{Sheet: name}, lim)
		if err != nil {
			fh.Close()
			continue
		}
		if _, err := r.Next(); err == nil {
			full = append(full, name)
		}
		r.Close()
	}
	return full
}

// pkg is an opened workbook package.
type pkg struct {
	files map[string]*zip.File // by lower-cased name
}

func (p pkg) file(name string) *zip.File { return p.files[strings.ToLower(name)] }

func openPackage(fh *os.File, opts Options, lim xlsxLimits) (Reader, error) {
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("sheet: %w", err)
	}
	if st.Size() == 0 {
		return nil, emptyFile("")
	}
	head := make([]byte, len(oleHeader))
	if _, err := io.ReadFull(fh, head); err != nil {
		return nil, notXLSX(err)
	}
	if string(head) == oleHeader {
		return nil, classifyOLE(fh)
	}
	zr, err := zip.NewReader(fh, st.Size())
	if err != nil {
		if bytes.HasPrefix(head, []byte("PK\x03\x04")) {
			return nil, corrupt(0, err) // a zip, but truncated or damaged
		}
		return nil, notXLSX(err)
	}
	// klauspost's inflater is about a quarter faster than compress/flate
	// (the benchmark's decompression floor stays the standard library's).
	zr.RegisterDecompressor(zip.Deflate, flate.NewReader)
	p := pkg{files: make(map[string]*zip.File, len(zr.File))}
	var total uint64
	for _, zf := range zr.File {
		total += zf.UncompressedSize64 // archive/zip enforces it when reading
		// Checked per part, so the sum cannot overflow.
		if total > uint64(lim.unzipBytes) {
			return nil, tooLarge(fmt.Errorf("sheet: %s unpacks to more than the limit (%d bytes so far)", zf.Name, total))
		}
		name := strings.ToLower(strings.TrimPrefix(strings.ReplaceAll(zf.Name, `\`, "/"), "/"))
		if _, dup := p.files[name]; dup && !strings.HasSuffix(name, "/") {
			return nil, corrupt(0, fmt.Errorf("sheet: the package holds %s twice", zf.Name))
		}
		p.files[name] = zf
	}

	wbName := p.officeDocument(lim)
	if strings.HasSuffix(strings.ToLower(wbName), ".bin") || p.file("xl/workbook.bin") != nil && p.file(wbName) == nil {
		return nil, xlsb()
	}
	wbFile := p.file(wbName)
	if wbFile == nil {
		return nil, notXLSX(fmt.Errorf("sheet: no workbook part %s", wbName))
	}
	wb, err := readWorkbook(wbFile, lim)
	if err != nil {
		return nil, corrupt(0, fmt.Errorf("sheet: %s: %w", wbName, err))
	}
	rels, err := p.readRels(relsName(wbName), lim)
	if err != nil {
		return nil, corrupt(0, err)
	}

	// The worksheets in workbook order (chart and dialog sheets hold no
	// data), resolved to their parts.
	type sheetRef struct {
		name   string
		hidden bool
		part   *zip.File
	}
	var sheets []sheetRef
	var names []string
	for _, s := range wb.sheets {
		rel, ok := rels[s.rid]
		if !ok || !strings.HasSuffix(rel.typ, "/worksheet") {
			continue
		}
		part := p.file(resolve(wbName, rel.target))
		if part == nil {
			return nil, corrupt(0, fmt.Errorf("sheet: worksheet %q: no part %s", s.name, rel.target))
		}
		sheets = append(sheets, sheetRef{name: s.name, hidden: s.hidden, part: part})
		names = append(names, s.name)
	}
	if len(sheets) == 0 {
		return nil, notXLSX(fmt.Errorf("sheet: workbook has no worksheets"))
	}
	pick := -1
	if opts.Sheet == "" {
		for i, s := range sheets {
			if !s.hidden {
				pick = i
				break
			}
		}
		pick = max(pick, 0) // all hidden: Excel would not allow it; take the first
	} else {
		for i, s := range sheets {
			if s.name == opts.Sheet {
				pick = i
				break
			}
		}
		for i, s := range sheets {
			if pick < 0 && strings.EqualFold(s.name, opts.Sheet) {
				pick = i
			}
		}
		if pick < 0 {
			return nil, sheetNotFound(opts.Sheet, names)
		}
	}

	var styles []cellStyle
	var sst *sharedStrings
	for _, rel := range rels {
		switch {
		case strings.HasSuffix(rel.typ, "/styles"):
			f := p.file(resolve(wbName, rel.target))
			if f == nil {
				continue
			}
			rc, err := openPart(f, lim.metaBytes)
			if err != nil {
				return nil, err
			}
			styles, err = loadStyles(rc)
			rc.Close()
			if err != nil {
				return nil, corrupt(0, fmt.Errorf("sheet: styles: %w", err))
			}
		case strings.HasSuffix(rel.typ, "/sharedStrings"):
			f := p.file(resolve(wbName, rel.target))
			if f == nil || sst != nil {
				continue
			}
			rc, err := f.Open()
			if err != nil {
				return nil, corrupt(0, err)
			}
			// Inflating ahead on the other core halves the wait.
			ar := newAsyncReader(rc)
			sst, err = loadSharedStrings(ar, lim)
			ar.close()
			rc.Close()
			if err != nil {
				return nil, sstError(err)
			}
		}
	}
	if sst == nil {
		sst = &sharedStrings{}
	}

	rc, err := sheets[pick].part.Open()
	if err != nil {
		sst.close()
		return nil, corrupt(0, err)
	}
	ar := newAsyncReader(rc)
	sp := &sheetParser{
		s: newXMLScanner(ar), sst: sst, styles: styles, date1904: wb.date1904, lim: lim,
	}
	x := &xlsxReader{
		sheetName: sheets[pick].name,
		others:    slices.Delete(slices.Clone(names), pick, pick+1),
		batches:   make(chan rowBatch, 2),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		closeFile: func() error {
			ar.close()
			rc.Close()
			serr := sst.close()
			ferr := fh.Close()
			return errors.Join(serr, ferr)
		},
	}
	go func() {
		defer close(x.done)
		sp.run(x.batches, x.stop)
	}()
	return x, nil
}

// openPart opens a part that is read whole, refusing one beyond max.
func openPart(f *zip.File, max int64) (io.ReadCloser, error) {
	if f.UncompressedSize64 > uint64(max) {
		return nil, tooLarge(fmt.Errorf("sheet: %s unpacks to %d bytes, more than %d", f.Name, f.UncompressedSize64, max))
	}
	rc, err := f.Open()
	if err != nil {
		return nil, corrupt(0, err)
	}
	return rc, nil
}

// sstError turns a shared-strings failure into a FileError.
func sstError(err error) error {
	var fe *FileError
	switch {
	case errors.As(err, &fe):
		return err
	case errors.Is(err, errSSTCount), errors.Is(err, errSSTBytes):
		return tooManyStrings(err)
	case errors.Is(err, errTextLong):
		return cellTooLong("", err)
	}
	return corrupt(0, fmt.Errorf("sheet: shared strings: %w", err))
}

type wbSheet struct {
	name, rid string
	hidden    bool
}

type workbook struct {
	sheets   []wbSheet
	date1904 bool
}

// readWorkbook reads the sheet list and the date system of workbook.xml.
func readWorkbook(f *zip.File, lim xlsxLimits) (workbook, error) {
	var wb workbook
	rc, err := openPart(f, lim.metaBytes)
	if err != nil {
		return wb, err
	}
	defer rc.Close()
	s := newXMLScanner(rc)
	closed := false
	for {
		tok, err := s.next()
		if err != nil {
			return wb, err
		}
		if tok.kind == tokEOF {
			break
		}
		switch {
		case tok.kind == tokEnd && string(tok.name) == "workbook":
			closed = true
		case tok.kind == tokStart && string(tok.name) == "workbookPr":
			err = eachAttr(tok.attrs, func(name, val []byte) error {
				if string(name) == "date1904" {
					wb.date1904 = string(val) == "1" || string(val) == "true"
				}
				return nil
			})
		case tok.kind == tokStart && string(tok.name) == "sheet":
			var ws wbSheet
			err = eachAttr(tok.attrs, func(name, val []byte) error {
				var err error
				switch string(name) {
				case "name":
					ws.name, err = attrValue(val)
				case "id":
					ws.rid, err = attrValue(val)
				case "state":
					ws.hidden = string(val) == "hidden" || string(val) == "veryHidden"
				}
				return err
			})
			wb.sheets = append(wb.sheets, ws)
		}
		if err != nil {
			return wb, err
		}
	}
	if !closed {
		return wb, io.ErrUnexpectedEOF
	}
	return wb, nil
}

type rel struct{ typ, target string }

// readRels reads a relationships part; a missing part has none.
func (p pkg) readRels(name string, lim xlsxLimits) (map[string]rel, error) {
	rels := map[string]rel{}
	f := p.file(name)
	if f == nil {
		return rels, nil
	}
	rc, err := openPart(f, lim.metaBytes)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	s := newXMLScanner(rc)
	for {
		tok, err := s.next()
		if err != nil {
			return nil, fmt.Errorf("sheet: %s: %w", name, err)
		}
		if tok.kind == tokEOF {
			return rels, nil
		}
		if tok.kind != tokStart || string(tok.name) != "Relationship" {
			continue
		}
		var id string
		var r rel
		if err := eachAttr(tok.attrs, func(an, val []byte) error {
			var err error
			switch string(an) {
			case "Id":
				id, err = attrValue(val)
			case "Type":
				r.typ, err = attrValue(val)
			case "Target":
				r.target, err = attrValue(val)
			}
			return err
		}); err != nil {
			return nil, fmt.Errorf("sheet: %s: %w", name, err)
		}
		rels[id] = r
	}
}

// officeDocument is the workbook part the package relationships name
// (Excel's xl/workbook.xml unless they say otherwise; strict OOXML uses
// another relationship namespace with the same type name).
func (p pkg) officeDocument(lim xlsxLimits) string {
	rels, err := p.readRels("_rels/.rels", lim)
	if err == nil {
		for _, r := range rels {
			if strings.HasSuffix(r.typ, "/officeDocument") {
				return resolve("", r.target)
			}
		}
	}
	return "xl/workbook.xml"
}

// relsName is the relationships part of a part: xl/_rels/workbook.xml.rels.
func relsName(part string) string {
	dir, file := path.Split(part)
	return dir + "_rels/" + file + ".rels"
}

// resolve resolves a relationship target against the part it is from.
func resolve(from, target string) string {
	target = strings.ReplaceAll(target, `\`, "/")
	if strings.HasPrefix(target, "/") {
		return strings.TrimPrefix(path.Clean(target), "/")
	}
	return strings.TrimPrefix(path.Clean(path.Join(path.Dir(from), target)), "/")
}

// classifyOLE tells an old .xls (also an OLE file) from an encrypted
// .xlsx, whose package sits in the stream EncryptedPackage. Anything
// unreadable counts as encrypted.
func classifyOLE(ra io.ReaderAt) *FileError {
	doc, err := mscfb.New(ra)
	if err != nil {
		return encrypted(err)
	}
	for _, e := range doc.File {
		if strings.EqualFold(e.Name, "Workbook") || strings.EqualFold(e.Name, "Book") {
			return oldXLS()
		}
	}
	return encrypted(nil)
}

// rowBatch is what the parser hands to Next: rows, then possibly the end
// (err io.EOF) or a FileError.
type rowBatch struct {
	rows []Row
	err  error
}

type xlsxReader struct {
	sheetName string
	others    []string // the workbook's other sheets, in order
	batches   chan rowBatch
	stop      chan struct{}
	done      chan struct{}
	closeFile func() error
	cur       []Row
	err       error
	closeOnce sync.Once
	closeErr  error
}

func (x *xlsxReader) Next() (Row, error) {
	for len(x.cur) == 0 {
		if x.err != nil {
			return Row{}, x.err
		}
		b, ok := <-x.batches
		if !ok {
			x.err = errors.New("sheet: reader closed")
			continue
		}
		x.cur, x.err = b.rows, b.err
	}
	row := x.cur[0]
	x.cur[0] = Row{}
	x.cur = x.cur[1:]
	return row, nil
}

// Close stops the parser, waits for it and releases the file and the
// shared strings' temp file.
func (x *xlsxReader) Close() error {
	x.closeOnce.Do(func() {
		close(x.stop)
		<-x.done
		x.closeErr = x.closeFile()
		x.cur, x.err = nil, errors.New("sheet: reader closed")
	})
	return x.closeErr
}

// Detected names the worksheet the reader reads.
func (x *xlsxReader) Detected() Detected { return Detected{Format: "xlsx", Sheet: x.sheetName} }
