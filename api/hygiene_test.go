package api

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/starter"
	"github.com/rollin-efa/rollin/store"
)

// pgError is what pgx reports when PostgreSQL refuses a value; it names the encoding, the
// SQLSTATE and, in other errors, tables, constraints and hosts.
const pgError = `ERROR: invalid byte sequence for encoding "UTF8": 0x00 (SQLSTATE 22021)`

// failingStarter fails List as a starter does when the database fails, and Audit with
// an error that is not a refusal at all.
type failingStarter struct{ fakeStarter }

func (f *failingStarter) List(context.Context, starter.Principal, store.RunFilter) ([]domain.RunStatus, string, error) {
	return nil, "", &starter.Error{Kind: starter.KindUnavailable, Msg: "list roll-ins", Err: errors.New(pgError)}
}

func (f *failingStarter) Audit(context.Context, starter.Principal, string, string) ([]domain.AuditEvent, error) {
	return nil, errors.New("store: load audit: " + pgError)
}

// TestDatabaseErrorsStayInTheLog: a failing backing system answers 503 (an unexpected
// error 500) with a short message of the API's own; the database's text goes to the log
// only.
func TestDatabaseErrorsStayInTheLog(t *testing.T) {
	core, logs := observer.New(zap.ErrorLevel)
	srv := New(&failingStarter{}, testTokens(), func(context.Context) error { return nil }, zap.New(core))
	h := protectWith(srv, nil)
	for _, tc := range []struct {
		path   string
		status int
		want   string
	}{
		{"/api/v1/rollins", http.StatusServiceUnavailable, "list roll-ins: a backing system (database or Temporal) did not answer; try again shortly"},
		{"/api/v1/rollins/055150000000/99107023037000/audit", http.StatusInternalServerError, "internal error; the server's log has the detail"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			rec := call(t, h, "GET", tc.path, pmToken, "")
			require.NotContains(t, rec.Body.String(), "SQLSTATE")
			require.NotContains(t, rec.Body.String(), "UTF8")
			requireJSONError(t, rec.Result(), tc.status, tc.want)
		})
	}
	require.Equal(t, 2, logs.Len())
	for _, e := range logs.All() {
		require.Contains(t, e.ContextMap()["error"], "SQLSTATE 22021", "the detail is logged")
	}
}

// TestInvalidUTF8NamesTheField: encoding/json would replace invalid UTF-8 with U+FFFD;
// the API refuses it instead, naming the field, before the starter is called.
func TestInvalidUTF8NamesTheField(t *testing.T) {
	h, fake := newTestAPI(t, nil)
	for _, tc := range []struct{ body, want string }{
		{"{\"action\":\"sign-agreement\",\"action_id\":\"x\",\"reason\":\"a\xffb\"}", "reason: not valid UTF-8"},
		{"{\"action\":\"submit-connection-data\",\"action_id\":\"x\",\"data\":{\"note\":\"\xc3\"}}", "data.note: not valid UTF-8"},
		{"{\"action\":\"x\",\"action_id\":\"x\",\"r\xffeason\":\"\"}", "r\ufffdeason: not valid UTF-8"},
	} {
		before := fake.calls.Load()
		rec := call(t, h, "POST", "/api/v1/rollins/055150000000/99107023037000/actions", pmToken, tc.body)
		requireJSONError(t, rec.Result(), http.StatusBadRequest, tc.want)
		require.Equal(t, before, fake.calls.Load())
	}
}
