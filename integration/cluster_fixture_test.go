package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/store/storetest"
	"github.com/rollin-efa/rollin/systems/simulator"
)

// cluster is a Rollin installation of separate OS processes, as docs/deploy.md describes
// it for one machine: `rollin-dev temporal`, `rollin-dev simulators --autopilot`, `rollin serve`
// and any number of `rollin worker`, sharing one configuration file and one database.
type cluster struct {
	t       *testing.T
	cfgFile string
	dbURL   string
	db      *pgx.Conn
	simAddr map[simulator.Kind]string
	// shared is the environment every process started after Temporal gets: the addresses
	// of Temporal and the simulators.
	shared  []string
	apiAddr string
	api     devClient
	serve   *process
	sims    *process
	workers map[string]*process
	// workerAddr is each worker's health (and metrics) address, by identity.
	workerAddr map[string]string
	// procs are all processes started, the killed ones included, for the log scan.
	procs []*process
}

// clusterTokens are the API tokens of every cluster.
var clusterTokens = map[domain.Role]string{
	domain.RolePM: "cluster-pm-token-0123456789", domain.RoleOperator: "cluster-op-token-0123456789",
}

// The FIT-Connect subscriber's secrets, which no process may log.
const (
	clusterClientSecret   = "cluster-fit-connect-client-secret-0123"
	clusterCallbackSecret = "cluster-fit-connect-callback-secret-0123456789"
	clusterSenderSecret   = "cluster-fit-connect-sender-secret-0123"
)

// startCluster installs Rollin (migrate, register, catalogue) and starts Temporal, the
// simulators on autopilot, the API server and the named workers. extraConfig is YAML
// appended to the shared configuration file (top-level keys not set here, such as log).
func startCluster(t *testing.T, workers []string, extraConfig string) *cluster {
	t.Helper()
	dir := t.TempDir()
	c := &cluster{t: t, dbURL: storetest.NewDatabase(t), simAddr: map[simulator.Kind]string{}, workers: map[string]*process{}}
	certFile := filepath.Join(dir, "encryption-cert.pem")
	certPEM, keyPEM := encryptionCert(t)
	require.NoError(t, os.WriteFile(certFile, certPEM, 0o600))
	keyFile := filepath.Join(dir, "encryption-key.pem")
	require.NoError(t, os.WriteFile(keyFile, keyPEM, 0o600))
	// One configuration file for every process, as an installation would have it; what
	// differs per process, and the addresses that are known only once the processes run,
	// come from the environment.
	c.cfgFile = filepath.Join(dir, "rollin.yaml")
	require.NoError(t, os.WriteFile(c.cfgFile, []byte(fmt.Sprintf(`
data_dir: %[1]s
database:
  url: %[2]s
temporal:
  worker_stop_timeout: 20s
fitconnect:
  subscribers:
    - ars: ""
      client_id: cluster-subscriber
      client_secret: %[5]s
      encryption_cert_file: %[6]s
      callback_url: https://fachverfahren.example/fit-connect/callback
      callback_secret: %[7]s
  sender: {client_id: cluster-sender, client_secret: %[8]s}
simulators:
  # The simulated receiving system decrypts and checks each test submission.
  fitconnect_receiver_keys: [%[9]s]
auth:
  tokens:
    - {name: pm, role: pm, token: %[3]s}
    - {name: op, role: operator, token: %[4]s}
process:
  test_poll: 50ms
  # A routing check cut off by a killed worker is tried again after one poll interval.
  routing_poll: 1s
`, filepath.Join(dir, "data"), c.dbURL, clusterTokens[domain.RolePM], clusterTokens[domain.RoleOperator],
		clusterClientSecret, certFile, clusterCallbackSecret, clusterSenderSecret, keyFile)+extraConfig), 0o600))

	bin, err := rollinBinary()
	require.NoError(t, err)
	// The installation steps: schema, register, catalogue.
	for _, step := range [][]string{
		c.args("migrate"),
		c.args("municipalities import", "../register/data/AuszugGV4QAktuell.csv", "--kreise", "../register/data/kreise-2019-destatis.csv"),
		c.args("services import", "../catalog/demo.json"),
	} {
		out, err := exec.Command(bin, step...).CombinedOutput()
		require.NoError(t, err, "rollin %v: %s", step, out)
	}

	// A port picked here may be taken by another test before the process binds it, so it
	// is picked just before; the simulators pick their own and print them.
	port := freeTCPPort(t)
	c.shared = []string{fmt.Sprintf("ROLLIN_TEMPORAL_ADDRESS=127.0.0.1:%d", port), fmt.Sprintf("ROLLIN_TEMPORAL_EMBEDDED_PORT=%d", port)}
	temporal := c.start("rollin-dev temporal", c.env(), "Temporal on", c.args("temporal")...)
	t.Cleanup(temporal.stop)
	c.sims = c.start("rollin-dev simulators", c.env(), "fitconnect.token_url:",
		c.args("simulators", "--autopilot", "--autopilot-delay", "50ms")...)
	c.useSimulators(c.sims.output.String())
	t.Cleanup(c.sims.stop)
	c.apiAddr = fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	c.serve = c.start("rollin serve", c.env("ROLLIN_HTTP_ADDR="+c.apiAddr, "ROLLIN_HTTP_SHUTDOWN_DELAY=2s"), "Rollin API on", c.args("serve")...)
	for _, id := range workers {
		c.startWorker(id)
	}
	c.api = devClient{t: t, base: "http://" + c.apiAddr, tokens: clusterTokens}
	c.db, err = pgx.Connect(context.Background(), c.dbURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.db.Close(context.Background()) })
	return c
}

// args is a rollin command line with the cluster's configuration file.
func (c *cluster) args(cmd string, more ...string) []string {
	return append(append(strings.Fields(cmd), "--config", c.cfgFile), more...)
}

// env is the environment of one process: its own health/API port, the shared addresses,
// plus extra.
func (c *cluster) env(extra ...string) []string {
	env := append(os.Environ(), fmt.Sprintf("ROLLIN_HTTP_ADDR=127.0.0.1:%d", freeTCPPort(c.t)))
	return append(append(env, c.shared...), extra...)
}

// useSimulators reads the simulators' addresses from what `rollin-dev simulators` printed and
// hands them to the processes started after it.
func (c *cluster) useSimulators(out string) {
	c.t.Helper()
	for key, kind := range map[string]simulator.Kind{
		"systems.provider_url": simulator.Provider, "systems.state_url": simulator.State,
		"systems.municipality_url": simulator.Municipality, "fitconnect.submission_url": simulator.FitConnectKind,
		"fitconnect.token_url": "",
	} {
		m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(key) + `:\s*(http://\S+)\s*$`).FindStringSubmatch(out)
		require.NotNil(c.t, m, "rollin-dev simulators printed no %s:\n%s", key, out)
		if kind != "" {
			c.simAddr[kind] = strings.TrimPrefix(m[1], "http://")
		}
		c.shared = append(c.shared, "ROLLIN_"+strings.ToUpper(strings.NewReplacer(".", "_").Replace(key))+"="+m[1])
	}
}

// startWorker starts a `rollin worker` with identity id (replacing a dead one of that id).
func (c *cluster) startWorker(id string) {
	if c.workerAddr == nil {
		c.workerAddr = map[string]string{}
	}
	c.workerAddr[id] = fmt.Sprintf("127.0.0.1:%d", freeTCPPort(c.t))
	c.workers[id] = c.start("rollin worker "+id, c.env("ROLLIN_HTTP_ADDR="+c.workerAddr[id], "ROLLIN_TEMPORAL_WORKER_IDENTITY="+id),
		"worker running", c.args("worker")...)
}

func (c *cluster) start(name string, env []string, readyLine string, args ...string) *process {
	p := startRollin(c.t, name, env, readyLine, args...)
	c.procs = append(c.procs, p)
	return p
}

// secretPatterns find what must never reach a log: e-mail addresses (the questionnaire's
// contact) and IBANs (its payment account). The API tokens are checked literally.
var secretPatterns = []*regexp.Regexp{
	regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`),
	regexp.MustCompile(`\bDE\d{2} ?(\d{4} ?){4}\d{2}\b`),
}

// requireNoSecretsInLogs scans the output of every process of the cluster and returns how
// many lines it scanned.
func (c *cluster) requireNoSecretsInLogs() int {
	c.t.Helper()
	lines := 0
	for _, p := range c.procs {
		out := p.output.String()
		lines += strings.Count(out, "\n")
		for role, token := range clusterTokens {
			require.NotContains(c.t, out, token, "%s logged the %s token", p.name, role)
		}
		require.NotContains(c.t, out, clusterClientSecret, "%s logged the FIT-Connect client secret", p.name)
		require.NotContains(c.t, out, clusterCallbackSecret, "%s logged the FIT-Connect callback secret", p.name)
		require.NotContains(c.t, out, clusterSenderSecret, "%s logged the FIT-Connect sender secret", p.name)
		for _, re := range secretPatterns {
			require.Empty(c.t, re.FindAllString(out, 3), "%s logged personal data", p.name)
		}
	}
	return lines
}

// startCampaign starts a campaign of Wohngeld through the API.
func (c *cluster) startCampaign(req map[string]any) domain.CampaignProgress {
	c.t.Helper()
	code, body := c.api.do(domain.RolePM, http.MethodPost, "/api/v1/campaigns", req)
	require.Equal(c.t, http.StatusCreated, code, body)
	var p domain.CampaignProgress
	require.NoError(c.t, json.Unmarshal([]byte(body), &p))
	return p
}

// progress reads a campaign's progress through the API.
func (c *cluster) progress(id string) domain.CampaignProgress {
	c.t.Helper()
	code, body := c.api.do(domain.RolePM, http.MethodGet, "/api/v1/campaigns/"+id, nil)
	require.Equal(c.t, http.StatusOK, code, body)
	var p domain.CampaignProgress
	require.NoError(c.t, json.Unmarshal([]byte(body), &p))
	return p
}

// waitAllLive waits until every run of the campaign is live, failing after d.
func (c *cluster) waitAllLive(id string, total int, d time.Duration) {
	c.t.Helper()
	for deadline := time.Now().Add(d); ; time.Sleep(250 * time.Millisecond) {
		p := c.progress(id)
		if p.Runs[string(domain.RunLive)] == total {
			return
		}
		require.True(c.t, time.Now().Before(deadline), "not all %d runs live within %s: %+v\nthe autopilot's failures:\n%s",
			total, d, p.Runs, lastLines(c.sims.output.String(), "failed", 20))
	}
}

// lastLines returns the last n lines of out that contain substr.
func lastLines(out, substr string, n int) string {
	var hits []string
	for line := range strings.Lines(out) {
		if strings.Contains(line, substr) {
			hits = append(hits, line)
		}
	}
	return strings.Join(hits[max(0, len(hits)-n):], "")
}

// eventsByWorker counts audit events by the worker that recorded them, with the time of
// each worker's last event.
func (c *cluster) eventsByWorker() (map[string]int, map[string]time.Time) {
	c.t.Helper()
	rows, err := c.db.Query(context.Background(), `SELECT worker, count(*), max(at) FROM audit_events GROUP BY worker`)
	require.NoError(c.t, err)
	n, last := map[string]int{}, map[string]time.Time{}
	for rows.Next() {
		var (
			w  string
			k  int
			at time.Time
		)
		require.NoError(c.t, rows.Scan(&w, &k, &at))
		n[w], last[w] = k, at
	}
	require.NoError(c.t, rows.Err())
	return n, last
}

// eventsAfterKill counts the audit events by worker once the killed worker's count holds
// still for half a second: a write it sent just before it was killed may still commit in
// PostgreSQL a moment after the kill.
func (c *cluster) eventsAfterKill(killed string) map[string]int {
	c.t.Helper()
	prev, _ := c.eventsByWorker()
	for deadline := time.Now().Add(time.Minute); ; {
		require.True(c.t, time.Now().Before(deadline), "%s's audit events still growing a minute after it was killed", killed)
		time.Sleep(500 * time.Millisecond)
		cur, _ := c.eventsByWorker()
		if cur[killed] == prev[killed] {
			return cur
		}
		prev = cur
	}
}

// requireEffectsOnce reads every simulator's counters and requires each effect applied
// exactly once. It returns how many effects of each operation there were (e.g.
// "create-tenant": 396).
func (c *cluster) requireEffectsOnce() map[string]int {
	c.t.Helper()
	perOp := map[string]int{}
	for kind, addr := range c.simAddr {
		resp, err := http.Get("http://" + addr + "/_sim/counters")
		require.NoError(c.t, err)
		var counters simulator.Counters
		require.NoError(c.t, json.NewDecoder(resp.Body).Decode(&counters))
		_ = resp.Body.Close()
		for effect, n := range counters.Effects {
			require.Equal(c.t, 1, n, "%s simulator applied %q %d times", kind, effect, n)
			perOp[strings.Fields(effect)[0]]++
		}
	}
	return perOp
}
