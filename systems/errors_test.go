package systems

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestErrorMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{
			name: "problem",
			err: &Error{System: "provider", Op: "create tenant", Status: 503,
				Problem: &Problem{Title: "Service Unavailable", Detail: "maintenance"}},
			want: "provider: create tenant: HTTP 503: Service Unavailable: maintenance",
		},
		{
			name: "plain body",
			err:  &Error{System: "state", Op: "get routes", Status: 502, Err: errors.New("Bad Gateway")},
			want: "state: get routes: HTTP 502: Bad Gateway",
		},
		{
			name: "transport",
			err:  &Error{System: "municipality", Op: "notify", Err: errors.New("connection refused")},
			want: "municipality: notify: connection refused",
		},
		{
			name: "retry after",
			err: &Error{System: "state", Op: "get routes", Status: 429, RetryAfter: 3 * time.Second,
				Problem: &Problem{Title: "Too Many Requests"}},
			want: "state: get routes: HTTP 429: Too Many Requests (retry after 3s)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, tt.err.Error())
		})
	}
}

func TestProblemString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{Title: "Bad Request", Detail: "ars: required"}, "Bad Request: ars: required"},
		{Problem{Title: "Bad Request"}, "Bad Request"},
		{Problem{Detail: "ars: required"}, "ars: required"},
		{Problem{Type: "urn:x"}, "urn:x"},
		{Problem{}, "unspecified problem"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, tt.p.String())
	}
}

func TestIsRetryable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"foreign error", errors.New("boom"), false},
		{"bare deadline", context.DeadlineExceeded, false},
		{"retryable", &Error{Retryable: true}, true},
		{"permanent", &Error{Retryable: false}, false},
		{"wrapped retryable", fmt.Errorf("activity: %w", &Error{Retryable: true}), true},
		{"wrapped permanent", fmt.Errorf("activity: %w", &Error{Status: 422}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, IsRetryable(tt.err))
		})
	}
}

func TestErrorUnwrap(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("step: %w", &Error{System: "provider", Op: "x", Err: context.Canceled})
	require.ErrorIs(t, err, context.Canceled)
	var e *Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, "provider", e.System)
}
