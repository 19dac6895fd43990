package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rollin-efa/rollin/domain"
)

// Session is one sign-in to the web pages. It lives in the database rather than in the
// cookie alone, so that signing out, or an operator ending a token's sessions, ends it on
// every `rollin serve` replica at once.
type Session struct {
	// ID is the random value the cookie carries; the table keeps only its SHA-256.
	ID           string
	Name         string
	Role         domain.Role
	ARS          string
	Organisation string
	// Via is how the person signed in: "token" or "oidc".
	Via string
	// Token is the fingerprint of the token a token session was signed in with.
	Token string
	// CSRF is the synchronizer token every form of the session repeats.
	CSRF    string
	Created time.Time
	Expires time.Time
}

// sessionKey is what the table keeps of a session ID.
func sessionKey(id string) []byte {
	sum := sha256.Sum256([]byte(id))
	return sum[:]
}

// CreateSession stores s and, in passing, deletes the sessions that expired before
// s.Created, so that the table holds about one working day of sign-ins without a
// separate clean-up job.
func (s *Store) CreateSession(ctx context.Context, sess Session) error {
	switch {
	case len(sess.ID) < 16:
		return fmt.Errorf("store: create session: ID too short: %w", ErrInvalid)
	case !sess.Expires.After(sess.Created):
		return fmt.Errorf("store: create session of %s: expires before it starts: %w", sess.Name, ErrInvalid)
	}
	if _, err := s.pool.Exec(ctx, deleteExpiredSessionsSQL, sess.Created); err != nil {
		return fmt.Errorf("store: delete expired sessions: %w", err)
	}
	_, err := s.pool.Exec(ctx, createSessionSQL, sessionKey(sess.ID), sess.Name, string(sess.Role), sess.ARS,
		sess.Organisation, sess.Via, sess.Token, sess.CSRF, sess.Created, sess.Expires)
	if err != nil {
		return fmt.Errorf("store: create session of %s: %w", sess.Name, err)
	}
	return nil
}

// Session returns the session of id, or an error wrapping ErrNotFound when there is none
// (signed out, ended by an operator, cleaned up). Whether it has expired is the caller's
// to check against its clock.
func (s *Store) Session(ctx context.Context, id string) (Session, error) {
	sess := Session{ID: id}
	var role string
	err := s.pool.QueryRow(ctx, sessionSQL, sessionKey(id)).Scan(&sess.Name, &role, &sess.ARS, &sess.Organisation,
		&sess.Via, &sess.Token, &sess.CSRF, &sess.Created, &sess.Expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, fmt.Errorf("store: session: %w", ErrNotFound)
	}
	if err != nil {
		return Session{}, fmt.Errorf("store: session: %w", err)
	}
	sess.Role = domain.Role(role)
	sess.Created, sess.Expires = sess.Created.UTC(), sess.Expires.UTC()
	return sess, nil
}

// DeleteSession ends the session of id (sign-out). Ending one that is gone already is no
// error.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if _, err := s.pool.Exec(ctx, deleteSessionSQL, sessionKey(id)); err != nil {
		return fmt.Errorf("store: delete session: %w", err)
	}
	return nil
}

// EndSessions ends every session signed in under name (a token's name, or a person's
// name from the identity provider) and returns how many there were. A non-nil org limits
// it to the sessions of that organisation, so that an operator ends only their own
// organisation's.
func (s *Store) EndSessions(ctx context.Context, name string, org *domain.Organisation) (int64, error) {
	var orgArg *string
	if org != nil {
		o := string(*org)
		orgArg = &o
	}
	tag, err := s.pool.Exec(ctx, endSessionsSQL, name, orgArg)
	if err != nil {
		return 0, fmt.Errorf("store: end sessions of %s: %w", name, err)
	}
	return tag.RowsAffected(), nil
}
