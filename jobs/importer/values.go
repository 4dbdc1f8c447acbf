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

// nutzerfremdnummer normalises a 20-digit key: spaces removed, 1 to 20 digits padded with
// leading zeros. It returns an error code and message when the value cannot be a key.
func nutzerfremdnummer(c sheet.Cell) (key, code, msg string) {
	v := strings.Join(strings.Fields(c.Value), "")
	if mangled(v) {
		return "", "key_not_text", "Die Nutzerfremdnummer wurde von Excel als Zahl gespeichert und dabei verändert. Bitte formatieren Sie die Spalte als Text und geben Sie die Nummer mit allen Ziffern (auch führenden Nullen) ein."
	}
	if v == "" || len(v) > keyDigits || strings.Trim(v, "0123456789") != "" {
		return "", "invalid_key", fmt.Sprintf("Die Nutzerfremdnummer muss aus 1 bis %d Ziffern bestehen.", keyDigits)
	}
	return strings.Repeat("0", keyDigits-len(v)) + v, "", ""
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

// textKey normalises a free-form key (an ERP customer number): trimmed; a number Excel
// has mangled is refused like a Nutzerfremdnummer.
func textKey(c sheet.Cell) (key, code, msg string) {
	v := strings.TrimSpace(c.Value)
	if c.Kind == sheet.Number && mangled(v) {
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
func text(c sheet.Cell) any {
	v := strings.TrimSpace(c.Value)
	if v == "" {
		return nil
	}
	return v
}
