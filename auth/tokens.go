// Package auth turns credentials into the starter's Principal: API tokens (for the JSON
// API, the CLI and the sign-in page of small installations) and OpenID Connect ID tokens
// (for the web pages of installations with an identity provider). It decides who a caller
// is, never what they may do: that is the starter's role matrix.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/rollin-efa/rollin/config"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/starter"
)

// Tokens is the set of configured API tokens, kept as SHA-256 digests so that the process
// holds no token it was given only by hash.
type Tokens struct {
	entries []tokenEntry
}

type tokenEntry struct {
	hash      [sha256.Size]byte
	principal starter.Principal
}

// NewTokens builds the set from auth.tokens. An entry whose digest is malformed is
// skipped and returned in skipped (config.Validate refuses those at start-up; the caller
// logs what slips through rather than failing open).
func NewTokens(tokens []config.Token) (set *Tokens, skipped []error) {
	set = &Tokens{}
	for _, t := range tokens {
		digest, err := t.Digest()
		if err != nil {
			skipped = append(skipped, fmt.Errorf("token %q: %w", t.Name, err))
			continue
		}
		set.entries = append(set.entries, tokenEntry{hash: digest, principal: starter.Principal{
			Name: t.Name, Role: t.Role, ARS: domain.ARS(strings.TrimSpace(t.ARS)), Organisation: domain.Organisation(t.Organisation),
		}})
	}
	return set, skipped
}

// Lookup returns whom token stands for. Surrounding blanks are ignored, and a blank token
// matches nothing (not even a configured digest of the empty string). Every entry is
// compared in constant time, so the answer's timing does not tell how close a guess was.
func (s *Tokens) Lookup(token string) (starter.Principal, bool) {
	token = strings.TrimSpace(token)
	if token == "" || s == nil {
		return starter.Principal{}, false
	}
	got := sha256.Sum256([]byte(token))
	var found *starter.Principal
	for i := range s.entries {
		if subtle.ConstantTimeCompare(got[:], s.entries[i].hash[:]) == 1 {
			found = &s.entries[i].principal
		}
	}
	if found == nil {
		return starter.Principal{}, false
	}
	return *found, true
}

// Fingerprint identifies the token a session was signed in with, without revealing it:
// a web session keeps it, so that the session ends when its token is replaced.
func Fingerprint(token string) string {
	return fingerprint(sha256.Sum256([]byte(strings.TrimSpace(token))))
}

func fingerprint(digest [sha256.Size]byte) string {
	sum := sha256.Sum256(append([]byte("rollin-session\x00"), digest[:]...))
	return hex.EncodeToString(sum[:12])
}

// Still returns the principal of a web session signed in with the token of fingerprint,
// while that token is configured: a session ends when its token leaves the configuration
// or gets a new secret, and it carries the principal as configured now.
func (s *Tokens) Still(fp string) (starter.Principal, bool) {
	if s == nil || fp == "" {
		return starter.Principal{}, false
	}
	for _, e := range s.entries {
		if subtle.ConstantTimeCompare([]byte(fingerprint(e.hash)), []byte(fp)) == 1 {
			return e.principal, true
		}
	}
	return starter.Principal{}, false
}
