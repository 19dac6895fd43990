package api

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestBodyLimit sends bodies over and at the limit, with and without a declared length
// (chunked): too large answers 413 with a JSON error naming the limit, and the starter is
// not called.
func TestBodyLimit(t *testing.T) {
	h, fake := newTestAPI(t, nil)
	ts := httptest.NewServer(h)
	defer ts.Close()
	// A JSON object that is valid so far, so that only the size can refuse it.
	body := func(size int) string {
		prefix := `{"ars":"`
		return prefix + strings.Repeat("0", size-len(prefix)-2) + `"}`
	}
	for _, tc := range []struct {
		name    string
		size    int
		chunked bool
		status  int
	}{
		{"declared length over the limit", maxBody + 1, false, http.StatusRequestEntityTooLarge},
		{"chunked over the limit", maxBody + 1, true, http.StatusRequestEntityTooLarge},
		{"far over the limit, chunked", 8 * maxBody, true, http.StatusRequestEntityTooLarge},
		{"at the limit", maxBody, false, http.StatusCreated},
		{"at the limit, chunked", maxBody, true, http.StatusCreated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := fake.calls.Load()
			var r io.Reader = bytes.NewReader([]byte(body(tc.size)))
			if tc.chunked {
				r = io.MultiReader(r) // hides the length: the client sends it chunked
			}
			req, err := http.NewRequest("POST", ts.URL+"/api/v1/rollins", r)
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+pmToken)
			resp, err := ts.Client().Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			if tc.status != http.StatusRequestEntityTooLarge {
				require.Equal(t, tc.status, resp.StatusCode)
				require.Equal(t, before+1, fake.calls.Load())
				return
			}
			requireJSONError(t, resp, tc.status, fmt.Sprintf("limit of %d bytes", maxBody))
			require.Equal(t, before, fake.calls.Load(), "the handler does not act on a cut body")
		})
	}
}

// TestWrongTypeNamesTheField: a value of the wrong JSON type is refused naming the field
// and what it should be, not a Go struct, and the starter is not called.
func TestWrongTypeNamesTheField(t *testing.T) {
	h, fake := newTestAPI(t, nil)
	ts := httptest.NewServer(h)
	defer ts.Close()
	for body, want := range map[string]string{
		`{"action":"cancel","action_id":"a","reason":1}`:       "reason: want a string, not a number",
		`{"action":"cancel","action_id":["a"],"reason":"r"}`:   "action_id: want a string, not a list",
		`{"action":"cancel","action_id":"a","unknown":"r"}`:    `request body: unknown field "unknown"`,
		`{"action":"cancel","action_id":"a","data":"nothing"}`: "",
	} {
		before := fake.calls.Load()
		req, err := http.NewRequest("POST", ts.URL+"/api/v1/rollins/055150000000/99107023037000/actions", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+pmToken)
		resp, err := ts.Client().Do(req)
		require.NoError(t, err)
		if want == "" { // data is any JSON value here; the workflow judges it
			require.Equal(t, http.StatusOK, resp.StatusCode, body)
			resp.Body.Close()
			continue
		}
		requireJSONError(t, resp, http.StatusBadRequest, want)
		resp.Body.Close()
		require.Equal(t, before, fake.calls.Load(), body)
	}
}
