package integration

import (
	"bufio"
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
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/rollin-efa/rollin/config"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/store/storetest"
	"github.com/rollin-efa/rollin/workflows"
)

// devProcess is one `rollin dev` OS process of TestDevRestartKeepsRuns.
type devProcess struct {
	cmd    *exec.Cmd
	output *lockedBuffer
	exited chan error
}

// TestDevRestartKeepsRuns builds the rollin binary, runs `rollin dev` as the README says,
// starts a roll-in of a real NRW municipality through the API, stops the process with
// SIGTERM while the run waits, starts it again on the same data dir, and finishes the run.
func TestDevRestartKeepsRuns(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "rollin")
	build := exec.Command("go", "build", "-o", bin, "../cmd/rollin")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	dataDir := filepath.Join(t.TempDir(), "rollin-data")
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	env := append(os.Environ(),
		"ROLLIN_DATA_DIR="+dataDir,
		"ROLLIN_HTTP_ADDR="+httpAddr,
		"ROLLIN_DATABASE_URL="+storetest.NewDatabase(t),
		fmt.Sprintf("ROLLIN_TEMPORAL_EMBEDDED_PORT=%d", freeTCPPort(t)),
		"ROLLIN_PROCESS_TEST_POLL=50ms",
		"ROLLIN_LOG_LEVEL=warn",
	)
	start := func() *devProcess {
		t.Helper()
		p := &devProcess{cmd: exec.Command(bin, "dev"), output: &lockedBuffer{}, exited: make(chan error, 1)}
		p.cmd.Env = env
		pr, pw := io.Pipe()
		p.cmd.Stdout, p.cmd.Stderr = pw, pw
		require.NoError(t, p.cmd.Start())
		ready := make(chan struct{})
		go func() {
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				p.output.WriteString(sc.Text() + "\n")
				if strings.Contains(sc.Text(), "rollin start --service") { // the banner's last line
					close(ready)
				}
			}
		}()
		go func() { p.exited <- p.cmd.Wait(); _ = pw.Close() }()
		t.Cleanup(func() { _ = p.cmd.Process.Kill() })
		select {
		case <-ready:
		case err := <-p.exited:
			t.Fatalf("rollin dev exited before it was ready: %v\n%s", err, p.output)
		case <-time.After(2 * time.Minute):
			t.Fatalf("rollin dev not ready after 2 minutes:\n%s", p.output)
		}
		return p
	}
	stop := func(p *devProcess) {
		t.Helper()
		require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
		select {
		case err := <-p.exited:
			require.NoError(t, err, "rollin dev should exit cleanly on SIGTERM:\n%s", p.output)
		case <-time.After(time.Minute):
			t.Fatalf("rollin dev did not stop within a minute of SIGTERM:\n%s", p.output)
		}
	}

	first := start()
	require.Contains(t, first.output.String(), "http://"+httpAddr+"/api/v1")
	require.Contains(t, first.output.String(), config.DevTokensFile, "it says where the generated tokens are")
	raw, err := os.ReadFile(filepath.Join(dataDir, config.DevTokensFile))
	require.NoError(t, err)
	var tokens []config.Token
	require.NoError(t, yaml.Unmarshal(raw, &tokens))
	tok := map[domain.Role]string{}
	for _, tk := range tokens {
		tok[tk.Role] = tk.Token
		require.Contains(t, first.output.String(), tk.Token, "the banner prints every token")
	}
	const ars = "055150000000" // Münster: the generated municipality token's ARS
	c := devClient{t: t, base: "http://" + httpAddr, tokens: tok}

	code, body := c.do(domain.RolePM, http.MethodPost, "/api/v1/rollins", map[string]string{"ars": ars, "service": wohngeld})
	require.Equal(t, http.StatusCreated, code, body)
	c.waitFor(ars, func(st domain.RunStatus) bool {
		return st.WaitingFor != nil && st.WaitingFor.Step == workflows.StepFrameworkAgreement
	})
	c.act(domain.RoleMunicipality, ars, workflows.ActionSignAgreement, nil)

	stop(first)
	second := start()
	defer stop(second)

	st := c.waitFor(ars, func(st domain.RunStatus) bool { return st.WaitingFor != nil })
	require.Equal(t, workflows.StepCallOff, st.WaitingFor.Step, "the run went on where it was")
	c.act(domain.RoleMunicipality, ars, workflows.ActionSignAgreement, nil)
	c.act(domain.RolePM, ars, workflows.ActionCountersignAgreement, nil)
	c.waitFor(ars, func(st domain.RunStatus) bool {
		return st.WaitingFor != nil && st.WaitingFor.Step == workflows.StepConnectionData
	})
	c.act(domain.RoleMunicipality, ars, workflows.ActionSubmitConnectionData, map[string]any{
		"contact_email": "wohngeld@stadt-muenster.example", "fachverfahren": "OK.SOZIUS", "transport": "fit-connect", "org_unit_id": "OE-12",
	})
	c.waitFor(ars, func(st domain.RunStatus) bool {
		return st.WaitingFor != nil && st.WaitingFor.Step == workflows.StepTestConfirmation
	})
	c.act(domain.RoleMunicipality, ars, workflows.ActionConfirmTest, map[string]any{"received": true})
	st = c.waitFor(ars, func(st domain.RunStatus) bool { return st.State.Final() })
	require.Equal(t, domain.RunLive, st.State)
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

// devClient talks to a `rollin dev` process over HTTP.
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
	resp, err := http.DefaultClient.Do(req)
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
