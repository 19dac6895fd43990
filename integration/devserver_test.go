package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/rollin-efa/rollin/devtemporal"
	"github.com/rollin-efa/rollin/store/storetest"
)

const (
	restartCheckNamespace = "rollin-restart-check"
	restartCheckQueue     = "restart-check"
	restartCheckTimer     = 20 * time.Second
)

// restartCheckWorkflow waits on a durable timer, then runs one activity, so that after a
// restart both the timer queue (history) and task dispatch (matching) must work from what
// was persisted.
func restartCheckWorkflow(ctx workflow.Context) (string, error) {
	if err := workflow.Sleep(ctx, restartCheckTimer); err != nil {
		return "", err
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var out string
	err := workflow.ExecuteActivity(ctx, restartCheckActivity).Get(ctx, &out)
	return out, err
}

func restartCheckActivity(context.Context) (string, error) { return "done", nil }

// TestDevServerKeepsRunsAcrossRestart starts the embedded dev server, starts a workflow that
// sleeps on a 20 s durable timer, stops server and worker while the timer is pending, starts
// both again on the same state and port, and expects the workflow to finish and to be listed
// as completed by visibility. It does so once per persistence, SQLite in a data dir and
// PostgreSQL in a fresh database, and takes about 22 s for each.
func TestDevServerKeepsRunsAcrossRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("takes ~45s (a 20s durable timer per persistence)")
	}
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) devtemporal.Config
	}{
		{"sqlite", func(t *testing.T) devtemporal.Config {
			return devtemporal.Config{DataDir: t.TempDir() + "/data"} // missing on purpose: Start creates it
		}},
		{"postgres", func(t *testing.T) devtemporal.Config {
			// The database is missing on purpose too: Start creates it and sets up the schema,
			// and the restart must find both and leave them alone.
			return devtemporal.Config{PostgresURL: temporalTestDatabaseURL(t)}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.store(t)
			cfg.Namespace = restartCheckNamespace
			cfg.Port = freeTCPPort(t) // not 7233, which a developer's own server may hold
			checkRestartKeepsRun(t, cfg)
		})
	}
}

// checkRestartKeepsRun is TestDevServerKeepsRunsAcrossRestart on the persistence of cfg.
func checkRestartKeepsRun(t *testing.T, cfg devtemporal.Config) {
	ctx := t.Context()

	startAll := func() (*devtemporal.Server, client.Client, worker.Worker) {
		t.Helper()
		srv, err := devtemporal.Start(ctx, cfg)
		require.NoError(t, err)
		c, err := client.Dial(client.Options{HostPort: srv.Address(), Namespace: cfg.Namespace})
		require.NoError(t, err)
		w := worker.New(c, restartCheckQueue, worker.Options{})
		w.RegisterWorkflow(restartCheckWorkflow)
		w.RegisterActivity(restartCheckActivity)
		require.NoError(t, w.Start())
		return srv, c, w
	}
	stopAll := func(srv *devtemporal.Server, c client.Client, w worker.Worker) {
		t.Helper()
		w.Stop() // workers first: they would log poll errors while the server goes away
		c.Close()
		require.NoError(t, srv.Stop())
	}

	// First life: start the workflow and wait until its timer is persisted.
	srv, c, w := startAll()
	started := time.Now()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        "restart-check",
		TaskQueue: restartCheckQueue,
	}, restartCheckWorkflow)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		it := c.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				return false
			}
			if e.GetEventType() == enumspb.EVENT_TYPE_TIMER_STARTED {
				return true
			}
		}
		return false
	}, 10*time.Second, 100*time.Millisecond, "timer never started")
	stopAll(srv, c, w)
	require.Less(t, time.Since(started), restartCheckTimer/2, "restart must happen while the timer is pending")

	// Second life, same state and port: the run must be there and finish.
	srv, c, w = startAll()
	defer stopAll(srv, c, w)
	waitCtx, cancel := context.WithTimeout(ctx, restartCheckTimer+30*time.Second)
	defer cancel()
	var out string
	require.NoError(t, c.GetWorkflow(waitCtx, run.GetID(), run.GetRunID()).Get(waitCtx, &out))
	require.Equal(t, "done", out)
	require.GreaterOrEqual(t, time.Since(started), restartCheckTimer, "the timer must not fire early")

	// Visibility, a store of its own (a schema of its own in PostgreSQL), saw it close too.
	// It is updated asynchronously, hence the wait.
	require.Eventually(t, func() bool {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: cfg.Namespace,
			Query:     "WorkflowId = '" + run.GetID() + "'",
		})
		return err == nil && len(resp.GetExecutions()) == 1 &&
			resp.GetExecutions()[0].GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
	}, 10*time.Second, 100*time.Millisecond, "visibility never listed the run as completed")
}

// temporalTestDatabaseURL returns the URL of a database with a fresh random name
// (rollin_test_temporal_<hex>) on the test server of storetest, without creating it, and
// drops it (WITH (FORCE), in case a pool is still open) when the test ends.
func temporalTestDatabaseURL(t *testing.T) string {
	t.Helper()
	adminURL := storetest.AdminURL()
	u, err := url.Parse(adminURL)
	require.NoError(t, err)
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "rollin_test_temporal_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u.Path, u.RawPath = "/"+name, ""
	return u.String()
}

// freeTCPPort returns a loopback port that was free a moment ago.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestTemporalWebUIShowsRunsOfTheDevServer serves Temporal's Web UI as `rollin-dev
// --temporal-ui` does, against the embedded dev server, and asks it, as the browser would,
// for the UI's page and, through the UI's API, for a workflow started on the server: the
// UI must show what Temporal holds, not only its own page.
func TestTemporalWebUIShowsRunsOfTheDevServer(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv, err := devtemporal.Start(ctx, devtemporal.Config{DataDir: t.TempDir(), Port: freeTCPPort(t), Namespace: "rollin-ui-check"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Stop() })
	c, err := client.Dial(client.Options{HostPort: srv.Address(), Namespace: "rollin-ui-check"})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "rollin/055150000000/99107023037000", TaskQueue: "no-worker"}, restartCheckWorkflow)
	require.NoError(t, err)

	ui, err := devtemporal.StartUI(ctx, devtemporal.UIConfig{Addr: fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t)), Frontend: srv.Address(), Namespace: "rollin-ui-check"})
	require.NoError(t, err)
	t.Cleanup(ui.Stop)

	get := func(path string) (int, string, string) {
		resp, err := http.Get(ui.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
	}
	status, ctype, body := get("/")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, ctype, "text/html")
	require.Contains(t, body, "<html")

	query := url.Values{"query": {"WorkflowId = '" + run.GetID() + "'"}}
	require.Eventually(t, func() bool {
		status, _, body = get("/api/v1/namespaces/rollin-ui-check/workflows?" + query.Encode())
		return status == http.StatusOK && strings.Contains(body, run.GetRunID())
	}, 10*time.Second, 100*time.Millisecond, "the UI's API never listed the workflow: %d %s", status, body)
	require.Contains(t, body, "restartCheckWorkflow", "the workflow's type, as Temporal recorded it")

	_, err = devtemporal.StartUI(ctx, devtemporal.UIConfig{Addr: "127.0.0.1", Frontend: srv.Address()})
	require.ErrorContains(t, err, "want host:port")
}
