package devsim

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"

	"github.com/rollin-efa/rollin/config"
	"github.com/rollin-efa/rollin/domain"
)

// TokensFile is where rollin-dev keeps the tokens it generated, inside the data dir.
const TokensFile = "tokens.yaml"

// Tokens returns the configured tokens or, when auth.tokens is empty, development tokens
// for each role (the municipality token scoped to municipalityARS). Generated tokens are
// kept in the data dir, readable by the owner only, so they stay the same across restarts.
// generated reports whether the tokens came from that file; the caller checks them as it
// checks auth.tokens, and a file that fails is best deleted to generate new ones.
func Tokens(cfg config.Config, municipalityARS string) (tokens []config.Token, generated bool, err error) {
	if len(cfg.Auth.Tokens) > 0 {
		return cfg.Auth.Tokens, false, nil
	}
	path := filepath.Join(cfg.DataDir, TokensFile)
	raw, err := os.ReadFile(path) // #nosec G304 -- data_dir is the operator's own configuration; the file name is a constant
	switch {
	case err == nil:
		// Strictly, like the configuration file: a misspelt key must not quietly widen or
		// drop a token's scope.
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		dec.KnownFields(true)
		if err := dec.Decode(&tokens); err != nil || len(tokens) == 0 {
			if err == nil {
				err = errors.New("no tokens in it")
			}
			return nil, false, fmt.Errorf("read %s: %w (delete it to generate new tokens)", path, err)
		}
		return tokens, true, nil
	case !errors.Is(err, os.ErrNotExist):
		return nil, false, fmt.Errorf("read %s: %w", path, err)
	}
	tokens = []config.Token{
		{Name: "projektleitung", Role: string(domain.RolePM), Token: randomToken()},
		{Name: "betrieb", Role: string(domain.RoleOperator), Token: randomToken()},
		{Name: "kommune", Role: string(domain.RoleMunicipality), Token: randomToken(), ARS: municipalityARS},
	}
	out, err := yaml.Marshal(tokens)
	if err != nil {
		return nil, false, fmt.Errorf("encode tokens: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, false, fmt.Errorf("create data_dir %s: %w", cfg.DataDir, err)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		return nil, false, fmt.Errorf("write %s: %w", path, err)
	}
	return tokens, true, nil
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
