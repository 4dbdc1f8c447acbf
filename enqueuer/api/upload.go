package api

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"portalwerk/jobs/importer"
	"portalwerk/store"
)

// Bounds of an upload's form besides the file.
const (
	maxFields     = 32       // form fields other than the file
	maxFieldBytes = 64 << 10 // one field's value
	maxNameBytes  = 255      // a stored file name
	// answerWithin is the write deadline an upload gets once its body is in: time to
	// store the file and answer, however long the body took to arrive.
	answerWithin = 2 * time.Minute
)

// spool is an upload read off the wire before any database work: its fields in memory,
// its file in an unlinked temp file that goes with Close.
type spool struct {
	fields   map[string]string
	filename string
	file     *os.File
	size     int64
}

// Close removes the spooled file.
func (sp *spool) Close() error {
	if sp.file == nil {
		return nil
	}
	return sp.file.Close()
}

// spoolUpload reads the whole multipart body, closing boundary included, holding no
// database connection: a slow client costs a goroutine and a file, nothing of the pool.
// The body must keep up cfg.MinUploadRate once cfg.UploadGrace has passed; every refusal
// is an *Error and leaves nothing behind.
func (s *Server) spoolUpload(w http.ResponseWriter, r *http.Request) (_ *spool, err error) {
	fieldBudget := int64(maxFields) * (maxFieldBytes + 4<<10)
	body := &rateReader{r: http.MaxBytesReader(w, r.Body, s.cfg.UploadMaxBytes+fieldBudget+1<<20),
		rc: http.NewResponseController(w), min: s.cfg.MinUploadRate, window: s.cfg.UploadGrace, start: time.Now()}
	body.samples = []sample{{at: body.start}}
	defer func() {
		// The body is in, or given up: time to answer. Given up, refuseUpload decides
		// what of the rest is still read; in, only the server's own read for a closed
		// connection is left.
		_ = body.rc.SetWriteDeadline(time.Now().Add(answerWithin))
		if err == nil {
			_ = body.rc.SetReadDeadline(time.Time{})
		}
	}()
	// A copy reads the body through the rate check; r.Body stays the raw body for the
	// drain of a refusal.
	rr := *r
	rr.Body = io.NopCloser(body)
	mr, err := rr.MultipartReader()
	if err != nil {
		return nil, BadRequest("Bitte senden Sie die Datei als multipart/form-data im Feld „file“.")
	}
	sp := &spool{fields: map[string]string{}}
	defer func() {
		if err != nil {
			sp.Close()
		}
	}()
	fieldCount := 0
	for n := 1; ; n++ {
		part, err := mr.NextPart()
		if err == io.EOF { // exactly io.EOF: the closing boundary; a body cut off wraps io.EOF
			break
		}
		if err != nil {
			return nil, s.bodyError(err, fmt.Sprintf("Der Kopf des %d. Formularteils ist ungültig (Steuerzeichen, Nullbytes oder kein UTF-8).", n))
		}
		for key, values := range part.Header {
			if key == "Content-Disposition" {
				continue // its field name is checked below, its file name cleaned
			}
			for _, v := range values {
				if !cleanText(v) {
					return nil, BadRequest(fmt.Sprintf("Der Kopf „%s“ des %d. Formularteils enthält ungültige Zeichen (Steuerzeichen oder kein UTF-8).", key, n))
				}
			}
		}
		name := part.FormName()
		switch {
		case name == "file":
			if sp.file != nil {
				return nil, BadRequest("Bitte laden Sie genau eine Datei hoch (nur ein Feld „file“).")
			}
			sp.filename = cleanFilename(part.FileName())
			if sp.file, err = os.CreateTemp("", "portalwerk-upload-*"); err != nil { // O_EXCL, mode 0600
				return nil, fmt.Errorf("spool upload: %w", err)
			}
			// Unlinked at once: the file lives only as long as this request holds it open,
			// whatever happens to the request or the process.
			if err := os.Remove(sp.file.Name()); err != nil {
				return nil, fmt.Errorf("spool upload: %w", err)
			}
			sp.size, err = io.Copy(sp.file, io.LimitReader(part, s.cfg.UploadMaxBytes+1))
			if err != nil {
				return nil, s.bodyError(err, "")
			}
			if sp.size > s.cfg.UploadMaxBytes {
				return nil, s.tooLarge()
			}
		case !cleanText(name) || name == "":
			return nil, BadRequest(fmt.Sprintf("Der %d. Formularteil hat keinen gültigen Feldnamen (Steuerzeichen oder kein UTF-8).", n))
		case name != "profile" && name != "account" && !importer.IsOption(name):
			return nil, BadRequest("Unbekanntes Feld „" + name + "“: erlaubt sind file, profile, account und die Optionen des Profils.")
		default:
			if fieldCount++; fieldCount > maxFields {
				return nil, BadRequest(fmt.Sprintf("Die Anfrage hat zu viele Felder: erlaubt sind höchstens %d neben der Datei.", maxFields))
			}
			b, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
			if err != nil {
				return nil, s.bodyError(err, "")
			}
			if len(b) > maxFieldBytes {
				return nil, BadRequest("Das Feld „" + name + "“ ist zu lang: erlaubt sind höchstens 64 KiB.")
			}
			if !cleanText(string(b)) {
				return nil, BadRequest("Das Feld „" + name + "“ enthält ungültige Zeichen (Nullbytes, Steuerzeichen oder kein UTF-8).")
			}
			sp.fields[name] = string(b) // a field sent twice counts twice; the last one holds
		}
	}
	if sp.file == nil {
		return nil, BadRequest("Das Feld „file“ mit der Datei fehlt.")
	}
	if _, err := sp.file.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("spool upload: %w", err)
	}
	return sp, nil
}

// A refused upload is answered at once and the rest of its body read and thrown away
// for at most drainWithin and drainMax: the client is usually still sending, and a
// socket closed with unread data resets the connection, which makes the client's kernel
// drop the answer it has not read yet ("connection reset" instead of "too large").
const (
	drainWithin = 2 * time.Second
	drainMax    = 64 << 20
)

// refuseUpload answers an upload refused before its body was in, then closes the
// connection. A client too slow, or one that went away, is cut off at once; any other
// refusal is answered while its body is drained, bounded as above, so what a client
// may still send after a refusal costs the same whatever it claims.
func (s *Server) refuseUpload(w http.ResponseWriter, r *http.Request, caller store.Account, err error) error {
	rc := http.NewResponseController(w)
	w.Header().Set("Connection", "close")
	var e *Error
	if !errors.As(err, &e) || e.Status == http.StatusRequestTimeout {
		_ = rc.SetReadDeadline(time.Now())
		return err
	}
	// Without full duplex net/http would stop reading the body once the answer is out.
	// Errors mean the connection does not need it (HTTP/2) or takes no deadlines (a test
	// recorder): the answer is the same.
	_ = rc.EnableFullDuplex()
	s.writeError(w, r, caller, err)
	_ = rc.Flush()
	_ = rc.SetReadDeadline(time.Now().Add(drainWithin))
	_, _ = io.CopyN(io.Discard, r.Body, drainMax)
	_ = rc.SetReadDeadline(time.Now())
	return nil
}

// bodyError turns a failed read of the body into the answer: too slow, too large, cut
// off or malformed (header, when not empty, says what of it was malformed).
func (s *Server) bodyError(err error, header string) error {
	var mb *http.MaxBytesError
	switch {
	case errors.Is(err, errTooSlow):
		return &Error{http.StatusRequestTimeout, "Die Datei kam zu langsam an: verlangt sind mindestens " +
			readableBytes(s.cfg.MinUploadRate) + " je Sekunde (gemittelt über " + strconv.Itoa(int(s.cfg.UploadGrace/time.Second)) + " s). Bitte laden Sie sie erneut hoch."}
	case errors.As(err, &mb):
		return s.tooLarge()
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return BadRequest("Die Anfrage endet vor der abschließenden Grenze (boundary) des multipart/form-data: nichts wurde gespeichert.")
	case header != "" && strings.Contains(err.Error(), "malformed MIME header"):
		return BadRequest(header)
	case strings.Contains(err.Error(), "multipart"):
		return BadRequest("Die Anfrage ist kein gültiges multipart/form-data: nichts wurde gespeichert.")
	}
	return fmt.Errorf("read upload: %w", err) // the client went away, or our disk
}

func (s *Server) tooLarge() *Error {
	return &Error{http.StatusRequestEntityTooLarge, "Die Datei ist zu groß: erlaubt sind höchstens " + readableBytes(s.cfg.UploadMaxBytes) + "."}
}

// errTooSlow ends an upload that stays below the minimum rate.
var errTooSlow = errors.New("upload below the minimum rate")

// rateReader reads the body of an upload, moving the connection's read deadline on as
// bytes arrive, and fails with errTooSlow once the rate averaged over the last window
// falls below min (not before the first window has passed) or nothing arrives for a
// whole window.
type rateReader struct {
	r       io.Reader
	rc      *http.ResponseController
	min     int64 // bytes per second
	window  time.Duration
	start   time.Time
	total   int64
	samples []sample // oldest first; the first is at or before now-window once that long has passed
}

type sample struct {
	at    time.Time
	total int64
}

func (rr *rateReader) Read(p []byte) (int, error) {
	// Errors mean the connection takes no deadlines (a test recorder); nothing to move then.
	_ = rr.rc.SetReadDeadline(time.Now().Add(rr.window))
	n, err := rr.r.Read(p)
	if err != nil && isTimeout(err) {
		return n, errTooSlow
	}
	now := time.Now()
	rr.total += int64(n)
	if last := rr.samples[len(rr.samples)-1]; now.Sub(last.at) >= rr.window/16 {
		rr.samples = append(rr.samples, sample{now, rr.total})
	}
	for len(rr.samples) > 1 && !rr.samples[1].at.After(now.Add(-rr.window)) {
		rr.samples = rr.samples[1:]
	}
	if now.Sub(rr.start) >= rr.window {
		first := rr.samples[0]
		if secs := now.Sub(first.at).Seconds(); secs > 0 && float64(rr.total-first.total)/secs < float64(rr.min) {
			return n, errTooSlow
		}
	}
	return n, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// cleanFilename keeps a file name's printable characters: no directories, no invalid
// UTF-8, no control characters or ANSI escape sequences, no bidi controls; at most 255
// bytes, cut on a character boundary and keeping a short extension.
func cleanFilename(name string) string {
	name = name[strings.LastIndexAny(name, `/\`)+1:]
	var b strings.Builder
	for i := 0; i < len(name); {
		r, size := utf8.DecodeRuneInString(name[i:])
		switch {
		case r == 0x1b: // ESC: drop the whole escape sequence
			i += escapeLen(name[i:])
			continue
		case r == utf8.RuneError && size == 1, unicode.IsControl(r), bidiControl(r):
		default:
			b.WriteRune(r)
		}
		i += size
	}
	name = strings.TrimSpace(b.String())
	if len(name) > maxNameBytes {
		ext := filepath.Ext(name)
		if len(ext) > 16 {
			ext = ""
		}
		stem := name[:len(name)-len(ext)]
		cut := maxNameBytes - len(ext)
		for cut > 0 && !utf8.RuneStart(stem[cut]) {
			cut--
		}
		name = stem[:cut] + ext
	}
	if name == "" || name == "." || name == ".." {
		return "upload"
	}
	return name
}

// escapeLen is the length of the ANSI escape sequence s starts with: CSI (ESC [ …
// final byte), OSC (ESC ] … BEL or ESC \) or ESC and one more character.
func escapeLen(s string) int {
	if len(s) < 2 {
		return len(s)
	}
	switch s[1] {
	case '[':
		for i := 2; i < len(s); i++ {
			if s[i] >= 0x40 && s[i] <= 0x7e {
				return i + 1
			}
		}
		return len(s)
	case ']':
		for i := 2; i < len(s); i++ {
			if s[i] == 0x07 {
				return i + 1
			}
			if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '\\' {
				return i + 2
			}
		}
		return len(s)
	}
	_, size := utf8.DecodeRuneInString(s[1:])
	return 1 + size
}

// bidiControl says whether r reorders text: the embeddings and overrides U+202A–U+202E,
// the isolates U+2066–U+2069 and the marks U+200E/U+200F.
func bidiControl(r rune) bool {
	return r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 || r == 0x200e || r == 0x200f
}
