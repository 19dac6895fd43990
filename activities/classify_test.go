package activities

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/rollin-efa/rollin/store"
	"github.com/rollin-efa/rollin/systems"
	"github.com/rollin-efa/rollin/workflows"
)

// TestClassify runs classify inside a real activity context (the SDK's test environment)
// and checks what the workflow's retry policy will see.
func TestClassify(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		err          error
		nonRetryable bool
		errType      string
		nextDelay    time.Duration
	}{
		"system down":         {&systems.Error{System: "provider", Op: "create tenant", Status: 503, Retryable: true}, false, "Retryable", 0},
		"rate limited":        {&systems.Error{System: "state", Op: "routes", Status: 429, Retryable: true, RetryAfter: 30 * time.Second}, false, "Retryable", 30 * time.Second},
		"rejected request":    {&systems.Error{System: "state", Op: "configure payment", Status: 422}, true, workflows.ErrTypePermanent, 0},
		"missing record":      {fmt.Errorf("load service: %w", store.ErrNotFound), true, workflows.ErrTypePermanent, 0},
		"database hiccup":     {errors.New("conn closed"), false, "Retryable", 0},
		"wrapped system down": {fmt.Errorf("file agreement: %w", &systems.Error{Status: 502, Retryable: true}), false, "Retryable", 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var suite testsuite.WorkflowTestSuite
			env := suite.NewTestActivityEnvironment()
			env.RegisterActivityWithOptions(func(ctx context.Context) error { return classify(ctx, tc.err) },
				activity.RegisterOptions{Name: "Classify"})
			_, err := env.ExecuteActivity("Classify")
			var app *temporal.ApplicationError
			require.ErrorAs(t, err, &app)
			require.Equal(t, tc.errType, app.Type())
			require.Equal(t, tc.nonRetryable, app.NonRetryable())
			require.Equal(t, tc.nextDelay, app.NextRetryDelay())
			var attempt int
			require.NoError(t, app.Details(&attempt))
			require.Equal(t, 1, attempt)
			require.Contains(t, app.Message(), tc.err.Error())
		})
	}
}
