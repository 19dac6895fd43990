// Package devtemporal runs a whole Temporal server (frontend, history, matching and the
// internal worker service) inside the calling process, with its state in one SQLite file or,
// optionally, in a PostgreSQL database. It exists for `rollin-dev`: a developer gets Temporal
// without Docker or a separate `temporal server start-dev`, and workflows that were running
// when `rollin-dev` stopped carry on when it starts again on the same data directory (or
// database).
//
// It is not meant for production: there is no authentication, and with SQLite one writer at
// a time and a single history shard. PostgreSQL lifts the write limit for load tests on one
// machine (see Config.PostgresURL).
//
// Importing this package links the Temporal server into the binary: a stripped SDK worker
// grows from about 21 MB to about 150 MB, and a cold build takes minutes. Keep the import in
// the command that needs it, and out of packages that unit tests import.
package devtemporal

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

const (
	// DBFileName is the name of the SQLite file inside Config.DataDir. SQLite keeps two
	// companions next to it while it is open in WAL mode (temporal.db-wal and temporal.db-shm);
	// the three together are the state, so copy or delete them together.
	DBFileName = "temporal.db"

	// DefaultHost and DefaultPort are where the frontend listens when Config leaves them
	// empty: the same address as `temporal server start-dev`, so the temporal CLI and the
	// SDK defaults find it without flags.
	DefaultHost = "127.0.0.1"
	DefaultPort = 7233

	// clusterName is written into the cluster metadata and into every namespace's
	// replication config the first time a data dir is used. Changing it would leave existing
	// namespaces "active" in a cluster that no longer exists, so it is a constant.
	clusterName = "active"

	// numHistoryShards is persisted in the cluster metadata on first start; the server warns
	// and keeps the persisted value if the config disagrees. One shard is plenty for a
	// developer machine and keeps SQLite writes few. PostgreSQL has postgresHistoryShards.
	numHistoryShards = 1

	// readyTimeout bounds how long Start waits, after the services have started, for the
	// frontend to answer for the namespace. On a cold start it is usually well under a second.
	readyTimeout = 30 * time.Second

	// serverLogLevel is the least severe server log that reaches Config.Logger. At info the
	// server logs dozens of lines at start and on every shard or task-queue movement, which
	// drowns the application's own output; warnings and errors are what a developer needs.
	serverLogLevel = zapcore.WarnLevel
)

// Config of the embedded server.
type Config struct {
	// DataDir holds the server state: the SQLite file lives at DataDir/temporal.db. The
	// directory is created (0700) if it is missing. Removing it resets Temporal to nothing.
	// It is required unless PostgresURL is set, and unused when it is.
	DataDir string
	// PostgresURL, if set, keeps the server state in this PostgreSQL database
	// (postgres://user[:password]@host[:port]/database[?params]) instead of SQLite. SQLite
	// has a single connection, which caps the server near a thousand busy workflows; use
	// PostgreSQL to load-test beyond that on one machine. Empty keeps SQLite.
	//
	// Start creates the database if it is missing (connecting to the "postgres" maintenance
	// database of the same server), sets up Temporal's schema on first use (the default
	// store in the "public" schema, the visibility store in the "temporal_visibility" schema
	// of the same database) and applies only missing schema versions on later starts, so a
	// restart on the same database keeps every workflow. Give Temporal a database of its own:
	// its table names (namespaces, tasks, queue, ...) would clash with an application's.
	//
	// The server uses 4 history shards here (SQLite: 1), so that history works on several
	// workflows at once. The shard count is persisted at the first start on a database and
	// must never change afterwards; to change it, drop the database. Each service keeps its
	// own pool of up to 20 connections per store: an idle server holds about 40, and under
	// heavy load the total can pass PostgreSQL's default max_connections of 100. URL
	// parameters go to the driver (pgx); sslmode defaults to prefer, as with libpq.
	PostgresURL string
	// Namespace is registered at every start. Registration writes straight to the database
	// before the server starts and does nothing if the namespace already exists, so it is
	// safe on an existing data dir. Its retention is 24 hours: closed workflows disappear
	// from the UI and the CLI a day after they finish.
	Namespace string
	// Host is the IP address the frontend binds to; default 127.0.0.1. Use "0.0.0.0" only if
	// a container or another machine must reach it: there is no authentication.
	Host string
	// Port is the frontend gRPC port; default 7233. Keep it the same across restarts: the
	// cluster address is persisted with the cluster metadata (the server rewrites it when it
	// changes, but workers and tools configured with the old port will not find the server).
	// History, matching and the internal worker service listen on free ports chosen at each
	// start on 127.0.0.1; they are internal, so they need not be stable.
	Port int
	// Logger receives the server's own logs, warnings and above only. Nil writes them to
	// stderr. Note that the server logs at Fatal for some start-up failures (a port it
	// cannot bind, for one), and zap ends the process after a Fatal log.
	Logger *zap.Logger
}

// Server is a running embedded Temporal server. Stop it before the process exits so that
// in-flight work finishes cleanly; a crash loses nothing that was acknowledged (SQLite
// replays its WAL on the next open, PostgreSQL its own log, and the server resumes timers
// and tasks from the database).
type Server struct {
	srv      temporal.Server
	addr     string
	logLevel zap.AtomicLevel // of the server's logs; raised while stopping
	stopOnce sync.Once
	stopErr  error
}

// Start opens (or creates) the database under cfg.DataDir, or the PostgreSQL database of
// cfg.PostgresURL, registers cfg.Namespace, starts all Temporal services and returns once
// the frontend answers a DescribeNamespace for cfg.Namespace, so that callers can dial and
// start workers right away.
//
// ctx bounds the whole start. If it ends while the services are still starting, Start
// returns ctx.Err() and stops the server in the background once its start has finished
// (the server's own start cannot be interrupted).
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := cfg.applyDefaults(); err != nil {
		return nil, err
	}
	var pg *postgresStore
	if cfg.PostgresURL != "" {
		var err error
		if pg, err = parsePostgresURL(cfg.PostgresURL); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("devtemporal: create data dir: %w", err)
	}
	// The server reports a port it cannot bind with a Fatal log, which exits the process;
	// checking first turns the common case (another Temporal on 7233) into an error.
	if err := checkPortFree(cfg.Host, cfg.Port); err != nil {
		return nil, err
	}

	var store config.Persistence
	if pg != nil {
		if err := pg.prepare(ctx, cfg.Namespace); err != nil {
			return nil, err
		}
		store = pg.persistence()
	} else {
		sqlCfg := sqlConfig(filepath.Join(cfg.DataDir, DBFileName))
		if err := prepareDB(sqlCfg, cfg.Namespace); err != nil {
			return nil, err
		}
		store = sqlitePersistence(sqlCfg)
	}

	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	dialHost := cfg.Host
	if ip := net.ParseIP(dialHost); ip.IsUnspecified() {
		// Bound on all interfaces; the internal worker service and our readiness check still
		// dial loopback.
		dialHost = DefaultHost
	}
	addr := net.JoinHostPort(dialHost, strconv.Itoa(cfg.Port))
	srvCfg := serverConfig(cfg, store, addr, ports)
	logLevel := zap.NewAtomicLevelAt(serverLogLevel)

	srv, err := temporal.NewServer(
		temporal.WithConfig(srvCfg),
		temporal.ForServices(temporal.DefaultServices),
		// Static membership: every service is in this process, so ringpop's gossip (and its
		// membership ports and join delay) would be pure overhead.
		temporal.WithStaticHosts(map[primitives.ServiceName]static.Hosts{
			primitives.FrontendService: static.SingleLocalHost(addr),
			primitives.HistoryService:  static.SingleLocalHost(loopback(ports[0])),
			primitives.MatchingService: static.SingleLocalHost(loopback(ports[1])),
			primitives.WorkerService:   static.SingleLocalHost(loopback(ports[2])),
		}),
		temporal.WithLogger(serverLogger(cfg.Logger, logLevel)),
		temporal.WithDynamicConfigClient(dynamicConfig()),
	)
	if err != nil {
		return nil, fmt.Errorf("devtemporal: create server: %w", err)
	}

	s := &Server{srv: srv, addr: addr, logLevel: logLevel}
	started := make(chan error, 1)
	go func() { started <- srv.Start() }()
	select {
	case err := <-started:
		if err != nil {
			return nil, fmt.Errorf("devtemporal: start server: %w", err)
		}
	case <-ctx.Done():
		go func() {
			if <-started == nil {
				_ = s.Stop()
			}
		}()
		return nil, ctx.Err()
	}

	if err := waitReady(ctx, addr, cfg.Namespace); err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

// Address returns the host:port of the frontend, for client.Options.HostPort.
func (s *Server) Address() string { return s.addr }

// Stop stops all services and waits for them to finish; it is safe to call more than once.
// It takes about a second whatever the load: the frontend lets in-flight requests drain for
// at least one second, and the internal worker's long polls are always in flight. Stop the
// application's workers first; otherwise they log poll errors while the server goes away.
//
// The SQLite connection stays open after Stop, for the life of the process: the SQLite
// plugin shares one connection per database among the services and never closes it. That
// is what lets Start run again on the same DataDir in the same process, but it also means
// the files cannot be removed cleanly on Windows until the process exits. (PostgreSQL has
// no such sharing: each service's pools are its own.)
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		// While the services go down one by one, every poll, lease renewal and query cut
		// short is logged: about 15 warnings per stop, and as many errors ("context
		// canceled") when the stop comes soon after the start. None of it is actionable:
		// the outcome is Stop's result. Only panics and fatals pass from here on.
		s.logLevel.SetLevel(zapcore.DPanicLevel)
		s.stopErr = s.srv.Stop()
	})
	return s.stopErr
}

func (cfg *Config) applyDefaults() error {
	if cfg.PostgresURL == "" {
		if cfg.DataDir == "" {
			return errors.New("devtemporal: DataDir is required")
		}
		dir, err := filepath.Abs(cfg.DataDir)
		if err != nil {
			return fmt.Errorf("devtemporal: DataDir: %w", err)
		}
		// The path ends up in a SQLite URI ("file:<path>?<params>"); these characters would be
		// read as URI syntax rather than as part of the name.
		if strings.ContainsAny(dir, "?#%") {
			return fmt.Errorf("devtemporal: DataDir %q must not contain '?', '#' or '%%'", dir)
		}
		cfg.DataDir = dir
	}
	if cfg.Namespace == "" {
		return errors.New("devtemporal: Namespace is required")
	}
	switch cfg.Host {
	case "":
		cfg.Host = DefaultHost
	case "localhost":
		cfg.Host = DefaultHost
	}
	if net.ParseIP(cfg.Host) == nil {
		return fmt.Errorf("devtemporal: Host %q is not an IP address", cfg.Host)
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return fmt.Errorf("devtemporal: Port %d out of range", cfg.Port)
	}
	return nil
}

// sqlConfig is the one SQL config used for schema set-up, namespace registration and the
// server itself. It must be the same value everywhere: the SQLite plugin pools connections
// by DSN, so identical attributes mean every user shares one connection and never contends
// for the write lock (SQLite would answer SQLITE_BUSY at once; no busy timeout is set).
func sqlConfig(dbPath string) *config.SQL {
	return &config.SQL{
		PluginName:   sqliteplugin.PluginName,
		DatabaseName: dbPath,
		// Keys the plugin does not know as SQLite URI parameters ("mode", "cache", ...) are
		// sent as PRAGMA statements on every new connection, under their own names: no "_"
		// prefix, unlike the older temporaltest lite server, whose "_journal_mode" SQLite
		// silently ignores.
		ConnectAttributes: map[string]string{
			"mode": "rwc", // read-write, create if missing
			// WAL lets readers proceed while a write is in progress and survives a crash by
			// replaying the log on the next open.
			"journal_mode": "wal",
			// 2 = FULL: fsync the WAL at every commit, so a workflow the server acknowledged
			// is on disk even if the machine, not only the process, goes down.
			"synchronous": "2",
		},
		// MaxConns stays at the plugin's default of one connection: every service writes,
		// and with more connections concurrent writers would fail with SQLITE_BUSY.
	}
}

// prepareDB creates the schema if the database file does not exist yet, then registers the
// namespace. Both write directly to SQLite, before any service runs.
func prepareDB(sqlCfg *config.SQL, namespace string) error {
	dbPath := sqlCfg.DatabaseName
	_, err := os.Stat(dbPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// The schema scripts are plain CREATE TABLE statements that fail on an existing
		// table, so they may run on a new file only. If they fail halfway, remove the file:
		// otherwise the next start would see a file and skip the schema for good.
		if err := sqliteschema.SetupSchema(sqlCfg); err != nil {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				_ = os.Remove(dbPath + suffix)
			}
			return fmt.Errorf("devtemporal: set up schema in %s: %w", dbPath, err)
		}
	case err != nil:
		return fmt.Errorf("devtemporal: %w", err)
	}

	ns, err := sqliteschema.NewNamespaceConfig(clusterName, namespace, false, nil)
	if err != nil {
		return fmt.Errorf("devtemporal: namespace config: %w", err)
	}
	// CreateNamespaces looks the name up first and skips existing ones, so this is a no-op
	// after the first start (and keeps the namespace's original ID).
	if err := sqliteschema.CreateNamespaces(sqlCfg, ns); err != nil {
		return fmt.Errorf("devtemporal: register namespace %q: %w", namespace, err)
	}
	return nil
}

// sqlitePersistence is the server's store configuration for the SQLite file of sqlCfg: one
// data store for both the default and the visibility store.
func sqlitePersistence(sqlCfg *config.SQL) config.Persistence {
	return config.Persistence{
		DefaultStore:     sqliteplugin.PluginName,
		VisibilityStore:  sqliteplugin.PluginName,
		NumHistoryShards: numHistoryShards,
		DataStores:       map[string]config.DataStore{sqliteplugin.PluginName: {SQL: sqlCfg}},
	}
}

// serverConfig is the static server configuration. ports are the gRPC ports of history,
// matching and worker, in that order.
func serverConfig(cfg Config, store config.Persistence, frontendAddr string, ports []int) *config.Config {
	internal := func(port int) config.Service {
		// BindOnIP rather than BindOnLocalHost: the latter honours $LOCALHOST_IP and otherwise
		// resolves "localhost" (possibly to ::1), and the address must match the static hosts.
		return config.Service{RPC: config.RPC{GRPCPort: port, BindOnIP: DefaultHost}}
	}
	c := &config.Config{}
	// With static hosts there is no ringpop; the broadcast address is still validated and
	// used as the host's identity, so keep it loopback.
	c.Global.Membership = config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: DefaultHost}
	// Global.Metrics stays nil (a no-op metrics handler: nothing listens) and PProf.Port 0
	// (pprof off). Both would otherwise need ports of their own.
	c.Persistence = store
	c.ClusterMetadata = &cluster.Config{
		EnableGlobalNamespace:    false,
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {Enabled: true, InitialFailoverVersion: 1, RPCAddress: frontendAddr},
		},
	}
	c.DCRedirectionPolicy = config.DCRedirectionPolicy{Policy: "noop"}
	c.Services = map[string]config.Service{
		"frontend": {RPC: config.RPC{GRPCPort: cfg.Port, BindOnIP: cfg.Host}},
		"history":  internal(ports[0]),
		"matching": internal(ports[1]),
		"worker":   internal(ports[2]),
	}
	c.Archival = config.Archival{
		History:    config.HistoryArchival{State: "disabled"},
		Visibility: config.VisibilityArchival{State: "disabled"},
	}
	c.NamespaceDefaults = config.NamespaceDefaults{Archival: config.ArchivalNamespaceDefaults{
		History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
		Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
	}}
	// The internal worker service (system workflows: scanners, batch operations) dials the
	// frontend through this address; the server refuses to start without it.
	c.PublicClient = config.PublicClient{HostPort: frontendAddr}
	return c
}

// dynamicConfig holds the few values where a one-developer machine differs from the
// server's defaults, which are sized for a production host. It follows what the temporal
// CLI's dev server sets. ForceSearchAttributesCacheRefreshOnRead, which temporaltest sets,
// is left out: it makes every search-attribute read hit SQLite and only matters to tests
// that add search attributes and use them at once.
func dynamicConfig() dynamicconfig.StaticClient {
	return dynamicconfig.StaticClient{
		// Mutable-state cache entries; the default (128k) is memory we do not need.
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key(): 8096,
		// The default of 10 visibility requests per second is easy to hit from the UI or
		// `temporal workflow list` in a loop, and the errors look like server faults.
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
	}
}

// serverLogger adapts zl to the server's logger. It lets only level and above through
// (warn; Server.Stop raises it), and it drops zap's caller field and stack traces: the caller
// would always name the adapter, the server adds its own "logging-call-at" field, and a
// development logger's stack traces run to 60 frames of gRPC interceptors per entry.
func serverLogger(zl *zap.Logger, level zap.AtomicLevel) log.Logger {
	if zl == nil {
		enc := zap.NewDevelopmentEncoderConfig()
		zl = zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.Lock(os.Stderr), serverLogLevel))
	}
	zl = zl.Named("temporal").WithOptions(
		zap.WithCaller(false),
		zap.AddStacktrace(zap.LevelEnablerFunc(func(zapcore.Level) bool { return false })),
		zap.WrapCore(func(c zapcore.Core) zapcore.Core { return filterCore{Core: c, min: level} }),
	)
	return log.NewZapLogger(zl)
}

// noiseMessages are server warnings that say nothing about this setup going wrong.
var noiseMessages = []string{
	// Logged at every start: we deliberately serve gRPC only (no HTTP API, hence no Nexus
	// HTTP endpoints), which would otherwise need one more port.
	"HTTP API port has not been set",
}

// filterCore drops entries below min and the known noise. zap.IncreaseLevel could do the
// first part, but it complains on stderr when the wrapped logger is already stricter than
// the new level, and it cannot be changed later.
type filterCore struct {
	zapcore.Core
	min zap.AtomicLevel
}

func (c filterCore) Enabled(l zapcore.Level) bool { return c.min.Enabled(l) && c.Core.Enabled(l) }

func (c filterCore) With(fields []zapcore.Field) zapcore.Core {
	return filterCore{Core: c.Core.With(fields), min: c.min}
}

func (c filterCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if !c.min.Enabled(e.Level) {
		return ce
	}
	for _, m := range noiseMessages {
		if strings.HasPrefix(e.Message, m) {
			return ce
		}
	}
	return c.Core.Check(e, ce)
}

// waitReady dials the frontend and asks for the namespace until both succeed. Services
// report started before the frontend has loaded its namespace cache and before history
// owns its shard, so the first calls can fail for a short while.
func waitReady(ctx context.Context, addr, namespace string) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var lastErr error
	for {
		if lastErr = probe(ctx, addr, namespace); lastErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("devtemporal: frontend at %s not ready: %w (last error: %v)", addr, ctx.Err(), lastErr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// probe does what a caller's first use does: dial (which runs the gRPC health check of the
// frontend) and describe the namespace (which needs the frontend's namespace cache loaded).
func probe(ctx context.Context, addr, namespace string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	opts := client.Options{HostPort: addr, Namespace: namespace, Logger: quietLogger{}}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return err
	}
	defer c.Close()
	nc, err := client.NewNamespaceClient(opts)
	if err != nil {
		return err
	}
	defer nc.Close()
	_, err = nc.Describe(ctx, namespace)
	return err
}

// quietLogger discards the SDK client's logs during readiness probes, which would
// otherwise report every refused connection while the server comes up.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}

// checkPortFree reports whether host:port can be bound now.
func checkPortFree(host string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("devtemporal: frontend port %d on %s is not free (another Temporal server running?): %w", port, host, err)
	}
	return l.Close()
}

// freePorts returns n distinct loopback ports that were free a moment ago. All listeners are
// held until every port is chosen, so the kernel cannot hand out the same port twice; the
// ports can still be taken by someone else before the server binds them, which on a
// developer machine is rare enough to accept.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", loopback(0))
		if err != nil {
			return nil, fmt.Errorf("devtemporal: find a free port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func loopback(port int) string { return net.JoinHostPort(DefaultHost, strconv.Itoa(port)) }
