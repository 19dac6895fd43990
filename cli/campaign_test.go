package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/domain"
)

const (
	testService  = "99107023037000"
	testCampaign = "99107023037000-land-05"
)

// apiRequest is one request the fake campaign API received.
type apiRequest struct {
	method, path, body string
}

// fakeCampaignAPI stands in for the campaign endpoints: POST answers start (201 when
// created, else 200), each GET answers the next of polls (the last one repeats) or the
// status in getStatus, and actions answer the campaign in the state they lead to.
type fakeCampaignAPI struct {
	mu        sync.Mutex
	requests  []apiRequest
	created   bool
	start     domain.CampaignProgress
	polls     []domain.CampaignProgress
	getStatus map[int]int // index of a GET → HTTP status to fail it with
	gets      int
}

func (f *fakeCampaignAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	raw, _ := io.ReadAll(r.Body)
	f.requests = append(f.requests, apiRequest{r.Method, r.URL.Path, string(raw)})
	w.Header().Set("Content-Type", "application/json")
	fail := func(code int, msg string) {
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/campaigns":
		if f.created {
			w.WriteHeader(http.StatusCreated)
		}
		_ = json.NewEncoder(w).Encode(f.start)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/api/v1/campaigns/"):
		i := f.gets
		f.gets++
		if code := f.getStatus[i]; code != 0 {
			fail(code, "campaign store unavailable")
			return
		}
		if len(f.polls) == 0 {
			fail(http.StatusNotFound, "no campaign")
			return
		}
		_ = json.NewEncoder(w).Encode(f.polls[min(i, len(f.polls)-1)])
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/actions"):
		var a struct{ Action, Reason string }
		_ = json.Unmarshal(raw, &a)
		p := f.start
		p.State = map[string]domain.CampaignState{"pause": domain.CampaignPaused, "resume": domain.CampaignStarting,
			"cancel": domain.CampaignCancelled}[a.Action]
		p.Reason = a.Reason
		_ = json.NewEncoder(w).Encode(p)
	default:
		fail(http.StatusNotFound, "no route")
	}
}

func (f *fakeCampaignAPI) recorded() []apiRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]apiRequest(nil), f.requests...)
}

// countRequests counts the recorded requests with the method and path.
func (f *fakeCampaignAPI) countRequests(method, path string) int {
	n := 0
	for _, r := range f.recorded() {
		if r.method == method && r.path == path {
			n++
		}
	}
	return n
}

// campaignAt returns the campaign of land 05 with 3 municipalities in state s, started
// and existing as given, and runs counting its roll-ins.
func campaignAt(s domain.CampaignState, started, existing, failed int, runs map[string]int) domain.CampaignProgress {
	return domain.CampaignProgress{
		Campaign: domain.Campaign{ID: testCampaign, Service: testService, Selector: "land 05", State: s,
			Total: 3, Started: started, Existing: existing, Failed: failed},
		Runs: runs, Stages: map[domain.Stage]int{},
	}
}

// runCampaignCLI runs `rollin campaign ARGS` against url with a fake clock, so polling
// takes no time, under ctx.
func runCampaignCLI(ctx context.Context, t *testing.T, url string, clock campaignClock, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	root := &cobra.Command{Use: "rollin", SilenceUsage: true, SilenceErrors: true}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return Usagef("%v", err) })
	root.AddCommand(campaignCommand(clock))
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append(append([]string{"campaign"}, args...), "--api", url, "--token", "pm-token-0123456789"))
	err := root.ExecuteContext(ctx)
	if err != nil {
		errOut.WriteString(err.Error())
	}
	return out.String(), errOut.String(), ExitCode(err)
}

// fakeTime is a campaignClock on c whose sleeps move c; it fails the 1000th sleep, so a
// command that would poll forever fails its test instead of hanging it.
func fakeTime(c *fakeClock) campaignClock {
	sleep := sleepingClock(c)
	var mu sync.Mutex
	sleeps := 0
	return campaignClock{now: c.Now, sleep: func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		sleeps++
		n := sleeps
		mu.Unlock()
		if n >= 1000 {
			return errors.New("test: polled 1000 times")
		}
		return sleep(ctx, d)
	}}
}

func TestCampaignStartLandPostsAndPollsUntilStarted(t *testing.T) {
	t.Parallel()
	api := &fakeCampaignAPI{
		created: true,
		start:   campaignAt(domain.CampaignStarting, 0, 0, 0, map[string]int{"pending": 3}),
		polls: []domain.CampaignProgress{
			campaignAt(domain.CampaignStarting, 1, 0, 0, map[string]int{"pending": 2, "running": 1}),
			campaignAt(domain.CampaignPaused, 1, 1, 0, map[string]int{"pending": 1, "running": 2}),
			campaignAt(domain.CampaignStarted, 2, 1, 0, map[string]int{"pending": 1, "running": 2}),
			campaignAt(domain.CampaignStarted, 2, 1, 0, map[string]int{"running": 3}),
		},
	}
	srv := httptest.NewServer(api)
	defer srv.Close()
	clock := newFakeClock()
	begin := clock.Now()

	out, errOut, code := runCampaignCLI(t.Context(), t, srv.URL, fakeTime(clock),
		"start", "--service", testService, "--land", "05", "--rate", "2.5", "--window", "20", "--poll", "5s")
	require.Equal(t, ExitOK, code, errOut)

	reqs := api.recorded()
	require.Equal(t, http.MethodPost, reqs[0].method)
	require.Equal(t, "/api/v1/campaigns", reqs[0].path)
	require.JSONEq(t, `{"service":"99107023037000","land":"05","rate":2.5,"window":20}`, reqs[0].body)
	require.Len(t, reqs, 4, "polls until the campaign is started, and no further without --wait")
	for _, r := range reqs[1:] {
		require.Equal(t, "GET /api/v1/campaigns/"+testCampaign, r.method+" "+r.path)
	}
	require.Equal(t, 15*time.Second, clock.Now().Sub(begin), "three polls 5 s apart, on the injected clock")

	require.True(t, strings.HasPrefix(errOut, "started campaign "+testCampaign+"\n"), errOut)
	require.Contains(t, errOut, "] 3/3 100%")
	require.NotContains(t, errOut, "waiting for the roll-ins")
	require.Contains(t, out, "State:     started")
	require.Contains(t, out, "Started:   2")
	require.Contains(t, out, "Existing:  1")
}

func TestCampaignStartWait(t *testing.T) {
	t.Parallel()
	started := func(failed int, runs map[string]int) domain.CampaignProgress {
		return campaignAt(domain.CampaignStarted, 3-failed, 0, failed, runs)
	}
	for _, tt := range []struct {
		name     string
		polls    []domain.CampaignProgress
		wantCode int
		wantGets int
		wantBar  string
		wantErr  []string
	}{
		{
			name: "all live",
			polls: []domain.CampaignProgress{
				started(0, map[string]int{"pending": 1, "running": 2}),
				started(0, map[string]int{"waiting": 2, "live": 1}),
				started(0, map[string]int{"live": 3}),
			},
			wantCode: ExitOK, wantGets: 3, wantBar: "] 3/3 100%",
		},
		{
			name: "an incident needs attention",
			polls: []domain.CampaignProgress{
				started(0, map[string]int{"waiting": 3}),
				started(0, map[string]int{"live": 2, "incident": 1}),
			},
			wantCode: ExitFailure, wantGets: 2, wantBar: "] 3/3 100%",
			wantErr: []string{"1 roll-in(s) need attention: 1 incident", "rollin list --state incident --service " + testService},
		},
		{
			name: "blocked and cancelled count too",
			polls: []domain.CampaignProgress{
				started(0, map[string]int{"live": 1, "blocked": 1, "cancelled": 1}),
			},
			wantCode: ExitFailure, wantGets: 1,
			wantErr: []string{"2 roll-in(s) need attention: 1 blocked, 1 cancelled", "rollin list --state blocked"},
		},
		{
			// A failed start stays pending in the read model for good: not waited for.
			name: "a failed start is not waited for",
			polls: []domain.CampaignProgress{
				started(1, map[string]int{"pending": 2, "running": 1}),
				started(1, map[string]int{"pending": 1, "live": 2}),
			},
			wantCode: ExitFailure, wantGets: 2, wantBar: "] 2/2 100%",
			wantErr: []string{"1 roll-in(s) could not be started"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api := &fakeCampaignAPI{created: true, start: started(0, map[string]int{"pending": 3}), polls: tt.polls}
			srv := httptest.NewServer(api)
			defer srv.Close()
			out, errOut, code := runCampaignCLI(t.Context(), t, srv.URL, fakeTime(newFakeClock()),
				"start", "--service", testService, "--land", "05", "--wait")
			require.Equal(t, tt.wantCode, code, errOut)
			require.Equal(t, tt.wantGets, api.countRequests(http.MethodGet, "/api/v1/campaigns/"+testCampaign))
			require.Contains(t, errOut, "waiting for the roll-ins to go live or need attention:\n")
			require.Contains(t, errOut, tt.wantBar)
			for _, want := range tt.wantErr {
				require.Contains(t, errOut, want)
			}
			if tt.wantCode == ExitOK {
				require.NotContains(t, errOut, "roll-in(s) need attention")
			}
			require.Contains(t, out, "Campaign:  "+testCampaign, "the campaign is printed at the end")
		})
	}
}

func TestCampaignStartExistsAlready(t *testing.T) {
	t.Parallel()
	api := &fakeCampaignAPI{created: false, start: campaignAt(domain.CampaignStarted, 3, 0, 0, map[string]int{"waiting": 3})}
	srv := httptest.NewServer(api)
	defer srv.Close()
	out, errOut, code := runCampaignCLI(t.Context(), t, srv.URL, fakeTime(newFakeClock()),
		"start", "--service", testService, "--land", "05", "-o", "json")
	require.Equal(t, ExitOK, code, errOut)
	require.True(t, strings.HasPrefix(errOut, "campaign "+testCampaign+" exists already\n"), errOut)
	require.NotContains(t, errOut, "started campaign")
	require.Zero(t, api.countRequests(http.MethodGet, "/api/v1/campaigns/"+testCampaign), "a started campaign needs no polling")
	var p domain.CampaignProgress
	require.NoError(t, json.Unmarshal([]byte(out), &p))
	require.Equal(t, testCampaign, p.ID)
	require.Equal(t, 3, p.Runs["waiting"])
}

func TestCampaignStartCancelledCampaignFails(t *testing.T) {
	t.Parallel()
	cancelled := campaignAt(domain.CampaignCancelled, 1, 0, 0, map[string]int{"running": 1})
	cancelled.Reason = "Kreis hat abgesagt"
	api := &fakeCampaignAPI{created: true, start: campaignAt(domain.CampaignStarting, 0, 0, 0, nil),
		polls: []domain.CampaignProgress{cancelled}}
	srv := httptest.NewServer(api)
	defer srv.Close()
	_, errOut, code := runCampaignCLI(t.Context(), t, srv.URL, fakeTime(newFakeClock()),
		"start", "--service", testService, "--land", "05")
	require.Equal(t, ExitFailure, code, errOut)
	require.Contains(t, errOut, "the campaign was cancelled (Kreis hat abgesagt); 2 municipalities were not started")
}

func TestCampaignStartInterruptLeavesTheCampaignAlone(t *testing.T) {
	t.Parallel()
	api := &fakeCampaignAPI{created: true, start: campaignAt(domain.CampaignStarting, 0, 0, 0, nil),
		polls: []domain.CampaignProgress{campaignAt(domain.CampaignStarting, 1, 0, 0, nil)}}
	srv := httptest.NewServer(api)
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sleeps := 0
	clock := campaignClock{now: time.Now, sleep: func(ctx context.Context, _ time.Duration) error {
		sleeps++
		if sleeps == 3 {
			cancel() // Ctrl-C while waiting for the third poll
		}
		return ctx.Err()
	}}
	out, errOut, code := runCampaignCLI(ctx, t, srv.URL, clock, "start", "--service", testService, "--land", "05")
	require.Equal(t, ExitFailure, code, errOut)
	require.Contains(t, errOut, "stopped following campaign "+testCampaign+"; it goes on")
	require.Contains(t, out, "Started:   1", "the last known progress is printed")
	require.Equal(t, 2, api.countRequests(http.MethodGet, "/api/v1/campaigns/"+testCampaign))
	for _, r := range api.recorded() {
		require.NotContains(t, r.path, "/actions", "an interrupt sends nothing to the campaign")
	}
}

func TestCampaignStartPollingRidesOutAnOutage(t *testing.T) {
	t.Parallel()
	api := &fakeCampaignAPI{created: true, start: campaignAt(domain.CampaignStarting, 0, 0, 0, nil),
		polls:     []domain.CampaignProgress{campaignAt(domain.CampaignStarted, 3, 0, 0, nil)},
		getStatus: map[int]int{0: http.StatusServiceUnavailable, 1: http.StatusBadGateway}}
	srv := httptest.NewServer(api)
	defer srv.Close()
	_, errOut, code := runCampaignCLI(t.Context(), t, srv.URL, fakeTime(newFakeClock()),
		"start", "--service", testService, "--land", "05")
	require.Equal(t, ExitOK, code, errOut)
	require.Equal(t, 3, api.countRequests(http.MethodGet, "/api/v1/campaigns/"+testCampaign))

	// An outage longer than pollOutage ends the wait; a refusal (4xx) ends it at once.
	for _, tt := range []struct {
		status   int
		wantGets int
		want     string
	}{
		{http.StatusServiceUnavailable, int(pollOutage/(10*time.Second)) + 1, "no answer for 2m0s"},
		{http.StatusForbidden, 1, "campaign store unavailable (HTTP 403)"},
	} {
		fail := map[int]int{}
		for i := range 1000 {
			fail[i] = tt.status
		}
		api := &fakeCampaignAPI{created: true, start: campaignAt(domain.CampaignStarting, 0, 0, 0, nil), getStatus: fail}
		srv := httptest.NewServer(api)
		_, errOut, code := runCampaignCLI(t.Context(), t, srv.URL, fakeTime(newFakeClock()),
			"start", "--service", testService, "--land", "05", "--poll", "10s")
		srv.Close()
		require.Equal(t, ExitFailure, code, errOut)
		require.Contains(t, errOut, tt.want)
		require.Contains(t, errOut, "the campaign goes on (rollin campaign status "+testCampaign+")")
		require.Equal(t, tt.wantGets, api.countRequests(http.MethodGet, "/api/v1/campaigns/"+testCampaign), tt.status)
	}
}

func TestCampaignStartFile(t *testing.T) {
	t.Parallel()
	api := &fakeCampaignAPI{created: true, start: campaignAt(domain.CampaignStarted, 3, 0, 0, nil)}
	srv := httptest.NewServer(api)
	defer srv.Close()
	dir := t.TempDir()

	good := filepath.Join(dir, "ars.csv")
	require.NoError(t, os.WriteFile(good, []byte("ARS;Name\n055150000000;Münster\n\n055660008008;Rheine\n"), 0o600))
	_, errOut, code := runCampaignCLI(t.Context(), t, srv.URL, fakeTime(newFakeClock()), "start", "--service", testService, "--file", good)
	require.Equal(t, ExitOK, code, errOut)
	reqs := api.recorded()
	require.Len(t, reqs, 1)
	require.JSONEq(t, `{"service":"99107023037000","ars":["055150000000","055660008008"]}`, reqs[0].body)

	bad := filepath.Join(dir, "bad.csv")
	require.NoError(t, os.WriteFile(bad, []byte("ARS,Name\n055150000000,Münster\n05566000800,Rheine\n"), 0o600))
	_, errOut, code = runCampaignCLI(t.Context(), t, srv.URL, fakeTime(newFakeClock()), "start", "--service", testService, "--file", bad)
	require.Equal(t, ExitUsage, code, errOut)
	require.Contains(t, errOut, bad+":3: ARS \"05566000800\": want exactly 12 digits")
	require.Len(t, api.recorded(), 1, "nothing is sent for a file with a bad line")

	_, errOut, code = runCampaignCLI(t.Context(), t, srv.URL, fakeTime(newFakeClock()), "start", "--service", testService,
		"--file", filepath.Join(dir, "missing.csv"))
	require.Equal(t, ExitUsage, code, errOut)
	require.Contains(t, errOut, "missing.csv")
	require.Len(t, api.recorded(), 1)
}

func TestParseARSList(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, in string
		want     []string
		wantErr  []string
	}{
		{name: "header and semicolons", in: "ARS;Gemeinde\n055150000000;Münster\n055660008008;Rheine\n",
			want: []string{"055150000000", "055660008008"}},
		{name: "commas, CRLF, quotes and blank lines", in: "\r\n\"ARS\",\"Name\"\r\n\r\n\"055150000000\",\"Münster\"\r\n  \r\n055660008008\r\n",
			want: []string{"055150000000", "055660008008"}},
		{name: "no header", in: "055150000000\n055660008008;x,y\n", want: []string{"055150000000", "055660008008"}},
		{name: "spreadsheet BOM", in: "\ufeffARS;Name\n055150000000;Münster\n", want: []string{"055150000000"}},
		{name: "only the first line may be a header", in: "ARS\n055150000000\nARS\n",
			wantErr: []string{"1 bad line(s)", "ars.csv:3: ARS \"ARS\""}},
		{name: "bad lines are counted with blank lines", in: "ARS;Name\n\n0551500000;kurz\n055150000000;ok\n;leer\n",
			wantErr: []string{"2 bad line(s), nothing sent", "ars.csv:3: ARS \"0551500000\"", "ars.csv:5: ARS \"\""}},
		{name: "header only", in: "ARS;Name\n\n", wantErr: []string{"ars.csv: no ARS in the first column"}},
		{name: "empty", in: "", wantErr: []string{"no ARS"}},
		{name: "many bad lines", in: strings.Repeat("1\n", 13),
			wantErr: []string{"13 bad line(s)", "ars.csv:10:", "... and 3 more"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseARSList(strings.NewReader(tt.in), "ars.csv")
			if tt.wantErr == nil {
				require.NoError(t, err)
				require.Equal(t, tt.want, got)
				return
			}
			require.Error(t, err)
			require.Equal(t, ExitUsage, ExitCode(err))
			for _, want := range tt.wantErr {
				require.Contains(t, err.Error(), want)
			}
			require.NotContains(t, err.Error(), "ars.csv:11:", "at most 10 bad lines are listed")
		})
	}
}

func TestCampaignUsageErrors(t *testing.T) {
	t.Parallel()
	api := &fakeCampaignAPI{created: true, start: campaignAt(domain.CampaignStarted, 3, 0, 0, nil)}
	srv := httptest.NewServer(api)
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "ars.csv")
	require.NoError(t, os.WriteFile(file, []byte("055150000000\n"), 0o600))
	const selectors = "exactly one of --land, --kreis or --file"
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"start", "--service", testService}, selectors},
		{[]string{"start", "--service", testService, "--land", "05", "--kreis", "05515"}, selectors},
		{[]string{"start", "--service", testService, "--land", "05", "--file", file}, selectors},
		{[]string{"start", "--service", testService, "--kreis", "05515", "--file", file}, selectors},
		{[]string{"start", "--service", testService, "--land", "05", "--kreis", "05515", "--file", file}, selectors},
		{[]string{"start", "--land", "05"}, "--service: required"},
		{[]string{"start", "--service", "123", "--land", "05"}, "--service: service key"},
		{[]string{"start", "--service", testService, "--land", "5"}, `--land "5"`},
		{[]string{"start", "--service", testService, "--kreis", "0551"}, `--kreis "0551"`},
		{[]string{"start", "--service", testService, "--land", "05", "--rate", "-1"}, "--rate -1"},
		{[]string{"start", "--service", testService, "--land", "05", "--window", "501"}, "--window 501"},
		{[]string{"start", "--service", testService, "--land", "05", "--poll", "0s"}, "--poll 0s"},
		{[]string{"start", "--service", testService, "--land", "05", "-o", "yaml"}, `--output "yaml"`},
		{[]string{"cancel", testCampaign}, "--reason: required to cancel"},
		{[]string{"cancel", testCampaign, "--reason", "  "}, "--reason: required to cancel"},
		{[]string{"pause"}, "want exactly one campaign ID"},
		{[]string{"status", "a", "b"}, "want exactly one campaign ID"},
	} {
		_, errOut, code := runCampaignCLI(t.Context(), t, srv.URL, fakeTime(newFakeClock()), tt.args...)
		require.Equal(t, ExitUsage, code, "%v: %s", tt.args, errOut)
		require.Contains(t, errOut, tt.want, tt.args)
	}
	require.Empty(t, api.recorded(), "no usage error sends a request")
}

func TestCampaignActions(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args      []string
		wantBody  string
		wantState string
	}{
		{[]string{"pause", testCampaign}, `{"action":"pause"}`, "paused"},
		{[]string{"resume", testCampaign, "--reason", "Provider wieder da"}, `{"action":"resume","reason":"Provider wieder da"}`, "starting"},
		{[]string{"cancel", testCampaign, "--reason", "Kreis hat abgesagt"}, `{"action":"cancel","reason":"Kreis hat abgesagt"}`, "cancelled"},
	} {
		api := &fakeCampaignAPI{start: campaignAt(domain.CampaignStarting, 1, 0, 0, nil)}
		srv := httptest.NewServer(api)
		out, errOut, code := runCampaignCLI(t.Context(), t, srv.URL, fakeTime(newFakeClock()), tt.args...)
		srv.Close()
		require.Equal(t, ExitOK, code, errOut)
		reqs := api.recorded()
		require.Len(t, reqs, 1)
		require.Equal(t, "POST /api/v1/campaigns/"+testCampaign+"/actions", reqs[0].method+" "+reqs[0].path)
		require.Equal(t, tt.wantBody, reqs[0].body, "exactly this body")
		require.Contains(t, out, "State:     "+tt.wantState)
	}

	// A refusal carries the API's message.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusConflict)
		_, _ = w.Write([]byte(`{"error":"the campaign is started"}`))
	}))
	defer srv.Close()
	_, errOut, code := runCampaignCLI(t.Context(), t, srv.URL, fakeTime(newFakeClock()), "pause", testCampaign)
	require.Equal(t, ExitFailure, code)
	require.Contains(t, errOut, "pause campaign "+testCampaign+": the campaign is started (HTTP 409)")
}

func TestCampaignStatus(t *testing.T) {
	t.Parallel()
	p := campaignAt(domain.CampaignCancelled, 390, 4, 2, map[string]int{
		"pending": 2, "running": 11, "waiting": 300, "incident": 7, "live": 70, "cancelled": 6, "archived": 1})
	p.Total = 400
	p.Reason = "Kreis hat abgesagt"
	p.Stages = map[domain.Stage]int{domain.StageGoLive: 5, domain.StagePruefung: 12, domain.StageVereinbarung: 301}
	api := &fakeCampaignAPI{polls: []domain.CampaignProgress{p}}
	srv := httptest.NewServer(api)
	defer srv.Close()

	out, errOut, code := runCampaignCLI(t.Context(), t, srv.URL, fakeTime(newFakeClock()), "status", testCampaign)
	require.Equal(t, ExitOK, code, errOut)
	require.Equal(t, "GET /api/v1/campaigns/"+testCampaign, api.recorded()[0].method+" "+api.recorded()[0].path)
	require.Equal(t, `Campaign:  99107023037000-land-05
Service:   99107023037000
Selector:  land 05
State:     cancelled
Reason:    Kreis hat abgesagt
Total:     400
Started:   390
Existing:  4
Failed:    2

RUN STATE  ROLL-INS
pending    2
running    11
waiting    300
incident   7
blocked    0
live       70
cancelled  6
archived   1

STAGE         ROLL-INS UNDER WAY
pruefung      12
vereinbarung  301
anbindung     0
test          0
golive        5
`, out)

	out, _, code = runCampaignCLI(t.Context(), t, srv.URL, fakeTime(newFakeClock()), "status", testCampaign, "-o", "json")
	require.Equal(t, ExitOK, code)
	var got domain.CampaignProgress
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Equal(t, p, got)

	// An unknown campaign: the API's message, exit 1.
	api.mu.Lock()
	api.polls = nil
	api.mu.Unlock()
	_, errOut, code = runCampaignCLI(t.Context(), t, srv.URL, fakeTime(newFakeClock()), "status", "nope")
	require.Equal(t, ExitFailure, code)
	require.Contains(t, errOut, "read campaign nope: no campaign (HTTP 404)")
}
