package login

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"portalwerk/jobs/config"
)

func key(id string, b byte) config.LoginKey {
	k := config.LoginKey{ID: id}
	for i := range k.Secret {
		k.Secret[i] = b + byte(i)
	}
	return k
}

func mustKeys(t testing.TB, keys ...config.LoginKey) *Keys {
	t.Helper()
	k, err := NewKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var now = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func claims() Claims {
	return Claims{Tenant: 7, Identity: 42, Customer: 1234567, Purpose: PurposeInvite,
		Expires: now.Add(time.Hour).UTC(), TokenID: NewTokenID()}
}

func seal(t testing.TB, k *Keys, c Claims) string {
	t.Helper()
	tok, err := k.Seal(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestTokenRoundTripAndAlphabet(t *testing.T) {
	k := mustKeys(t, key("k2", 1))
	c := claims()
	tok := seal(t, k, c)
	if !regexp.MustCompile(`^k2\.[A-Za-z0-9_-]+$`).MatchString(tok) {
		t.Errorf("token %q: want kid.base64url without padding", tok)
	}
	got, err := k.Open(tok, now, PurposeInvite)
	if err != nil {
		t.Fatal(err)
	}
	if got != c {
		t.Errorf("opened %+v, want %+v", got, c)
	}
	if tok2 := seal(t, k, c); tok2 == tok {
		t.Error("two seals of the same claims are equal: the nonce is not random")
	}
}

// The first key seals; an older listed key still opens its tokens; once it is removed
// they are refused.
func TestTokenKeyRotation(t *testing.T) {
	old := mustKeys(t, key("k1", 1))
	oldTok := seal(t, old, claims())

	rotated := mustKeys(t, key("k2", 2), key("k1", 1))
	if _, err := rotated.Open(oldTok, now); err != nil {
		t.Errorf("token of the older, still listed key: %v", err)
	}
	newTok := seal(t, rotated, claims())
	if !strings.HasPrefix(newTok, "k2.") {
		t.Errorf("new token %q not sealed by the first key", newTok)
	}
	if _, err := old.Open(newTok, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("a process without the new key opened its token: %v", err)
	}

	removed := mustKeys(t, key("k2", 2))
	if _, err := removed.Open(oldTok, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("token of a removed key: %v", err)
	}
	// A key listed under the old id but with other bytes does not open it either.
	replaced := mustKeys(t, key("k1", 9))
	if _, err := replaced.Open(oldTok, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("token under a replaced key: %v", err)
	}
}

func TestTokenRefusals(t *testing.T) {
	k := mustKeys(t, key("k1", 1), key("k0", 5))
	c := claims()
	tok := seal(t, k, c)
	kid, body, _ := strings.Cut(tok, ".")

	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	cases := map[string]string{
		"empty":              "",
		"no dot":             kid + body,
		"unknown kid":        "zz." + body,
		"relabelled kid":     "k0." + body,
		"nonce tampered":     kid + "." + flip(body, 3),
		"claims tampered":    kid + "." + flip(body, 40),
		"tag tampered":       kid + "." + flip(body, len(body)-2),
		"truncated":          kid + "." + body[:len(body)-4],
		"extended":           tok + "AAAA",
		"padding":            tok + "=",
		"std base64":         kid + "." + strings.NewReplacer("-", "+", "_", "/").Replace(body) + "+/",
		"huge":               kid + "." + strings.Repeat("A", 10000),
		"two dots":           tok + ".x",
		"only kid and a dot": kid + ".",
	}
	for name, bad := range cases {
		if _, err := k.Open(bad, now); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Open = %v, want ErrInvalid", name, err)
		}
	}

	// Expired: valid until the second of its expiry, not at it.
	if _, err := k.Open(tok, c.Expires.Add(-time.Second)); err != nil {
		t.Errorf("just before expiry: %v", err)
	}
	for _, at := range []time.Time{c.Expires, c.Expires.Add(24 * time.Hour)} {
		if _, err := k.Open(tok, at); !errors.Is(err, ErrInvalid) {
			t.Errorf("expired at %v: %v", at, err)
		}
	}

	// Other purpose: an invitation does not open the meter pages, nor the other way round.
	if _, err := k.Open(tok, now, PurposeMeterEntry); !errors.Is(err, ErrInvalid) {
		t.Errorf("invite token opened for meter-entry: %v", err)
	}
	c.Purpose = PurposeMeterEntry
	meter := seal(t, k, c)
	if _, err := k.Open(meter, now, PurposeInvite); !errors.Is(err, ErrInvalid) {
		t.Errorf("meter-entry token opened for invite: %v", err)
	}
	if got, err := k.Open(meter, now, PurposeInvite, PurposeMeterEntry); err != nil || got.Purpose != PurposeMeterEntry {
		t.Errorf("meter-entry token where both are allowed: %+v %v", got, err)
	}
}

func TestSealRefusesBadClaims(t *testing.T) {
	k := mustKeys(t, key("k1", 1))
	c := claims()
	c.Purpose = "admin"
	if _, err := k.Seal(c); err == nil {
		t.Error("sealed an unknown purpose")
	}
	c = claims()
	c.TokenID = "not-a-uuid"
	if _, err := k.Seal(c); err == nil {
		t.Error("sealed a token id that is no uuid")
	}
	if _, err := NewKeys(nil); err == nil || !strings.Contains(err.Error(), "LOGIN_KEYS") {
		t.Errorf("NewKeys(nil) = %v, want an error naming LOGIN_KEYS", err)
	}
}

// FuzzOpen: whatever the input, Open never panics, and what it accepts carries claims
// sealed with this key (the fuzzing processes each seal their own seed token, so the
// claims are compared without the random token id) in the canonical encoding.
func FuzzOpen(f *testing.F) {
	k := mustKeys(f, key("k1", 1), key("k0", 5))
	c := claims()
	tok, _ := k.Seal(c)
	f.Add(tok)
	f.Add("")
	f.Add("k1.")
	f.Add("k1.AAAA")
	f.Add("." + tok)
	f.Add(strings.Replace(tok, "k1.", "k0.", 1))
	f.Fuzz(func(t *testing.T, s string) {
		got, err := k.Open(s, now)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Open(%q) = %v, want ErrInvalid", s, err)
			}
			return
		}
		kid, body, _ := strings.Cut(s, ".")
		raw, _ := b64.DecodeString(body)
		if kid != "k1" || b64.EncodeToString(raw) != body {
			t.Fatalf("Open accepted %q, which is not a canonical token of key k1", s)
		}
		got.TokenID = c.TokenID
		if got != c {
			t.Fatalf("claims %+v, want %+v", got, c)
		}
	})
}
