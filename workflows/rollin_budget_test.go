package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// TestRetryBudgetCoversEveryAttempt: the deadline of a local call leaves room for every
// try the policy allows and the backoff between them, so that process.call_attempts and
// not the SDK's default (one StartToClose timeout) decides when a call becomes an incident.
func TestRetryBudgetCoversEveryAttempt(t *testing.T) {
	opts := workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second, RetryPolicy: &temporal.RetryPolicy{
		InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 5,
	}}
	// 5 tries of up to 30 s, and waits of 1, 2, 4 and 8 s between them.
	require.Equal(t, 5*30*time.Second+15*time.Second, retryBudget(opts))

	opts.RetryPolicy.MaximumAttempts, opts.RetryPolicy.MaximumInterval = 60, 9*time.Second
	require.Greater(t, retryBudget(opts), 3*time.Minute, "the chaos test's outage fits the deadline it configures")
	opts.RetryPolicy.MaximumAttempts = 1
	require.Equal(t, 30*time.Second, retryBudget(opts))
}
