package templates

import (
	"io/fs"
	"strings"
	"testing"
)

// Every default meter-request template must carry the #URL# placeholder, as a tenant's
// own template must.
func TestMeterRequestTemplatesHaveURL(t *testing.T) {
	for _, lang := range []string{"de", "en"} {
		b, err := fs.ReadFile(FS, "mail/meter-request."+lang+".html")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "#URL#") {
			t.Errorf("%s template lacks #URL#", lang)
		}
	}
}
