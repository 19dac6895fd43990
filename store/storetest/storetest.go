// Package storetest gives tests their own throw-away PostgreSQL database, so that tests
// touching the store can run in parallel without seeing each other's rows.
//
// It fails the test when PostgreSQL is unreachable instead of skipping it: a CI run
// without a database must turn red, not silently green.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the environment variable holding the URL of the server's maintenance
// database on which test databases are created and dropped.
const EnvURL = "ROLLIN_TEST_DATABASE_URL"

// DefaultURL is used when EnvURL is unset; it matches the development machines
// (PostgreSQL on localhost with trust authentication).
const DefaultURL = "postgres://postgres@localhost:5432/postgres?sslmode=disable"

// NewDatabase creates a database with a fresh random name (rollin_test_<hex>) on the test
// server, drops it again (WITH (FORCE), so open pools do not block) when the test ends,
// and returns its URL for store.Open.
func NewDatabase(t testing.TB) string {
	t.Helper()
	adminURL := AdminURL()
	u, err := url.Parse(adminURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("storetest: %s=%q: want a postgres:// URL", EnvURL, redact(adminURL))
	}

	name := "rollin_test_" + randomHex(t, 8)
	exec(t, adminURL, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	t.Cleanup(func() {
		exec(t, adminURL, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})

	dbURL := *u
	dbURL.Path = "/" + name
	dbURL.RawPath = ""
	return dbURL.String()
}

// AdminURL returns the URL of the test server's maintenance database: EnvURL if set,
// DefaultURL otherwise. Tests that need to look at the server itself use it.
func AdminURL() string {
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return DefaultURL
}

// exec runs one statement on the maintenance database with a fresh connection; a failure
// to connect gets a message saying how to fix it.
func exec(t testing.TB, adminURL, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatalf("storetest: PostgreSQL is unreachable at %s: %v\n"+
			"Store tests need a running PostgreSQL 15 server (trust auth); start one or set %s.",
			redact(adminURL), err, EnvURL)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("storetest: %s: %v", sql, err)
	}
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("storetest: random database name: %v", err)
	}
	return hex.EncodeToString(b)
}

// redact hides a password in u so that it does not end up in CI logs.
func redact(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		if i := strings.LastIndex(u, "@"); i >= 0 {
			return "…" + u[i:]
		}
		return u
	}
	return parsed.Redacted()
}
