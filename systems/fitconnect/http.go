package fitconnect

import (
	"errors"
	"strings"

	"github.com/rollin-efa/rollin/systems"
)

// redact replaces every secret in s; empty secrets are skipped.
func redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, redacted)
		}
	}
	return s
}

// redactErr keeps err (and what it wraps) unless its text contains a secret; then only
// the scrubbed text survives, because a secret in an error would end up in logs and in
// Temporal's history.
func redactErr(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := redact(msg, secrets...); clean != msg {
		return errors.New(clean)
	}
	return err
}

// scrub removes every secret from the texts of err, a *systems.Error (its cause and its
// problem's title and detail), and returns err; other errors, nil included, pass
// unchanged. A server might quote a secret it was sent, e.g. in a validation problem.
func scrub(err error, secrets ...string) error {
	var se *systems.Error
	if !errors.As(err, &se) {
		return err
	}
	se.Err = redactErr(se.Err, secrets...)
	if se.Problem != nil {
		se.Problem.Title = redact(se.Problem.Title, secrets...)
		se.Problem.Detail = redact(se.Problem.Detail, secrets...)
	}
	return err
}
