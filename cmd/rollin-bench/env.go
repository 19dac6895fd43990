package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.uber.org/zap"

	"github.com/rollin-efa/rollin/api"
	"github.com/rollin-efa/rollin/auth"
	"github.com/rollin-efa/rollin/catalog"
	"github.com/rollin-efa/rollin/cmd/internal/compose"
	"github.com/rollin-efa/rollin/config"
	"github.com/rollin-efa/rollin/devsim"
	"github.com/rollin-efa/rollin/devtemporal"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/logging"
	"github.com/rollin-efa/rollin/register"
	"github.com/rollin-efa/rollin/starter"
	"github.com/rollin-efa/rollin/store"
	"github.com/rollin-efa/rollin/worker"
)

// The tokens of the benchmark's API, which listens on 127.0.0.1 only and lives as long as
// the benchmark.
//
// #nosec G101 -- fixed test tokens of a throwaway loopback API, not credentials of any installation
const (
	pmToken       = "bench-pm-token-0123456789"
	operatorToken = "bench-operator-token-0123456789"
)

// Principals the benchmark acts as through the starter.
var pm = starter.Principal{Name: "bench", Role: domain.RolePM}

// env is one Rollin as `rollin-dev` assembles it — embedded Temporal server, PostgreSQL
// read model, simulators, worker, starter and API — with the autopilot attached.
type env struct {
	log      *zap.Logger
	cfg      config.Config
	dir      string
	temporal *devtemporal.Server
	client   client.Client
	store    *store.Store
	sims     *devsim.Systems
	worker   sdkworker.Worker
	starter  *starter.Service
	pilot    *devsim.Autopilot
	http     *http.Server
	apiURL   string
	// ars is the register in ARS order.
	ars []domain.ARS
	// bulkConcurrency is the --concurrency of the bulk retry.
	bulkConcurrency int
}

// benchServices are copies of the Wohngeld Steckbrief under synthetic keys, one per part
// of the benchmark, so the parts never meet each other's runs.
var benchServices = map[string]domain.ServiceKey{
	"campaign":  "99999100000001",
	"incidents": "99999100000002",
	"waiting":   "99999100000003",
	"register":  "99999100000004",
}

func newEnv(ctx context.Context, o options, log *zap.Logger) (*env, error) {
	cfg, err := config.Load(nil)
	if err != nil {
		return nil, err
	}
	cfg.Database.URL = o.databaseURL
	cfg.Temporal.TaskQueue = "rollin-bench"
	cfg.Temporal.EmbeddedDatabaseURL = o.temporalDatabaseURL
	// Fast retries, so the incident part needs seconds, and a short poll of the test
	// submission (the simulators answer at once).
	cfg.Process.CallAttempts = 3
	cfg.Process.RetryInitial = 10 * time.Millisecond
	cfg.Process.RetryMax = 50 * time.Millisecond
	cfg.Process.TestPoll = 100 * time.Millisecond

	e := &env{log: log, cfg: cfg, bulkConcurrency: o.bulkConcurrency}
	ok := false
	defer func() {
		if !ok {
			e.close()
		}
	}()
	if e.dir, err = os.MkdirTemp("", "rollin-bench-"); err != nil {
		return nil, err
	}
	if err := store.DropDatabase(ctx, cfg.Database.URL); err != nil {
		return nil, err
	}
	if o.temporalDatabaseURL != "" {
		if err := store.DropDatabase(ctx, o.temporalDatabaseURL); err != nil {
			return nil, err
		}
	}
	if e.store, err = store.Open(ctx, cfg.Database.URL, log.Named("store")); err != nil {
		return nil, err
	}
	if err := e.seed(ctx); err != nil {
		return nil, err
	}
	e.cfg.DataDir = e.dir // the development FIT-Connect subscriber's certificate goes here
	if err := devsim.AddDevClients(&e.cfg); err != nil {
		return nil, err
	}
	if e.sims, err = devsim.Start(&e.cfg, ""); err != nil { // in memory: the benchmarks measure Rollin
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	e.temporal, err = devtemporal.Start(ctx, devtemporal.Config{
		DataDir: filepath.Join(e.dir, "temporal"), Namespace: "default", Port: port,
		PostgresURL: cfg.Temporal.EmbeddedDatabaseURL, Logger: log.Named("temporal-server"),
	})
	if err != nil {
		return nil, fmt.Errorf("start embedded Temporal: %w", err)
	}
	e.client, err = client.Dial(client.Options{
		HostPort: e.temporal.Address(), Namespace: "default", Logger: logging.Temporal(zap.NewNop()), // activity failures of the incident part are expected
	})
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal: %w", err)
	}
	if err := e.startWorker(); err != nil {
		return nil, err
	}
	e.starter = starter.New(e.client, e.store, cfg.Temporal.TaskQueue, compose.WorkflowOptions(cfg.Process))
	e.pilot = devsim.NewAutopilot(devsim.AutopilotConfig{Enabled: true, Concurrency: 64}, e.starter, log)
	e.sims.Municipality.Sim.SetListener(e.pilot)

	tokens, err := auth.NewTokens([]auth.Token{
		{Name: "bench-pm", Role: domain.RolePM, Token: pmToken},
		{Name: "bench-operator", Role: domain.RoleOperator, Token: operatorToken},
	})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e.apiURL = "http://" + ln.Addr().String()
	e.http = &http.Server{Handler: api.New(e.starter, tokens, func(context.Context) error { return nil }, log.Named("api")),
		ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := e.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("api stopped", zap.Error(err))
		}
	}()
	ok = true
	return e, nil
}

// seed loads the demo catalogue, the benchmark's services and the whole register.
func (e *env) seed(ctx context.Context) error {
	services := catalog.Demo()
	var wohngeld domain.Service
	for i := range services {
		services[i].ActivationDates = nil
		if services[i].Key == "99107023037000" {
			wohngeld = services[i]
		}
	}
	for part, key := range benchServices {
		s := wohngeld
		s.Key, s.Name = key, "Benchmark "+part+" (Kopie von "+wohngeld.Name+", in allen Ländern)"
		// Offered in every Land, so the whole register can go live (the real Wohngeld
		// service is not offered in three Länder, whose runs would end blocked).
		s.Lands = nil
		for l := 1; l <= 16; l++ {
			s.Lands = append(s.Lands, fmt.Sprintf("%02d", l))
		}
		services = append(services, s)
	}
	if err := e.store.UpsertServices(ctx, services); err != nil {
		return err
	}
	reg, err := register.Embedded()
	if err != nil {
		return err
	}
	if _, err := e.store.UpsertMunicipalities(ctx, reg.Municipalities); err != nil {
		return err
	}
	for _, m := range reg.Municipalities {
		e.ars = append(e.ars, m.ARS)
	}
	slices.Sort(e.ars)
	return nil
}

// startWorker starts the in-process Rollin worker as `rollin-dev` does.
func (e *env) startWorker() error {
	acts, err := compose.Activities(e.cfg, e.store, nil, nil)
	if err != nil {
		return err
	}
	e.worker = worker.New(e.client, e.cfg.Temporal.TaskQueue, acts, worker.Options{})
	return e.worker.Start()
}

func (e *env) stopWorker() {
	if e.worker != nil {
		e.worker.Stop()
		e.worker = nil
	}
}

func (e *env) close() {
	if e.http != nil {
		_ = e.http.Close()
	}
	if e.pilot != nil {
		e.pilot.Stop()
	}
	e.stopWorker()
	if e.client != nil {
		e.client.Close()
	}
	if e.temporal != nil {
		_ = e.temporal.Stop()
	}
	if e.sims != nil {
		e.sims.Close()
	}
	if e.store != nil {
		e.store.Close()
	}
	if e.dir != "" {
		_ = os.RemoveAll(e.dir)
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
