package cli

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/config"
)

func TestExitCode(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		err  error
		want int
	}{
		"success":            {nil, ExitOK},
		"bad config value":   {fmt.Errorf("start: %w", &config.KeyError{Key: "http.addr", Msg: "bad"}), ExitUsage},
		"bad command line":   {Usagef("--data: not valid JSON"), ExitUsage},
		"refused by the API": {errors.New("the run is live: no further actions (HTTP 409)"), ExitFailure},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, ExitCode(tc.err))
		})
	}
}
