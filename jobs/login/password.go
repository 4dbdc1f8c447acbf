package login

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters (OWASP's recommendation: 19 MiB, 2 passes, 1 lane), the same as
// the customers import uses; Verify reads them from the stored hash, so they may rise.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
)

// MinPasswordLen is the shortest password the portal accepts, in characters.
const MinPasswordLen = 10

// HashPassword returns an argon2id hash of pw in the PHC string format.
func HashPassword(pw string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	sum := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		enc.EncodeToString(salt), enc.EncodeToString(sum))
}

// VerifyPassword says whether pw matches hash (a PHC argon2id string). A malformed hash
// matches nothing.
func VerifyPassword(hash, pw string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var v int
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || m > 1<<20 || t == 0 || t > 16 || p == 0 {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || len(want) > 64 {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is verified against when there is no hash to check, so that an unknown
// address costs as much time as a known one.
var dummyHash = sync.OnceValue(func() string { return HashPassword("portalwerk-timing-equaliser") })

// BurnPasswordCheck spends the time of one password check.
func BurnPasswordCheck(pw string) { VerifyPassword(dummyHash(), pw) }

// PasswordProblem returns why pw is refused as a portal password, as a German sentence,
// or "" when it is fine. email and loginID are the person's own (either may be empty).
func PasswordProblem(pw, confirm, email, loginID string) string {
	return PasswordProblemIn("de", pw, confirm, email, loginID)
}

// PasswordProblemIn is PasswordProblem in lang: English for "en", else German.
func PasswordProblemIn(lang, pw, confirm, email, loginID string) string {
	say := func(de, en string) string {
		if lang == "en" {
			return en
		}
		return de
	}
	switch {
	case utf8.RuneCountInString(pw) < MinPasswordLen:
		return fmt.Sprintf(say("Das Passwort muss mindestens %d Zeichen lang sein.", "The password must be at least %d characters long."), MinPasswordLen)
	case pw != confirm:
		return say("Die beiden Passwörter stimmen nicht überein.", "The two passwords do not match.")
	case email != "" && strings.EqualFold(strings.TrimSpace(pw), strings.TrimSpace(email)):
		return say("Das Passwort darf nicht Ihre E-Mail-Adresse sein.", "The password must not be your e-mail address.")
	case loginID != "" && strings.EqualFold(strings.TrimSpace(pw), strings.TrimSpace(loginID)):
		return say("Das Passwort darf nicht Ihre Login-ID sein.", "The password must not be your login ID.")
	}
	return ""
}
