package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/domain"
)

// sleepingClock makes a limiter's sleeps move a fake clock, so tests see the schedule
// without waiting for it.
func sleepingClock(c *fakeClock) func(context.Context, time.Duration) error {
	return func(ctx context.Context, d time.Duration) error {
		c.Advance(d)
		return ctx.Err()
	}
}

func TestLimiterPacesAtTheRate(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	start := clock.Now()
	lim := newLimiterAt(10, 1, clock.Now, sleepingClock(clock))
	var at []time.Duration
	for range 21 {
		require.NoError(t, lim.Wait(t.Context()))
		at = append(at, clock.Now().Sub(start))
	}
	require.Equal(t, time.Duration(0), at[0], "a full bucket admits the first at once")
	for i := 1; i < len(at); i++ {
		require.InDelta(t, 100*time.Millisecond, at[i]-at[i-1], float64(time.Millisecond), "event %d", i)
	}
	require.InDelta(t, 2*time.Second, at[20], float64(time.Millisecond))
}

func TestLimiterBurstAndRefill(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	start := clock.Now()
	lim := newLimiterAt(2, 5, clock.Now, sleepingClock(clock))
	for range 5 {
		require.NoError(t, lim.Wait(t.Context()))
	}
	require.Equal(t, start, clock.Now(), "the burst passes without waiting")
	require.NoError(t, lim.Wait(t.Context()))
	require.Equal(t, 500*time.Millisecond, clock.Now().Sub(start))

	clock.Advance(time.Hour) // an idle bucket refills to the burst, not beyond
	before := clock.Now()
	for range 6 {
		require.NoError(t, lim.Wait(t.Context()))
	}
	require.Equal(t, 500*time.Millisecond, clock.Now().Sub(before))
}

func TestLimiterConcurrentCallersAreSpaced(t *testing.T) {
	t.Parallel()
	lim := newLimiter(200, 1)
	start := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 5 {
				require.NoError(t, lim.Wait(t.Context()))
			}
		})
	}
	wg.Wait()
	// 40 events at 200/s from a bucket of 1: at least 39 intervals of 5 ms.
	require.GreaterOrEqual(t, time.Since(start), 190*time.Millisecond)
}

func TestLimiterStopsWithTheContext(t *testing.T) {
	t.Parallel()
	lim := newLimiter(0.001, 1)
	require.NoError(t, lim.Wait(t.Context()))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, lim.Wait(ctx), context.DeadlineExceeded)
}

// fakeAPI serves the two endpoints the bulk commands use over a fixed set of runs.
type fakeAPI struct {
	mu      sync.Mutex
	runs    []domain.RunStatus
	queries []string
	actions []map[string]any
	refuse  map[domain.ARS]int // ARS → status to answer actions with
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodGet {
		f.queries = append(f.queries, r.URL.RawQuery)
		q := r.URL.Query()
		var limit int
		_, _ = fmt.Sscan(q.Get("limit"), &limit)
		var items []domain.RunStatus
		for _, run := range f.runs {
			if run.ID > q.Get("cursor") && len(items) < limit {
				items = append(items, run)
			}
		}
		var next any
		if len(items) == limit && items[limit-1].ID != f.runs[len(f.runs)-1].ID {
			next = items[limit-1].ID
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"items": items, "next_cursor": next})
		return
	}
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	f.actions = append(f.actions, body)
	ars := domain.ARS(strings.Split(r.URL.Path, "/")[4])
	if code := f.refuse[ars]; code != 0 {
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "no incident is open (the run is waiting)"})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"ars": ars})
}

func newFakeAPI(n int) *fakeAPI {
	f := &fakeAPI{refuse: map[domain.ARS]int{}}
	for i := range n {
		ars := domain.ARS(fmt.Sprintf("05%010d", i))
		f.runs = append(f.runs, domain.RunStatus{ID: domain.RunID(ars, "99107023037000"), ARS: ars, Service: "99107023037000", State: domain.RunIncident})
	}
	return f
}

func runBulkCLI(t *testing.T, url string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	root := &cobra.Command{Use: "rollin", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(BulkCommands()...)
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append(args, "--api", url, "--token", "operator-token-0123456789"))
	err := root.Execute()
	if err != nil {
		errOut.WriteString(err.Error())
	}
	return out.String(), errOut.String(), ExitCode(err)
}

func TestBulkRetryPagesSendsAndSummarises(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(2503)
	api.refuse["050000000007"] = http.StatusConflict
	srv := httptest.NewServer(api)
	defer srv.Close()

	start := time.Now()
	out, errOut, code := runBulkCLI(t, srv.URL, "retry", "--step", "tenant", "--service", "99107023037000",
		"--land", "05", "--rate", "5000", "--concurrency", "8", "--batch-id", "b1", "--reason", "provider is back")
	require.Equal(t, ExitFailure, code, errOut)
	require.Less(t, time.Since(start), 10*time.Second)
	require.Equal(t, "done 2502, rejected 1\n050000000007: no incident is open (the run is waiting) (HTTP 409)\n", out)
	require.Contains(t, errOut, "1 of 2503 retry-step actions rejected")
	require.Contains(t, errOut, "[##############################] 2503/2503 100%")

	require.Len(t, api.queries, 3, "2503 runs are three pages of 1000")
	require.Contains(t, api.queries[0], "state=incident")
	require.Contains(t, api.queries[0], "step=tenant")
	require.Contains(t, api.queries[0], "land=05")
	require.Contains(t, api.queries[2], "cursor=rollin%2F050000001999%2F99107023037000")
	require.Len(t, api.actions, 2503)
	ids := map[any]bool{}
	for _, a := range api.actions {
		require.Equal(t, "retry-step", a["action"])
		require.Equal(t, "tenant", a["step"])
		require.Equal(t, "provider is back", a["reason"])
		ids[a["action_id"]] = true
	}
	require.Len(t, ids, 2503, "one action ID per run")
	require.True(t, ids["bulk/b1/retry-step/050000000000/99107023037000"])

	// The same batch again sends the same IDs: the workflows recognise them.
	api.actions = nil
	_, _, _ = runBulkCLI(t, srv.URL, "retry", "--step", "tenant", "--batch-id", "b1", "--rate", "5000")
	require.Len(t, api.actions, 2503)
	for _, a := range api.actions {
		require.True(t, ids[a["action_id"]])
	}
}

func TestBulkRateIsBounded(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(11)
	srv := httptest.NewServer(api)
	defer srv.Close()
	start := time.Now()
	out, errOut, code := runBulkCLI(t, srv.URL, "cancel", "--state", "waiting", "--reason", "Kommune hat abgesagt", "--rate", "20")
	require.Equal(t, ExitOK, code, errOut)
	require.Equal(t, "done 11, rejected 0\n", out)
	require.GreaterOrEqual(t, time.Since(start), 480*time.Millisecond, "11 actions at 20/s take 0.5 s")
	require.Contains(t, errOut, "batch ID ")
	for _, a := range api.actions {
		require.Equal(t, "cancel", a["action"])
		require.NotContains(t, a, "step")
	}
}

func TestBulkDryRunSendsNothing(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(3)
	srv := httptest.NewServer(api)
	defer srv.Close()
	out, errOut, code := runBulkCLI(t, srv.URL, "skip", "--step", "tenant", "--reason", "manual", "--dry-run")
	require.Equal(t, ExitOK, code, errOut)
	require.Contains(t, errOut, "dry run: 3 run(s) match; skip-step would be sent to each, nothing was sent")
	require.Contains(t, out, "050000000002")
	require.Empty(t, api.actions)

	out, _, code = runBulkCLI(t, srv.URL, "skip", "--step", "tenant", "--reason", "manual", "--dry-run", "-o", "json")
	require.Equal(t, ExitOK, code)
	var runs []domain.RunStatus
	require.NoError(t, json.Unmarshal([]byte(out), &runs))
	require.Len(t, runs, 3)
}

func TestBulkUsageErrors(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(1)
	srv := httptest.NewServer(api)
	defer srv.Close()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"retry"}, "--step: required"},
		{[]string{"retry", "--step", "tennant"}, `--step "tennant": not a step`},
		{[]string{"skip", "--step", "tenant"}, "--reason: required to skip"},
		{[]string{"cancel", "--reason", "x"}, "no filter"},
		{[]string{"retry", "--step", "tenant", "--rate", "0"}, "--rate 0"},
		{[]string{"retry", "--step", "tenant", "--concurrency", "0"}, "--concurrency 0"},
		{[]string{"retry", "--step", "tenant", "--batch-id", "a b"}, `--batch-id "a b"`},
		{[]string{"retry", "--step", "tenant", "-o", "yaml"}, `--output "yaml"`},
	} {
		_, errOut, code := runBulkCLI(t, srv.URL, tt.args...)
		require.Equal(t, ExitUsage, code, "%v: %s", tt.args, errOut)
		require.Contains(t, errOut, tt.want, tt.args)
	}
	require.Empty(t, api.actions)
}
