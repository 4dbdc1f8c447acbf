package importer

import (
	"encoding/json"
	"fmt"
	"strings"

	"portalwerk/jobs/sheet"
)

// rowError is one problem of a row, staged as JSON with the row.
type rowError struct {
	Column  string `json:"col"`
	Value   string `json:"value"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// rowErrors collects a row's problems; nil when the row is valid.
type rowErrors []rowError

func (e *rowErrors) add(col, value, code, msg string) {
	*e = append(*e, rowError{Column: col, Value: value, Code: code, Message: msg})
}

// value is what COPY gets for the errs column: NULL or a JSON array.
func (e rowErrors) value() any {
	if len(e) == 0 {
		return nil
	}
	b, _ := json.Marshal(e) // plain strings cannot fail to encode
	return string(b)
}

// keyDigits is the length of a Nutzerfremdnummer.
const keyDigits = 20

// exactDigits is how many significant digits a spreadsheet number keeps: Excel stores
// numbers as doubles and shows at most 15 digits exactly, so a number cell with more
// has been rounded even when it shows every digit.
const exactDigits = 15

const keyNotTextNFN = "Die Nutzerfremdnummer wurde von Excel als Zahl gespeichert und dabei verändert. Bitte formatieren Sie die Spalte als Text und geben Sie die Nummer mit allen Ziffern (auch führenden Nullen) ein."

// nutzerfremdnummer normalises a 20-digit key: spaces removed, a whole number written
// with a zero fraction (31001.0) taken as that number, 1 to 20 digits padded with
// leading zeros. It returns an error code and message when the value cannot be a key.
func nutzerfremdnummer(c sheet.Cell) (key, code, msg string) {
	v := wholeNumber(strings.Join(strings.Fields(c.Value), ""))
	if mangled(v) {
		return "", "key_not_text", keyNotTextNFN
	}
	if v == "" || len(v) > keyDigits || strings.Trim(v, "0123456789") != "" {
		return "", "invalid_key", fmt.Sprintf("Die Nutzerfremdnummer muss aus 1 bis %d Ziffern bestehen.", keyDigits)
	}
	if c.Kind == sheet.Number && rounded(v) {
		return "", "key_not_text", keyNotTextNFN
	}
	return strings.Repeat("0", keyDigits-len(v)) + v, "", ""
}

// rounded says whether a number cell's digits are more than a spreadsheet number keeps.
func rounded(digits string) bool {
	return len(strings.TrimLeft(digits, "0")) > exactDigits
}

// wholeNumber turns a whole number written with a zero fraction, as POI, SheetJS and
// pandas write them ("31001.0"), into the number ("31001"); any other value is returned
// as it is.
func wholeNumber(v string) string {
	dot := strings.IndexByte(v, '.')
	if dot <= 0 || dot == len(v)-1 || strings.Trim(v[:dot], "0123456789") != "" || strings.Trim(v[dot+1:], "0") != "" {
		return v
	}
	return v[:dot]
}

// mangled says whether a key looks like a number Excel has converted: E-notation or a
// decimal separator between digits.
func mangled(v string) bool {
	if v == "" {
		return false
	}
	upper := strings.ToUpper(v)
	if i := strings.Index(upper, "E+"); i > 0 && strings.Trim(upper[:i], "0123456789.,") == "" {
		return true
	}
	if strings.ContainsAny(v, ".,") && strings.Trim(v, "0123456789.,") == "" {
		return true
	}
	return false
}

// textKey normalises a free-form key (an ERP customer number), kept as typed: trimmed,
// a whole number written with a zero fraction taken as that number; a number Excel has
// mangled (E-notation, a fraction, more digits than a number keeps) is refused like a
// Nutzerfremdnummer.
func textKey(c sheet.Cell) (key, code, msg string) {
	v := wholeNumber(strings.TrimSpace(c.Value))
	if c.Kind == sheet.Number && (mangled(v) || strings.Trim(v, "0123456789") == "" && rounded(v)) {
		return "", "key_not_text", "Der Schlüssel wurde von Excel als Zahl gespeichert und dabei verändert. Bitte formatieren Sie die Spalte als Text."
	}
	return v, "", ""
}

// email checks and normalises an address: trimmed, one address of the form
// text@text.text, domain lower-cased. Empty is allowed and returns "".
func email(c sheet.Cell) (addr string, ok bool) {
	v := strings.TrimSpace(c.Value)
	if v == "" {
		return "", true
	}
	at := strings.LastIndexByte(v, '@')
	if at <= 0 || at == len(v)-1 || strings.IndexByte(v, '@') != at {
		return v, false
	}
	local, domain := v[:at], strings.ToLower(v[at+1:])
	if strings.ContainsAny(v, " \t\r\n,;<>()[]\\\"") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") ||
		strings.Contains(domain, "..") || !strings.Contains(domain, ".") || strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") {
		return v, false
	}
	return local + "@" + domain, true
}

// text is an optional free-text cell: trimmed; empty is NULL (leave the stored value).
// A number cell written with a zero fraction is the whole number.
func text(c sheet.Cell) any {
	v := strings.TrimSpace(c.Value)
	if c.Kind == sheet.Number {
		v = wholeNumber(v)
	}
	if v == "" {
		return nil
	}
	return v
}

// numberText is text for the columns that hold numbers typed as text (zip): a zero
// fraction is dropped whatever the cell's type, as CSV exports of pandas write it.
func numberText(c sheet.Cell) any {
	return text(sheet.Cell{Kind: sheet.Number, Value: c.Value})
}
