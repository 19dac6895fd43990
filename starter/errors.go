package starter

import (
	"errors"
	"fmt"
)

// Kind classifies why the starter refused a request, so that the API can answer with the
// right status code and the CLI with the right message without parsing error text.
type Kind int

// The kinds of refusal.
const (
	KindInvalid     Kind = iota + 1 // malformed input (HTTP 400)
	KindForbidden                   // the principal's role may not do this (HTTP 403)
	KindNotFound                    // no such run, service or municipality, or not visible to the principal (HTTP 404)
	KindConflict                    // not allowed in the run's current state (HTTP 409)
	KindUnavailable                 // a backing system (Temporal, PostgreSQL) did not answer (HTTP 503)
)

// Error is a refusal with a message meant for the user: it names the problem.
type Error struct {
	Kind Kind
	Msg  string
	Err  error
	// pending marks an action that was sent and is not yet recorded (see IsPending).
	pending bool
}

// IsPending reports whether err is Act's answer for an action that was sent, and
// perhaps applied, but not yet recorded within process.action_wait: not a failure to
// repeat with a new action ID, but one to look at again (or repeat with the same ID).
func IsPending(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.pending
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of err, or 0 when err is not a refusal (an internal error).
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

func refuse(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}
