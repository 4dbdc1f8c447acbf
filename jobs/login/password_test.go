package login

import (
	"strings"
	"testing"
)

func TestPasswordHashAndVerify(t *testing.T) {
	h := HashPassword("Sonnenblume-42")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q: want PHC argon2id with the README's parameters", h)
	}
	if !VerifyPassword(h, "Sonnenblume-42") {
		t.Error("the right password does not verify")
	}
	for _, bad := range []string{"sonnenblume-42", "Sonnenblume-4", ""} {
		if VerifyPassword(h, bad) {
			t.Errorf("%q verifies", bad)
		}
	}
	if HashPassword("Sonnenblume-42") == h {
		t.Error("two hashes of one password are equal: no salt")
	}
	for _, broken := range []string{"", "plain", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", "$argon2id$v=19$m=999999999,t=2,p=1$c2FsdA$aGFzaA",
		strings.Replace(h, "$v=19$", "$v=18$", 1)} {
		if VerifyPassword(broken, "Sonnenblume-42") {
			t.Errorf("malformed hash %q verifies", broken)
		}
	}
}

func TestPasswordProblem(t *testing.T) {
	for _, tc := range []struct{ pw, confirm, want string }{
		{"kurz", "kurz", "mindestens 10 Zeichen"},
		{"ÄÖÜäöüßéèê", "ÄÖÜäöüßéèê", ""}, // 10 characters, 20 bytes
		{"ÄÖÜäöüßéè", "ÄÖÜäöüßéè", "mindestens 10 Zeichen"},
		{"lang-genug-123", "lang-genug-124", "stimmen nicht überein"},
		{"Anna.Muster@Example.de", "Anna.Muster@Example.de", "E-Mail-Adresse"},
		{"K-100200300", "K-100200300", "Login-ID"},
		{"ein gutes Passwort", "ein gutes Passwort", ""},
	} {
		got := PasswordProblem(tc.pw, tc.confirm, "anna.muster@example.de", "k-100200300")
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("PasswordProblem(%q, %q) = %q, want %q", tc.pw, tc.confirm, got, tc.want)
		}
	}
}

// The English sentences name the same reasons, and the rules are the same.
func TestPasswordProblemInEnglish(t *testing.T) {
	for _, tc := range []struct{ pw, confirm, want string }{
		{"kurz", "kurz", "at least 10 characters"},
		{"lang-genug-123", "lang-genug-124", "do not match"},
		{"Anna.Muster@Example.de", "Anna.Muster@Example.de", "e-mail address"},
		{"K-100200300", "K-100200300", "login ID"},
		{"ein gutes Passwort", "ein gutes Passwort", ""},
	} {
		got := PasswordProblemIn("en", tc.pw, tc.confirm, "anna.muster@example.de", "k-100200300")
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("PasswordProblemIn(en, %q, %q) = %q, want %q", tc.pw, tc.confirm, got, tc.want)
		}
	}
}
