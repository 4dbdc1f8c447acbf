package sheet

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// cellStyle is what a cell's style index (s) tells the reader: the number
// format code ("" for General) and whether it shows a date or time.
type cellStyle struct {
	format string
	date   bool
}

// builtinFormats are the number formats Excel does not write into
// styles.xml (ECMA-376 part 1, 18.8.30), plus the date formats of East
// Asian locales (ids 27–36, 50–58), which only need to be known as dates.
var builtinFormats = map[int]string{
	1: "0", 2: "0.00", 3: "#,##0", 4: "#,##0.00", 9: "0%", 10: "0.00%", 11: "0.00E+00", 12: "# ?/?",
	13: "# ??/??", 14: "mm-dd-yy", 15: "d-mmm-yy", 16: "d-mmm", 17: "mmm-yy", 18: "h:mm AM/PM",
	19: "h:mm:ss AM/PM", 20: "h:mm", 21: "h:mm:ss", 22: "m/d/yy h:mm", 37: "#,##0 ;(#,##0)",
	38: "#,##0 ;[Red](#,##0)", 39: "#,##0.00;(#,##0.00)", 40: "#,##0.00;[Red](#,##0.00)",
	45: "mm:ss", 46: "[h]:mm:ss", 47: "mmss.0", 48: "##0.0E+0", 49: "@",
	27: "yyyy\"年\"m\"月\"", 28: "m\"月\"d\"日\"", 29: "m\"月\"d\"日\"", 30: "m-d-yy", 31: "yyyy\"年\"m\"月\"d\"日\"",
	32: "h\"時\"mm\"分\"", 33: "h\"時\"mm\"分\"ss\"秒\"", 34: "yyyy\"年\"m\"月\"", 35: "m\"月\"d\"日\"", 36: "yyyy\"年\"m\"月\"",
	50: "yyyy\"年\"m\"月\"", 51: "m\"月\"d\"日\"", 52: "yyyy\"年\"m\"月\"", 53: "m\"月\"d\"日\"", 54: "m\"月\"d\"日\"",
	55: "yyyy\"年\"m\"月\"", 56: "m\"月\"d\"日\"", 57: "yyyy\"年\"m\"月\"", 58: "m\"月\"d\"日\"",
}

// Bounds on styles.xml, whatever it declares (Excel allows 64,000 cell
// formats and about 250 custom number formats).
const (
	maxXfs     = 1 << 20
	maxNumFmts = 1 << 16
)

// loadStyles reads the cell formats (cellXfs) and custom number formats
// of styles.xml.
func loadStyles(r io.Reader) ([]cellStyle, error) {
	s := newXMLScanner(r)
	custom := map[int]string{}
	var xfIDs []int
	inXfs := false
	for {
		tok, err := s.next()
		if err != nil {
			return nil, err
		}
		if tok.kind == tokEOF {
			break
		}
		switch {
		case tok.kind == tokStart && string(tok.name) == "numFmt":
			var id int = -1
			var code string
			if err := eachAttr(tok.attrs, func(name, val []byte) error {
				switch string(name) {
				case "numFmtId":
					id, _ = strconv.Atoi(string(val))
				case "formatCode":
					v, err := attrValue(val)
					code = v
					return err
				}
				return nil
			}); err != nil {
				return nil, err
			}
			if len(custom) >= maxNumFmts {
				return nil, fmt.Errorf("sheet: styles.xml has more than %d number formats", maxNumFmts)
			}
			if id >= 0 {
				custom[id] = code
			}
		case tok.kind == tokStart && string(tok.name) == "cellXfs":
			inXfs = !tok.self
		case tok.kind == tokEnd && string(tok.name) == "cellXfs":
			inXfs = false
		case tok.kind == tokStart && inXfs && string(tok.name) == "xf":
			id := 0
			if err := eachAttr(tok.attrs, func(name, val []byte) error {
				if string(name) == "numFmtId" {
					id, _ = strconv.Atoi(string(val))
				}
				return nil
			}); err != nil {
				return nil, err
			}
			if len(xfIDs) >= maxXfs {
				return nil, fmt.Errorf("sheet: styles.xml has more than %d cell formats", maxXfs)
			}
			xfIDs = append(xfIDs, id)
		}
	}
	styles := make([]cellStyle, len(xfIDs))
	for i, id := range xfIDs {
		code, ok := custom[id]
		if !ok {
			code = builtinFormats[id]
		}
		if strings.EqualFold(code, "General") {
			code = ""
		}
		styles[i] = cellStyle{format: code, date: isDateFormat(id, code)}
	}
	return styles, nil
}

func eachAttr(a []byte, fn func(name, val []byte) error) error {
	for {
		name, val, rest, ok, err := nextAttr(a)
		if err != nil || !ok {
			return err
		}
		if err := fn(name, val); err != nil {
			return err
		}
		a = rest
	}
}

// isDateFormat says whether a number format shows a date or a time, as
// Apache POI's DateUtil.isADateFormat judges it: a built-in date id, or a
// code with a date or time letter outside quoted text, escapes and
// [colour]/[$locale] sections ([h], [mm], [ss] elapsed time count).
func isDateFormat(id int, code string) bool {
	switch {
	case id >= 14 && id <= 22, id >= 45 && id <= 47, id >= 27 && id <= 36, id >= 50 && id <= 58:
		return true
	}
	if code == "" {
		return false
	}
	b := []byte(code)
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '"':
			j := bytes.IndexByte(b[i+1:], '"')
			if j < 0 {
				return false
			}
			i += j + 1
		case '\\', '_', '*':
			i++ // the next character is literal (or a fill/padding char)
		case '[':
			j := bytes.IndexByte(b[i+1:], ']')
			if j < 0 {
				return false
			}
			inner := strings.ToLower(string(b[i+1 : i+1+j]))
			if strings.Trim(inner, "hms") == "" && inner != "" {
				return true // elapsed time [h]:mm
			}
			i += j + 1
		case ';':
			// Only the first section decides, like Excel's display of a
			// positive number.
			return false
		default:
			switch c | 0x20 {
			case 'd', 'm', 'y', 'h', 's':
				return true
			case 'g':
				if strings.HasPrefix(strings.ToLower(string(b[i:])), "general") {
					i += len("general") - 1
				}
			case '0', '#', '?':
				// A digit placeholder before any date letter: a number.
				return false
			}
		}
	}
	return false
}

// Excel's date systems: serial 1 is 1900-01-01 (with the fictitious
// 1900-02-29 as serial 60) or, in the 1904 system, serial 0 is 1904-01-01.
var (
	epoch1900 = time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)
	epoch1904 = time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)
)

// serialTime converts an Excel serial date in the given date system to a
// time in UTC (wall clock as shown, milliseconds rounded).
func serialTime(v float64, date1904 bool) (time.Time, error) {
	if math.IsNaN(v) || v < 0 || v >= 2958466 {
		return time.Time{}, fmt.Errorf("sheet: %v is no Excel date", v)
	}
	epoch := epoch1904
	if !date1904 {
		epoch = epoch1900
		if v < 61 {
			if v >= 60 {
				return time.Time{}, fmt.Errorf("sheet: serial 60 is 1900-02-29, a day that did not exist")
			}
			epoch = epoch.AddDate(0, 0, 1) // Excel's 1900 leap-year bug
		}
	}
	days := math.Floor(v)
	ms := math.Round((v - days) * 86400000)
	return epoch.AddDate(0, 0, int(days)).Add(time.Duration(ms) * time.Millisecond), nil
}
