// Package login mints and opens the login tokens mailed in portal links, and hashes and
// checks portal passwords. A token is sealed with XChaCha20-Poly1305 under one of the
// LOGIN_KEYS; its key id travels in clear so keys can rotate: the first key seals, every
// listed key opens what it sealed, and a removed key's tokens no longer open.
//
// Every failure to open a token is ErrInvalid, whatever the cause, so the portal answers
// all of them with the same page.
package login

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"portalwerk/jobs/config"
)

// Purpose is what a token may be used for; a token opens only for its own purpose.
type Purpose string

// Purposes.
const (
	PurposeInvite     Purpose = "invite"      // set a password (invitation, forgotten password)
	PurposeMeterEntry Purpose = "meter-entry" // enter meter readings
)

var purposeCodes = map[Purpose]byte{PurposeInvite: 1, PurposeMeterEntry: 2}

// Claims are what a token holds.
type Claims struct {
	Tenant   int64
	Identity int64
	Customer int64
	Purpose  Purpose
	Expires  time.Time // second precision
	TokenID  string    // uuid; the token's row in login_tokens
}

// ErrInvalid is every reason a token does not open: malformed, tampered, unknown or
// removed key, expired, other purpose.
var ErrInvalid = errors.New("login: invalid token")

// version is the first byte of the sealed claims.
const version = 1

// plainLen is the size of the sealed claims: version, purpose, tenant, identity,
// customer, expiry, token id.
const plainLen = 1 + 1 + 8 + 8 + 8 + 8 + 16

// maxTokenLen bounds what Open looks at: a key id and the base64 of nonce, claims, tag.
const maxTokenLen = 64 + 1 + (chacha20poly1305.NonceSizeX+plainLen+chacha20poly1305.Overhead)*4/3 + 4

var b64 = base64.RawURLEncoding

const urlAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// Keys seal and open tokens.
type Keys struct {
	signer string
	aeads  map[string]cipher.AEAD
}

// NewKeys takes LOGIN_KEYS as parsed by config; the first key seals.
func NewKeys(keys []config.LoginKey) (*Keys, error) {
	if len(keys) == 0 {
		return nil, errors.New("login: LOGIN_KEYS is empty; login links need at least one key (openssl rand -base64 32)")
	}
	k := &Keys{signer: keys[0].ID, aeads: map[string]cipher.AEAD{}}
	for _, key := range keys {
		aead, err := chacha20poly1305.NewX(key.Secret[:])
		if err != nil {
			return nil, fmt.Errorf("login: key %s: %w", key.ID, err)
		}
		k.aeads[key.ID] = aead
	}
	return k, nil
}

// NewTokenID returns a fresh random token id (a uuid).
func NewTokenID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func tokenIDBytes(id string) ([16]byte, bool) {
	var b [16]byte
	raw := strings.ReplaceAll(id, "-", "")
	if len(id) != 36 || len(raw) != 32 {
		return b, false
	}
	if _, err := hex.Decode(b[:], []byte(raw)); err != nil {
		return b, false
	}
	return b, true
}

func formatTokenID(b []byte) string {
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Seal returns the token for c: `kid.base64url(nonce|ciphertext)`, only
// [A-Za-z0-9._~-].
func (k *Keys) Seal(c Claims) (string, error) {
	code, ok := purposeCodes[c.Purpose]
	if !ok {
		return "", fmt.Errorf("login: unknown purpose %q", c.Purpose)
	}
	id, ok := tokenIDBytes(c.TokenID)
	if !ok {
		return "", fmt.Errorf("login: token id %q is not a uuid", c.TokenID)
	}
	plain := make([]byte, 0, plainLen)
	plain = append(plain, version, code)
	plain = binary.BigEndian.AppendUint64(plain, uint64(c.Tenant))
	plain = binary.BigEndian.AppendUint64(plain, uint64(c.Identity))
	plain = binary.BigEndian.AppendUint64(plain, uint64(c.Customer))
	plain = binary.BigEndian.AppendUint64(plain, uint64(c.Expires.Unix()))
	plain = append(plain, id[:]...)
	aead := k.aeads[k.signer]
	out := make([]byte, chacha20poly1305.NonceSizeX, chacha20poly1305.NonceSizeX+plainLen+aead.Overhead())
	rand.Read(out)
	// The key id is authenticated too: a token cannot be relabelled to another key.
	out = aead.Seal(out, out, plain, []byte(k.signer))
	return k.signer + "." + b64.EncodeToString(out), nil
}

// Open checks token and returns its claims when it was sealed by a listed key, is not
// tampered with, has not expired at now and was made for purpose (any of them when
// several are given). Anything else is ErrInvalid.
func (k *Keys) Open(token string, now time.Time, purposes ...Purpose) (Claims, error) {
	if len(token) > maxTokenLen {
		return Claims{}, ErrInvalid
	}
	kid, body, ok := strings.Cut(token, ".")
	if !ok {
		return Claims{}, ErrInvalid
	}
	aead, ok := k.aeads[kid]
	if !ok {
		return Claims{}, ErrInvalid
	}
	// encoding/base64 skips CR and LF; a token holds the URL alphabet and nothing else.
	if strings.Trim(body, urlAlphabet) != "" {
		return Claims{}, ErrInvalid
	}
	raw, err := b64.DecodeString(body)
	if err != nil || len(raw) != chacha20poly1305.NonceSizeX+plainLen+aead.Overhead() {
		return Claims{}, ErrInvalid
	}
	nonce, sealed := raw[:chacha20poly1305.NonceSizeX], raw[chacha20poly1305.NonceSizeX:]
	plain, err := aead.Open(nil, nonce, sealed, []byte(kid))
	if err != nil || len(plain) != plainLen || plain[0] != version {
		return Claims{}, ErrInvalid
	}
	c := Claims{
		Tenant:   int64(binary.BigEndian.Uint64(plain[2:])),
		Identity: int64(binary.BigEndian.Uint64(plain[10:])),
		Customer: int64(binary.BigEndian.Uint64(plain[18:])),
		Expires:  time.Unix(int64(binary.BigEndian.Uint64(plain[26:])), 0).UTC(),
		TokenID:  formatTokenID(plain[34:50]),
	}
	for p, code := range purposeCodes {
		if code == plain[1] {
			c.Purpose = p
		}
	}
	if c.Purpose == "" || !now.Before(c.Expires) {
		return Claims{}, ErrInvalid
	}
	if len(purposes) > 0 {
		allowed := false
		for _, p := range purposes {
			allowed = allowed || p == c.Purpose
		}
		if !allowed {
			return Claims{}, ErrInvalid
		}
	}
	return c, nil
}
