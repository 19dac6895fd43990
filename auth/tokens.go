// Package auth turns credentials into the starter's Principal: API tokens (for the JSON
// API, the CLI and the sign-in page of small installations) and OpenID Connect ID tokens
// (for the web pages of installations with an identity provider). It decides who a caller
// is, never what they may do: that is the starter's role matrix.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/starter"
	"github.com/rollin-efa/rollin/textrule"
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

// Token is one configured API token (auth.tokens) and whom it stands for. It gives either
// the token itself or, so that the configuration does not hold it, its SHA-256
// (TokenSHA256).
type Token struct {
	Name  string
	Role  domain.Role
	Token string
	// TokenSHA256 is the SHA-256 of the token in hex (printf %s "$TOKEN" | sha256sum).
	TokenSHA256 string
	// ARS scopes a municipality token to its own municipality.
	ARS string
	// Organisation scopes a pm or operator token to its organisation's runs, campaigns
	// and services (e.g. d-nrw); empty is the installation's own.
	Organisation string
}

// Digest is the SHA-256 of the token: TokenSHA256 decoded, or computed from Token. The
// set compares requests against digests only, so with TokenSHA256 the process never
// holds the token itself.
func (t Token) Digest() ([sha256.Size]byte, error) {
	var d [sha256.Size]byte
	switch {
	case t.Token != "" && t.TokenSHA256 != "":
		return d, errors.New("give token or token_sha256, not both")
	case t.Token != "":
		return sha256.Sum256([]byte(t.Token)), nil
	case t.TokenSHA256 == "":
		return d, errors.New("give token or token_sha256")
	}
	raw, err := hex.DecodeString(strings.TrimSpace(t.TokenSHA256))
	if err != nil || len(raw) != sha256.Size {
		return d, fmt.Errorf("want %d hex characters, the SHA-256 of the token (printf %%s \"$TOKEN\" | sha256sum)", 2*sha256.Size)
	}
	copy(d[:], raw)
	return d, nil
}

// EntryError is a bad entry of a token list. Index and Field (name, role, token,
// token_sha256, ars or organisation) locate it, so that the caller can name the
// configuration key, e.g. auth.tokens[2].ars.
type EntryError struct {
	Index int
	Field string
	Msg   string
}

func (e *EntryError) Error() string { return fmt.Sprintf("token %d, %s: %s", e.Index, e.Field, e.Msg) }

// maxNameLength bounds a token's name, which the audit log shows as the actor.
const maxNameLength = 100

// NewTokens checks the entries and builds the set. A bad entry — no name, a name or token
// used twice, an unknown role, a short token, a malformed digest, a municipality without
// its ARS or with an organisation — is an *EntryError: a process must not start with a
// token list it would half apply.
func NewTokens(tokens []Token) (*Tokens, error) {
	set := &Tokens{}
	names, digests := map[string]bool{}, map[[sha256.Size]byte]bool{}
	for i, t := range tokens {
		bad := func(field, msg string) error { return &EntryError{Index: i, Field: field, Msg: msg} }
		secret := "token"
		if t.TokenSHA256 != "" {
			secret = "token_sha256"
		}
		digest, digestErr := t.Digest()
		switch {
		case t.Name == "":
			return nil, bad("name", "must not be empty")
		case names[t.Name]:
			return nil, bad("name", fmt.Sprintf("%q is used twice", t.Name))
		case textrule.Line("name", t.Name, maxNameLength) != nil:
			// The name stands in every audit entry of the token's holder.
			return nil, bad("name", textrule.Line("name", t.Name, maxNameLength).Error())
		case !t.Role.Valid():
			return nil, bad("role", fmt.Sprintf("%q is not pm, operator or municipality", t.Role))
		case t.TokenSHA256 == "" && len(t.Token) < 16:
			return nil, bad("token", "must be at least 16 characters (or give its SHA-256 as token_sha256)")
		case digestErr != nil:
			return nil, bad(secret, digestErr.Error())
		case digests[digest]:
			return nil, bad(secret, "is used twice (the same token as an earlier entry)")
		}
		ars := domain.ARS("")
		if t.Role == domain.RoleMunicipality {
			parsed, err := domain.ParseARS(t.ARS)
			if err != nil {
				return nil, bad("ars", "a municipality token needs its 12-digit ARS (quote it in YAML, e.g. ars: \"055150000000\", or the leading zero is lost): "+err.Error())
			}
			if t.Organisation != "" {
				return nil, bad("organisation", "municipality tokens are scoped by their ARS, not by an organisation")
			}
			ars = parsed
		} else if t.ARS != "" {
			return nil, bad("ars", "only municipality tokens are scoped to an ARS")
		}
		org, err := domain.ParseOrganisation(t.Organisation)
		if err != nil {
			return nil, bad("organisation", err.Error())
		}
		names[t.Name], digests[digest] = true, true
		set.entries = append(set.entries, tokenEntry{hash: digest, principal: starter.Principal{
			Name: t.Name, Role: t.Role, ARS: ars, Organisation: org,
		}})
	}
	return set, nil
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
