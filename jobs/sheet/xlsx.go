package sheet

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/richardlehane/mscfb"
	"github.com/xuri/excelize/v2"
)

// xlsxLimits bound what a workbook may unpack to; tests shrink them to
// simulate zip bombs.
type xlsxLimits struct {
	unzipBytes int64 // all parts together, decompressed
	// xmlBytes: excelize spools a worksheet or the shared strings to a temp
	// file when larger than this, and holds them in memory otherwise.
	xmlBytes int64
	// memBytes caps all parts excelize holds in memory (everything but the
	// spooled ones), so that e.g. a huge styles.xml cannot eat the RAM.
	memBytes int64
}

func defaultXLSXLimits() xlsxLimits {
	return xlsxLimits{unzipBytes: 4 << 30, xmlBytes: 8 << 20, memBytes: 256 << 20}
}

// oleHeader starts every OLE compound file: password-protected .xlsx files
// and old .xls files.
const oleHeader = "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"

// OpenXLSX opens the workbook at path (a local temp file the caller spooled
// the upload into) and reads the sheet named opts.Sheet, or the first sheet.
// The file itself may be removed once OpenXLSX returns.
//
// excelize's streaming iterator exposes neither cell types nor styles, so
// Kind is inferred from the raw value: a number in the syntax spreadsheets
// store numbers in is Number, #N/A and the other error literals are Error,
// anything else Text. Consequences: booleans arrive as Number "1"/"0",
// dates as Number serials, numeric-looking text as Number (Value is exact
// either way), and Format is always "". A reader parsing the sheet XML
// itself could expose real types and formats.
func OpenXLSX(path string, opts Options) (Reader, error) {
	return openXLSX(path, opts, defaultXLSXLimits())
}

func openXLSX(path string, opts Options, lim xlsxLimits) (Reader, error) {
	lim.xmlBytes = min(lim.xmlBytes, lim.unzipBytes) // excelize rejects xml > unzip
	hasWorkbook, err := checkPackage(path, lim)
	if err != nil {
		return nil, err
	}
	f, err := excelize.OpenFile(path, excelize.Options{
		UnzipSizeLimit:    lim.unzipBytes,
		UnzipXMLSizeLimit: lim.xmlBytes,
	})
	if err != nil {
		// excelize may return a File with temp files.
		if f != nil {
			_ = f.Close() // the open error is what matters
		}
		// checkPackage vouched for the zip and its sizes, so the content is
		// broken, or it is some other zip (.docx, .ods, a zipped CSV).
		if !hasWorkbook {
			return nil, notXLSX(err)
		}
		return nil, corrupt(0, err)
	}
	name, ferr := pickSheet(f.GetSheetList(), opts.Sheet)
	if ferr != nil {
		_ = f.Close() // the sheet error is what matters
		return nil, ferr
	}
	rows, err := f.Rows(name)
	if err != nil {
		_ = f.Close() // the read error is what matters
		return nil, corrupt(0, err)
	}
	return prefetch(&xlsxReader{f: f, rows: rows}, emptyFile(name))
}

// checkPackage classifies the file before excelize reads it: excelize
// reads OLE files whole into memory and reports every kind of non-zip
// alike, and it holds all but the biggest parts in memory. It reports
// whether the zip has the part where Excel and others keep the workbook.
func checkPackage(path string, lim xlsxLimits) (hasWorkbook bool, err error) {
	fh, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("sheet: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return false, fmt.Errorf("sheet: %w", err)
	}
	if st.Size() == 0 {
		return false, emptyFile("")
	}
	head := make([]byte, len(oleHeader))
	if _, err := io.ReadFull(fh, head); err != nil {
		return false, notXLSX(err)
	}
	if string(head) == oleHeader {
		return false, classifyOLE(fh)
	}
	zr, err := zip.NewReader(fh, st.Size())
	if err != nil {
		if bytes.HasPrefix(head, []byte("PK\x03\x04")) {
			return false, corrupt(0, err) // a zip, but truncated or damaged
		}
		return false, notXLSX(err)
	}
	var total, inMemory uint64
	for _, zf := range zr.File {
		hasWorkbook = hasWorkbook || strings.EqualFold(zf.Name, "xl/workbook.xml")
		size := zf.UncompressedSize64 // archive/zip enforces it when reading
		total += size
		if !spooledByExcelize(zf.Name, size, lim.xmlBytes) {
			inMemory += size
		}
		// Checked per part, so the sums cannot overflow.
		if total > uint64(lim.unzipBytes) || inMemory > uint64(lim.memBytes) {
			return false, tooLarge(fmt.Errorf("sheet: %s unpacks to more than the limit (total %d, in memory %d bytes so far)", zf.Name, total, inMemory))
		}
	}
	return hasWorkbook, nil
}

// spooledByExcelize mirrors excelize's ReadZipReader: only the shared
// strings and worksheets above the XML limit go to temp files.
func spooledByExcelize(name string, size uint64, xmlBytes int64) bool {
	if size <= uint64(xmlBytes) {
		return false
	}
	name = strings.ToLower(strings.ReplaceAll(name, `\`, "/"))
	return name == "xl/sharedstrings.xml" || strings.HasPrefix(name, "xl/worksheets/sheet")
}

// classifyOLE tells an old .xls (also an OLE file) from an encrypted
// .xlsx, whose package sits in the stream EncryptedPackage. Anything
// unreadable counts as encrypted, as excelize would try to decrypt it.
func classifyOLE(ra io.ReaderAt) *FileError {
	doc, err := mscfb.New(ra)
	if err != nil {
		return encrypted(err)
	}
	for _, e := range doc.File {
		if e.Name == "Workbook" || e.Name == "Book" {
			return oldXLS()
		}
	}
	return encrypted(nil)
}

// pickSheet resolves the wanted sheet name; Excel treats sheet names
// case-insensitively, so a differently cased name still matches.
func pickSheet(sheets []string, want string) (string, *FileError) {
	if len(sheets) == 0 {
		return "", notXLSX(fmt.Errorf("sheet: workbook has no sheets")) // e.g. .xlsb, .ods, .docx
	}
	if want == "" {
		return sheets[0], nil
	}
	for _, s := range sheets {
		if s == want {
			return s, nil
		}
	}
	for _, s := range sheets {
		if strings.EqualFold(s, want) {
			return s, nil
		}
	}
	return "", sheetNotFound(want, sheets)
}

type xlsxReader struct {
	f    *excelize.File
	rows *excelize.Rows
	num  int // sheet row number of the row last read
}

func (x *xlsxReader) Next() (Row, error) {
	for x.rows.Next() {
		// excelize's Next steps one row number per call, also for numbers
		// with no <row> element (Columns then returns nothing), provided
		// Columns is called every time. So counting calls gives the row
		// number the user sees, gaps included.
		x.num++
		vals, err := x.rows.Columns(excelize.Options{RawCellValue: true})
		if err != nil {
			return Row{}, corrupt(x.num, err)
		}
		if cells := makeCells(vals, xlsxKind); cells != nil {
			return Row{Num: x.num, Cells: cells}, nil
		}
	}
	// Only a row number beyond Excel's limit is reported here: excelize
	// ends the iteration silently on malformed sheet XML.
	if err := x.rows.Error(); err != nil {
		return Row{}, corrupt(0, err)
	}
	return Row{}, io.EOF
}

func (x *xlsxReader) Close() error {
	rerr := x.rows.Close()
	ferr := x.f.Close() // deletes excelize's temp files
	if rerr != nil {
		return fmt.Errorf("sheet: closing rows: %w", rerr)
	}
	if ferr != nil {
		return fmt.Errorf("sheet: closing workbook: %w", ferr)
	}
	return nil
}

// xlsxKind infers a kind from a raw cell value; see OpenXLSX.
func xlsxKind(v string) Kind {
	switch v {
	case "#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A",
		"#GETTING_DATA", "#SPILL!", "#CALC!":
		return Error
	}
	if isNumber(v) {
		return Number
	}
	return Text
}

// isNumber reports whether v has the shape spreadsheets store numbers in:
// -?digits[.digits][E[+-]digits], without superfluous leading zeros.
// Stricter than strconv.ParseFloat, so text like "Inf", "0x1F" or the
// postcode "01067" stays Text.
func isNumber(v string) bool {
	i := 0
	if i < len(v) && v[i] == '-' {
		i++
	}
	digits := func() int {
		start := i
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
		return i - start
	}
	intStart := i
	if n := digits(); n == 0 || (n > 1 && v[intStart] == '0') {
		return false
	}
	if i < len(v) && v[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(v) && (v[i] == 'E' || v[i] == 'e') {
		i++
		if i < len(v) && (v[i] == '+' || v[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(v)
}
