package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/rollin-efa/rollin/config"
	"github.com/rollin-efa/rollin/devsim"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/store/storetest"
	"github.com/rollin-efa/rollin/workflows"
)

// rollinBinary builds the programs once for the package's tests, into binDir (removed by
// TestMain): the rollin binary, and rollin-dev beside it (see devBinary).
var (
	binDir       string
	rollinBinary = sync.OnceValues(func() (string, error) {
		dir, err := os.MkdirTemp("", "rollin-bin-")
		if err != nil {
			return "", err
		}
		binDir = dir
		if out, err := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "../cmd/rollin", "../cmd/rollin-dev").CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build: %w: %s", err, out)
		}
		return filepath.Join(dir, "rollin"), nil
	})
)

// devBinary is the rollin-dev program built beside rollinBinary.
func devBinary() (string, error) {
	bin, err := rollinBinary()
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(bin), "rollin-dev"), nil
}

// devEnv is the environment of a `rollin-dev` with its own data dir, database and ports;
// it returns the environment and the API's address.
func devEnv(t *testing.T, extra ...string) ([]string, string) {
	t.Helper()
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	env := append(os.Environ(),
		"ROLLIN_DATA_DIR="+filepath.Join(t.TempDir(), "rollin-data"),
		"ROLLIN_HTTP_ADDR="+httpAddr,
		"ROLLIN_DATABASE_URL="+storetest.NewDatabase(t),
		fmt.Sprintf("ROLLIN_TEMPORAL_EMBEDDED_PORT=%d", freeTCPPort(t)),
		"ROLLIN_PROCESS_TEST_POLL=50ms",
		"ROLLIN_LOG_LEVEL=warn",
	)
	return append(env, extra...), httpAddr
}

// startDev runs rollin-dev with env and extra arguments and returns once it has printed
// its whole banner.
func startDev(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	return startRollin(t, "rollin-dev", env, "rollin start --service", args...) // the banner's last line
}

// tokens reads the generated development tokens from the data dir in env.
func devTokens(t *testing.T, env []string) map[domain.Role]string {
	t.Helper()
	var dataDir string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "ROLLIN_DATA_DIR="); ok {
			dataDir = v
		}
	}
	raw, err := os.ReadFile(filepath.Join(dataDir, devsim.TokensFile))
	require.NoError(t, err)
	var tokens []config.Token
	require.NoError(t, yaml.Unmarshal(raw, &tokens))
	tok := map[domain.Role]string{}
	for _, tk := range tokens {
		tok[domain.Role(tk.Role)] = tk.Token
	}
	return tok
}

// TestDevRestartKeepsRuns runs `rollin-dev` as the README says, starts a roll-in of a real
// NRW municipality through the API, stops the process with SIGTERM while the run waits,
// and starts it again on the same data dir with the autopilot on: the autopilot takes on
// the run that was already waiting (its notice went out before the restart) and the run
// goes on to live where it was.
func TestDevRestartKeepsRuns(t *testing.T) {
	t.Parallel()
	env, httpAddr := devEnv(t)
	first := startDev(t, env)
	require.Contains(t, first.output.String(), "http://"+httpAddr+"/api/v1")
	require.Contains(t, first.output.String(), devsim.TokensFile, "it says where the generated tokens are")
	require.NotContains(t, first.output.String(), "Autopilot:", "the autopilot is off unless asked for")
	tok := devTokens(t, env)
	for _, token := range tok {
		require.Contains(t, first.output.String(), token, "the banner prints every token")
	}
	const ars = "055150000000" // Münster: the generated municipality token's ARS
	c := devClient{t: t, base: "http://" + httpAddr, tokens: tok}

	code, body := c.do(domain.RolePM, http.MethodPost, "/api/v1/rollins", map[string]string{"ars": ars, "service": wohngeld})
	require.Equal(t, http.StatusCreated, code, body)
	c.waitFor(ars, func(st domain.RunStatus) bool {
		return st.WaitingFor != nil && st.WaitingFor.Step == workflows.StepFrameworkAgreement
	})
	c.act(domain.RoleMunicipality, ars, workflows.ActionSignAgreement, nil)
	st := c.waitFor(ars, func(st domain.RunStatus) bool {
		return st.WaitingFor != nil && st.WaitingFor.Step == workflows.StepCallOff
	})
	first.stop()

	second := startDev(t, env, "--autopilot", "--autopilot-delay", "10ms")
	defer second.stop()
	require.Contains(t, second.output.String(), "Autopilot:  on")
	final := c.waitFor(ars, func(st domain.RunStatus) bool { return st.State.Final() })
	require.Equal(t, domain.RunLive, final.State)
	require.Greater(t, final.Seq, st.Seq)

	code, body = c.do(domain.RolePM, http.MethodGet, "/api/v1/rollins/"+ars+"/"+wohngeld+"/audit", nil)
	require.Equal(t, http.StatusOK, code, body)
	var audit struct{ Items []domain.AuditEvent }
	require.NoError(t, json.Unmarshal([]byte(body), &audit))
	by := map[string][]string{}
	for _, e := range audit.Items {
		by[e.Action] = append(by[e.Action], e.Actor)
	}
	require.Equal(t, []string{"kommune", devsim.Principal}, by[workflows.ActionSignAgreement],
		"the framework agreement signed by hand before the restart, the call-off by the autopilot after it")
	require.Equal(t, []string{devsim.Principal}, by[workflows.ActionConfirmTest])
}

// TestDevNRWCampaignOnAutopilot is the demo of the README: `rollin-dev --autopilot` and
// `rollin campaign start --land 05 --wait` from the command line roll Wohngeld out to all
// 396 municipalities of Nordrhein-Westfalen, unattended, with a progress bar, on the
// embedded SQLite Temporal server.
func TestDevNRWCampaignOnAutopilot(t *testing.T) {
	t.Parallel()
	env, httpAddr := devEnv(t)
	dev := startDev(t, env, "--autopilot", "--autopilot-delay", "100ms")
	defer dev.stop()
	tok := devTokens(t, env)

	bin, err := rollinBinary()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cli := exec.CommandContext(ctx, bin, "campaign", "start", "--service", wohngeld, "--land", "05", "--wait", "--poll", "500ms")
	cli.Env = append(os.Environ(), "ROLLIN_API=http://"+httpAddr, "ROLLIN_TOKEN="+tok[domain.RolePM])
	var stdout, stderr bytes.Buffer
	cli.Stdout, cli.Stderr = &stdout, &stderr
	began := time.Now()
	require.NoError(t, cli.Run(), "stdout:\n%s\nstderr:\n%s\ndev:\n%s", &stdout, &stderr, dev.output)
	t.Logf("396 NRW roll-ins live in %s", time.Since(began).Round(time.Second))

	require.Regexp(t, `(?m)^Started:\s+396$`, stdout.String())
	require.Regexp(t, `(?m)^live\s+396$`, stdout.String())
	require.Contains(t, stderr.String(), "started campaign "+wohngeld+"-land-05")
	require.Contains(t, stderr.String(), "[##############################] 396/396 100%", "the progress bars end full")
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) WriteString(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(s)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// devClient talks to a `rollin-dev` process over HTTP.
type devClient struct {
	t      *testing.T
	base   string
	tokens map[domain.Role]string
	n      int
}

func (c *devClient) do(role domain.Role, method, path string, body any) (int, string) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(c.t, err)
		rd = bytes.NewReader(raw)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	require.NoError(c.t, err)
	req.Header.Set("Authorization", "Bearer "+c.tokens[role])
	resp, err := apiClient(c.t).Do(req) // validates the exchange against openapi.json
	require.NoError(c.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return resp.StatusCode, string(raw)
}

func (c *devClient) act(role domain.Role, ars, action string, data map[string]any) {
	c.t.Helper()
	c.n++
	body := map[string]any{"action": action, "action_id": fmt.Sprintf("dev-%d", c.n)}
	if data != nil {
		body["data"] = data
	}
	code, out := c.do(role, http.MethodPost, "/api/v1/rollins/"+ars+"/"+wohngeld+"/actions", body)
	require.Equal(c.t, http.StatusOK, code, "%s: %s", action, out)
}

func (c *devClient) waitFor(ars string, cond func(domain.RunStatus) bool) domain.RunStatus {
	c.t.Helper()
	var st domain.RunStatus
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		code, out := c.do(domain.RolePM, http.MethodGet, "/api/v1/rollins/"+ars+"/"+wohngeld, nil)
		if code != http.StatusOK {
			continue
		}
		require.NoError(c.t, json.Unmarshal([]byte(out), &st))
		if cond(st) {
			return st
		}
	}
	c.t.Fatalf("condition not met within a minute; last status %+v", st)
	return st
}
