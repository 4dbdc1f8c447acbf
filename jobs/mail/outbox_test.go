package mail

import (
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// part is one decoded text body of a message.
type part struct {
	contentType string
	body        string
}

// readEML parses an .eml file and returns its headers and text parts.
func readEML(t *testing.T, path string) (netmail.Header, []part) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := netmail.ReadMessage(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	mediaType, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("%s: Content-Type: %v", path, err)
	}
	if !strings.HasPrefix(mediaType, "multipart/") {
		return m.Header, []part{{mediaType, readPart(t, m.Body, m.Header.Get("Content-Transfer-Encoding"))}}
	}
	if mediaType != "multipart/alternative" {
		t.Fatalf("%s: Content-Type %s, want multipart/alternative", path, mediaType)
	}
	var parts []part
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		// multipart.Part decodes quoted-printable itself.
		parts = append(parts, part{ct, readPart(t, p, "")})
	}
	return m.Header, parts
}

func readPart(t *testing.T, r io.Reader, cte string) string {
	t.Helper()
	if strings.EqualFold(cte, "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimRight(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
}

func TestOutboxWritesEMLFiles(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "var", "outbox")
	s, err := New("file://"+filepath.ToSlash(dir), "Portalwerk <noreply@portalwerk.local>", discard)
	if err != nil {
		t.Fatal(err)
	}
	msgs := []Message{
		{To: "anna@example.org", Subject: "Einladung zur Eigentümerversammlung", Text: "Hallo Anna,\nbitte kommen Sie.", HTML: "<p>Hallo Anna, <b>bitte</b> kommen Sie.</p>", ID: "job-7/anna@example.org"},
		{To: "Jörg Müller <joerg@example.org>", Subject: "Zählerstand ablesen", Text: "Grüße, Ihre Verwaltung", ID: "job-7/joerg@example.org"},
		{To: "otto@example.org", Subject: "plain ASCII", Text: "no id"},
		{To: "not an address", Subject: "x", Text: "x"},
	}
	errs, err := s.Send(t.Context(), msgs)
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil || errs[1] != nil || errs[2] != nil || errs[3] == nil {
		t.Fatalf("per-message errors = %v, want only the last one", errs)
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 3 {
		t.Fatalf("outbox holds %q, want 3 .eml files and nothing else", names)
	}
	slices.Sort(names) // unix-nano prefix: sorted = written order
	for i, name := range names {
		if !strings.HasSuffix(name, ".eml") {
			t.Errorf("unexpected file %q", name)
		}
		want := msgs[i]
		if want.ID != "" && !strings.HasSuffix(name, "-job-7_"+strings.TrimPrefix(want.ID, "job-7/")+".eml") {
			t.Errorf("file %q does not carry sanitised id %q", name, want.ID)
		}

		h, parts := readEML(t, filepath.Join(dir, name))
		wantTo, _ := netmail.ParseAddress(want.To)
		to, err := h.AddressList("To")
		if err != nil || len(to) != 1 || to[0].Address != wantTo.Address || to[0].Name != wantTo.Name {
			t.Errorf("%s: To = %v (%v), want %v", name, to, err, wantTo)
		}
		subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
		if err != nil || subject != want.Subject {
			t.Errorf("%s: Subject = %q (%v), want %q", name, subject, err, want.Subject)
		}
		if h.Get("Date") == "" || !strings.HasSuffix(h.Get("Message-ID"), "@portalwerk.local>") {
			t.Errorf("%s: Date %q, Message-ID %q", name, h.Get("Date"), h.Get("Message-ID"))
		}
		if got := h.Get("X-Portalwerk-Message-ID"); got != want.ID {
			t.Errorf("%s: X-Portalwerk-Message-ID = %q, want %q", name, got, want.ID)
		}

		wantParts := []part{{"text/plain", want.Text}}
		if want.HTML != "" {
			wantParts = append(wantParts, part{"text/html", want.HTML})
		}
		if !slices.Equal(parts, wantParts) {
			t.Errorf("%s: parts = %q, want %q", name, parts, wantParts)
		}
	}
}

func TestFileTag(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]string{
		"job-1/max@example.de":     "job-1_max@example.de",
		"../../etc/passwd":         ".._.._etc_passwd",
		"Müller\r\nBcc: x":         "M_ller__Bcc__x",
		strings.Repeat("a", 300):   strings.Repeat("a", maxIDLen),
		"invite.2024-05+resident7": "invite.2024-05+resident7",
	} {
		if got := fileTag(id); got != want {
			t.Errorf("fileTag(%q) = %q, want %q", id, got, want)
		}
	}
	if a, b := fileTag(""), fileTag(""); a == "" || a == b {
		t.Errorf("fileTag(\"\") = %q, %q; want distinct random tags", a, b)
	}
}
