package systems

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/textrule"
)

// newTestClient serves h on a test server and returns a client for it.
func newTestClient(t *testing.T, h http.HandlerFunc, hc *http.Client) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := NewClient("test", srv.URL+"/api/", hc)
	require.NoError(t, err)
	return c
}

func TestNewClient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		base    string
		wantErr bool
	}{
		{"http://127.0.0.1:8080", false},
		{"https://routing-api-testing.fit-connect.fitko.dev/v1/", false},
		{"ftp://example.org", true},
		{"localhost:8080", true},
		{"/relative", true},
		{"http://", true},
		{"http://example.org/?x=1", true},
		{"http://example.org/?", true},
		{"http://example.org/#frag", true},
		{"http://[::1", true},
	}
	for _, tt := range tests {
		t.Run(tt.base, func(t *testing.T) {
			t.Parallel()
			_, err := NewClient("test", tt.base, nil)
			if tt.wantErr {
				require.ErrorContains(t, err, "test: base URL")
				return
			}
			require.NoError(t, err)
		})
	}
}

func TestNewClientTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		hc   *http.Client
		want time.Duration
	}{
		{"nil client", nil, DefaultTimeout},
		{"client timeout", &http.Client{Timeout: time.Second}, time.Second},
		{"client without timeout still gets one", &http.Client{}, DefaultTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := NewClient("test", "http://example.org", tt.hc)
			require.NoError(t, err)
			require.Equal(t, tt.want, c.timeout)
		})
	}
}

func TestDoSendsJSONAndKey(t *testing.T) {
	t.Parallel()
	type in struct {
		Name string `json:"name"`
	}
	type out struct {
		ID string `json:"id"`
	}
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, http.MethodPost, r.Method)
		assert.Equal(t, "/api/v1/things/a%2Fb", r.URL.EscapedPath())
		assert.Equal(t, "x=1", r.URL.RawQuery)
		assert.Equal(t, "key-1", r.Header.Get("Idempotency-Key"))
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
		body, err := io.ReadAll(r.Body)
		assert.NoError(t, err)
		assert.JSONEq(t, `{"name":"Münster"}`, string(body))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id":"t-1","extra":true}`))
	}, nil)

	var got out
	err := c.Do(t.Context(), Request{
		Op: "create thing", Method: http.MethodPost, Path: "/v1/things/a%2Fb",
		Query: map[string][]string{"x": {"1"}}, IdempotencyKey: "key-1", Body: in{Name: "Münster"},
	}, &got)
	require.NoError(t, err)
	require.Equal(t, "t-1", got.ID)
}

func TestDoSendsExtraHeaders(t *testing.T) {
	t.Parallel()
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "Bearer tok", r.Header.Get("Authorization"))
		// The plumbing's own headers win over extra ones.
		assert.Equal(t, "key-1", r.Header.Get("Idempotency-Key"))
		assert.Equal(t, []string{"application/json, application/problem+json"}, r.Header.Values("Accept"))
		w.WriteHeader(http.StatusNoContent)
	}, nil)
	err := c.Do(t.Context(), Request{
		Op: "op", Method: http.MethodPost, Path: "/x", IdempotencyKey: "key-1",
		Header: http.Header{"Authorization": {"Bearer tok"}, "Idempotency-Key": {"other"}, "Accept": {"text/plain"}},
	}, nil)
	require.NoError(t, err)
}

func TestSendPreparedRequest(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "application/x-www-form-urlencoded", r.Header.Get("Content-Type"))
		w.Header().Set("Retry-After", "3")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte("slow down"))
	}))
	t.Cleanup(srv.Close)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/token", strings.NewReader("a=b"))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, data, err := Send("test", "fetch", nil, req)
	require.NoError(t, err)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	e := StatusError("test", "fetch", resp, data)
	require.True(t, e.Retryable)
	require.Equal(t, 3*time.Second, e.RetryAfter)
	require.EqualError(t, e, "test: fetch: HTTP 429: slow down (retry after 3s)")

	srv.Close()
	req, err = http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	_, _, err = Send("test", "fetch", &http.Client{Timeout: time.Second}, req)
	var se *Error
	require.ErrorAs(t, err, &se)
	require.True(t, se.Retryable)
	require.Zero(t, se.Status)
}

func TestDoStatusMapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		status        int
		contentType   string
		body          string
		header        map[string]string
		wantRetryable bool
		wantProblem   *Problem
		wantRetry     time.Duration
		wantText      string
	}{
		{name: "400 problem", status: 400, contentType: "application/problem+json",
			body:        `{"type":"urn:p:invalid","title":"Bad Request","status":400,"detail":"ars: required"}`,
			wantProblem: &Problem{Type: "urn:p:invalid", Title: "Bad Request", Status: 400, Detail: "ars: required"}},
		{name: "404 problem with charset", status: 404, contentType: "application/problem+json; charset=utf-8",
			body:        `{"title":"Not Found","status":404}`,
			wantProblem: &Problem{Title: "Not Found", Status: 404}},
		{name: "409 plain", status: 409, contentType: "text/plain", body: "conflict", wantText: "conflict"},
		{name: "422 empty body", status: 422, wantText: "Unprocessable Entity"},
		{name: "408", status: 408, wantRetryable: true, wantText: "Request Timeout"},
		{name: "429 retry-after", status: 429, header: map[string]string{"Retry-After": "7"},
			wantRetryable: true, wantRetry: 7 * time.Second, wantText: "Too Many Requests"},
		{name: "429 ratelimit-reset", status: 429, header: map[string]string{"RateLimit-Reset": "3"},
			contentType: "application/json", body: `{}`,
			wantRetryable: true, wantRetry: 3 * time.Second, wantText: "{}"},
		{name: "500 problem", status: 500, contentType: "application/problem+json",
			body: `{"title":"Internal Server Error","status":500}`, wantRetryable: true,
			wantProblem: &Problem{Title: "Internal Server Error", Status: 500}},
		{name: "502 html", status: 502, contentType: "text/html", body: "<h1>Bad Gateway</h1>",
			wantRetryable: true, wantText: "<h1>Bad Gateway</h1>"},
		{name: "503 retry-after", status: 503, header: map[string]string{"Retry-After": "2"},
			wantRetryable: true, wantRetry: 2 * time.Second, wantText: "Service Unavailable"},
		{name: "500 no retry-after", status: 500, header: map[string]string{"Retry-After": "2"},
			wantRetryable: true, wantText: "Internal Server Error"},
		{name: "broken problem", status: 400, contentType: "application/problem+json", body: "{",
			wantText: "{"},
		// Another system's error body reaches last_error, the audit log and Temporal's
		// history: NUL, invalid bytes and control characters are cleaned, never refused.
		{name: "500 hostile text", status: 500, contentType: "text/plain", body: "kaputt\x00\xff\xfe\x1b[0m ende",
			wantRetryable: true, wantText: "kaputt\uFFFD[0m ende"},
		{name: "400 hostile problem", status: 400, contentType: "application/problem+json",
			body:        `{"title":"Bad\u0000Request","status":400,"detail":"ars: \u001b` + "\xff" + `"}`,
			wantProblem: &Problem{Title: "BadRequest", Status: 400, Detail: "ars: \uFFFD"}},
		{name: "500 long text cut on a rune", status: 500, contentType: "text/plain", body: strings.Repeat("ü", 1000),
			wantRetryable: true, wantText: strings.Repeat("ü", maxBodyText-len([]rune(textrule.Truncated))) + textrule.Truncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newTestClient(t, func(w http.ResponseWriter, _ *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				if tt.contentType != "" {
					w.Header().Set("Content-Type", tt.contentType)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}, nil)

			err := c.Do(t.Context(), Request{Op: "op", Method: http.MethodGet, Path: "/x"}, nil)
			var e *Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, "test", e.System)
			require.Equal(t, "op", e.Op)
			require.Equal(t, tt.status, e.Status)
			require.Equal(t, tt.wantRetryable, e.Retryable)
			require.Equal(t, tt.wantRetryable, IsRetryable(err))
			require.Equal(t, tt.wantProblem, e.Problem)
			require.Equal(t, tt.wantRetry, e.RetryAfter)
			if tt.wantText != "" {
				require.EqualError(t, e.Err, tt.wantText)
			} else {
				require.NoError(t, e.Err)
			}
		})
	}
}

func TestDoRequiresIdempotencyKey(t *testing.T) {
	t.Parallel()
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			c := newTestClient(t, func(http.ResponseWriter, *http.Request) {
				t.Error("request must not be sent without an idempotency key")
			}, nil)
			err := c.Do(t.Context(), Request{Op: "op", Method: method, Path: "/x", Body: map[string]string{}}, nil)
			var e *Error
			require.ErrorAs(t, err, &e)
			require.False(t, e.Retryable)
			require.Zero(t, e.Status)
			require.Contains(t, err.Error(), "idempotency key")
		})
	}
}

func TestDoTimeoutsAndCancellation(t *testing.T) {
	t.Parallel()
	slow := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	}
	tests := []struct {
		name          string
		hc            *http.Client
		ctx           func(t *testing.T) context.Context
		wantRetryable bool
		wantIs        error
	}{
		{
			name:          "per-call timeout of the http client",
			hc:            &http.Client{Timeout: 50 * time.Millisecond},
			ctx:           func(t *testing.T) context.Context { return t.Context() },
			wantRetryable: true,
		},
		{
			name: "caller cancelled",
			hc:   nil,
			ctx: func(t *testing.T) context.Context {
				ctx, cancel := context.WithCancel(t.Context())
				time.AfterFunc(50*time.Millisecond, cancel)
				return ctx
			},
			wantRetryable: false,
			wantIs:        context.Canceled,
		},
		{
			name: "caller deadline",
			hc:   nil,
			ctx: func(t *testing.T) context.Context {
				ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
				t.Cleanup(cancel)
				return ctx
			},
			wantRetryable: false,
			wantIs:        context.DeadlineExceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newTestClient(t, slow, tt.hc)
			start := time.Now()
			err := c.Do(tt.ctx(t), Request{Op: "op", Method: http.MethodGet, Path: "/slow"}, nil)
			require.Less(t, time.Since(start), time.Second)
			var e *Error
			require.ErrorAs(t, err, &e)
			require.Zero(t, e.Status)
			require.Equal(t, tt.wantRetryable, IsRetryable(err), "error: %v", err)
			if tt.wantIs != nil {
				require.ErrorIs(t, err, tt.wantIs)
			}
		})
	}
}

func TestDoContextTimeoutWithoutClientTimeout(t *testing.T) {
	t.Parallel()
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, &http.Client{})
	c.timeout = 50 * time.Millisecond // what DefaultTimeout does, shortened
	err := c.Do(t.Context(), Request{Op: "op", Method: http.MethodGet, Path: "/x"}, nil)
	require.True(t, IsRetryable(err), "error: %v", err)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestDoConnectionRefused(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c, err := NewClient("test", url, nil)
	require.NoError(t, err)
	err = c.Do(t.Context(), Request{Op: "op", Method: http.MethodPost, Path: "/x", IdempotencyKey: "k"}, nil)
	var e *Error
	require.ErrorAs(t, err, &e)
	require.True(t, e.Retryable)
	require.Zero(t, e.Status)
}

func TestDoBadSuccessBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
	}{
		{"not json", "<html>"},
		{"wrong shape", `{"id": 42}`},
		{"too large", `"` + strings.Repeat("x", maxResponseBody) + `"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newTestClient(t, func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write([]byte(tt.body))
			}, nil)
			var out struct {
				ID string `json:"id"`
			}
			err := c.Do(t.Context(), Request{Op: "op", Method: http.MethodGet, Path: "/x"}, &out)
			var e *Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, http.StatusOK, e.Status)
			require.False(t, e.Retryable)
		})
	}
}

func TestDoEmptySuccessBody(t *testing.T) {
	t.Parallel()
	c := newTestClient(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }, nil)
	var out map[string]any
	require.NoError(t, c.Do(t.Context(), Request{Op: "op", Method: http.MethodDelete, Path: "/x", IdempotencyKey: "k"}, &out))
	require.Nil(t, out)
}

func TestDoUnencodableBody(t *testing.T) {
	t.Parallel()
	c := newTestClient(t, func(http.ResponseWriter, *http.Request) { t.Error("must not be sent") }, nil)
	err := c.Do(t.Context(), Request{Op: "op", Method: http.MethodPost, Path: "/x", IdempotencyKey: "k",
		Body: map[string]any{"f": func() {}}}, nil)
	var e *Error
	require.ErrorAs(t, err, &e)
	require.False(t, e.Retryable)
	var jsonErr *json.UnsupportedTypeError
	require.True(t, errors.As(err, &jsonErr))
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header map[string]string
		want   time.Duration
	}{
		{"none", nil, 0},
		{"seconds", map[string]string{"Retry-After": "120"}, 2 * time.Minute},
		{"http date", map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, 90 * time.Second},
		{"date in the past", map[string]string{"Retry-After": now.Add(-time.Hour).Format(http.TimeFormat)}, 0},
		{"negative", map[string]string{"Retry-After": "-5"}, 0},
		{"garbage", map[string]string{"Retry-After": "soon"}, 0},
		{"ratelimit delta", map[string]string{"RateLimit-Reset": "30"}, 30 * time.Second},
		{"ratelimit unix time", map[string]string{"RateLimit-Reset": "1772366445"}, 45 * time.Second},
		{"retry-after wins", map[string]string{"Retry-After": "5", "RateLimit-Reset": "30"}, 5 * time.Second},
		{"garbage retry-after falls back", map[string]string{"Retry-After": "x", "RateLimit-Reset": "30"}, 30 * time.Second},
		{"capped at a day", map[string]string{"Retry-After": "999999999"}, 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			for k, v := range tt.header {
				h.Set(k, v)
			}
			require.Equal(t, tt.want, parseRetryAfter(h, now))
		})
	}
}
