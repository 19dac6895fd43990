package devtemporal

import (
	"bytes"
	"context"
	"crypto/md5" // #nosec G501 -- a checksum of the manifest for the schema log, as Temporal's own tool writes; no security
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/persistence"
	tsql "go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	// Importing the package registers the postgres12 and postgres12_pgx plugins.
	postgresplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	"go.temporal.io/server/common/resolver"
	dbschemas "go.temporal.io/server/schema"
	sqliteschema "go.temporal.io/server/schema/sqlite"

	"github.com/rollin-efa/rollin/store"
)

const (
	// postgresHistoryShards is persisted with the cluster metadata at the first start on a
	// database, like numHistoryShards for SQLite. PostgreSQL takes concurrent writers, so a
	// few shards let history work on several workflows' state at once; more would only add
	// shard-ownership overhead on one machine.
	postgresHistoryShards = 4

	// postgresMaxConns bounds each connection pool. Every service (frontend, history,
	// matching, worker) opens its own pool per store, so this is not the total; it is what
	// the busiest service, history, may use. Idle connections are kept up to the same number
	// so that a burst does not reconnect on every query.
	postgresMaxConns = 20

	// postgresConnLifetime recycles connections now and then, so that a long `rollin-dev`
	// session does not hold server-side backends (and their memory) forever.
	postgresConnLifetime = time.Hour

	// visibilitySchemaName is the PostgreSQL schema (namespace of tables) that holds the
	// visibility store, next to the default store in "public" of the same database. Each
	// half keeps its own schema_version table, which the server checks at start against the
	// version it expects for that store; in one table they would share a row.
	visibilitySchemaName = "temporal_visibility"

	// Temporal's schema directories in go.temporal.io/server/schema; each has a "versioned"
	// subdirectory with one directory per schema version (manifest.json plus SQL files).
	mainSchemaDir       = "postgresql/v12/temporal"
	visibilitySchemaDir = "postgresql/v12/visibility"
)

// dbNamePattern restricts database names to characters that need no escaping anywhere:
// the server puts the name into a connection URL's path unescaped.
var dbNamePattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]{0,62}$`)

// postgresStore is the server state in one PostgreSQL database: the default store in its
// "public" schema, the visibility store in visibilitySchemaName.
type postgresStore struct {
	url        *url.URL    // as configured; for our own pgx connections
	main       *config.SQL // the default store
	visibility *config.SQL // the same database, search_path set to visibilitySchemaName
}

// parsePostgresURL checks raw and turns it into the server's SQL configs. Its errors never
// show the password.
func parsePostgresURL(raw string) (*postgresStore, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// *url.Error repeats the whole URL, password included; keep only the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("devtemporal: PostgresURL is not a URL: %w", err)
	}
	p := &postgresStore{url: u}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return nil, p.errorf("want a postgres:// or postgresql:// URL")
	}
	if u.Hostname() == "" {
		return nil, p.errorf("the URL names no host")
	}
	if u.User.Username() == "" {
		return nil, p.errorf("the URL names no user (postgres://USER@host/database)")
	}
	name := strings.TrimPrefix(u.Path, "/")
	if !dbNamePattern.MatchString(name) {
		return nil, p.errorf("database name %q: want 1 to 63 letters, digits, '_' or '-' (postgres://user@host/DATABASE)", name)
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	password, _ := u.User.Password()

	attrs := map[string]string{}
	for k, vs := range u.Query() {
		if len(vs) != 1 {
			return nil, p.errorf("URL parameter %q is given %d times", k, len(vs))
		}
		attrs[k] = vs[0]
	}
	// The server would default to sslmode=disable; libpq and pgx default to prefer, which is
	// what a postgres:// URL means to everyone else (and to our own connections below).
	if _, ok := attrs["sslmode"]; !ok {
		attrs["sslmode"] = "prefer"
	}

	p.main = &config.SQL{
		PluginName:        postgresplugin.PluginNamePGX,
		DatabaseName:      name,
		ConnectAddr:       net.JoinHostPort(u.Hostname(), port),
		ConnectProtocol:   "tcp",
		User:              u.User.Username(),
		Password:          password,
		ConnectAttributes: attrs,
		MaxConns:          postgresMaxConns,
		MaxIdleConns:      postgresMaxConns,
		MaxConnLifetime:   postgresConnLifetime,
	}
	vis := *p.main
	vis.ConnectAttributes = maps.Clone(attrs)
	// pgx sends parameters it does not know as run-time settings when it connects, so every
	// connection of the visibility pool resolves unqualified names in its own schema.
	vis.ConnectAttributes["search_path"] = visibilitySchemaName
	p.visibility = &vis
	return p, nil
}

// errorf prefixes an error with the database URL, password hidden.
func (p *postgresStore) errorf(format string, args ...any) error {
	return fmt.Errorf("devtemporal: PostgreSQL %s: %w", p.url.Redacted(), fmt.Errorf(format, args...))
}

// persistence is the server's store configuration for this database.
func (p *postgresStore) persistence() config.Persistence {
	const mainStore, visStore = "postgres-default", "postgres-visibility"
	return config.Persistence{
		DefaultStore:     mainStore,
		VisibilityStore:  visStore,
		NumHistoryShards: postgresHistoryShards,
		DataStores: map[string]config.DataStore{
			mainStore: {SQL: p.main},
			visStore:  {SQL: p.visibility},
		},
	}
}

// prepare creates the database if it is missing, brings both schemas up to the version
// this server expects and registers the namespace; every step leaves alone what is
// already there, so it runs at every start.
func (p *postgresStore) prepare(ctx context.Context, namespace string) error {
	if err := p.ensureDatabase(ctx); err != nil {
		return err
	}
	if err := p.upgradeSchema(p.main, sqlplugin.DbKindMain, mainSchemaDir, ""); err != nil {
		return err
	}
	if err := p.upgradeSchema(p.visibility, sqlplugin.DbKindVisibility, visibilitySchemaDir, visibilitySchemaName); err != nil {
		return err
	}
	ns, err := sqliteschema.NewNamespaceConfig(clusterName, namespace, false, nil)
	if err != nil {
		return fmt.Errorf("devtemporal: namespace config: %w", err)
	}
	// Despite its package, CreateNamespaces works through the generic SQL persistence layer
	// and so on any plugin; it skips a namespace that exists.
	if err := sqliteschema.CreateNamespaces(p.main, ns); err != nil {
		return p.errorf("register namespace %q: %w", namespace, err)
	}
	return nil
}

// ensureDatabase creates the database if it is missing, the way Rollin's store does for
// its own: connecting first means a database that exists needs no access to the
// maintenance database, and connection problems are reported by pgx itself rather than by
// the server's pool, which only logs them.
func (p *postgresStore) ensureDatabase(ctx context.Context) error {
	if err := store.EnsureDatabase(ctx, p.url.String(), nil); err != nil {
		return p.errorf("%w", err)
	}
	return nil
}

// upgradeSchema does what `temporal-sql-tool setup-schema -v 0.0` followed by
// `update-schema -d <dir>/versioned` does, and what Temporal's own Docker set-up runs at
// every start: it creates the schema_version tables if they are missing, reads the version,
// and applies every versioned step above it, in order, recording each one. On a database
// that is up to date it changes nothing. After a server upgrade it applies the new steps.
//
// The steps run statement by statement without a transaction, as with the tool. If a start
// dies halfway through a step, the version is not recorded and the next start runs the
// step again; statements that fail because their table, column or index already exists
// are then skipped, which is the tool's rule too.
//
// pgSchema, if set, is created first: cfg's connections put it on their search_path, and
// PostgreSQL refuses to create tables when no schema on the path exists.
func (p *postgresStore) upgradeSchema(cfg *config.SQL, kind sqlplugin.DbKind, dir, pgSchema string) error {
	if pgSchema != "" {
		if err := p.adminExec(p.main, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{pgSchema}.Sanitize()); err != nil {
			return err
		}
	}
	db, err := tsql.NewSQLAdminDB(kind, cfg, resolver.NewNoopResolver(), log.NewNoopLogger(), metrics.NoopMetricsHandler)
	if err != nil {
		return p.errorf("open %s: %w", dir, err)
	}
	defer func() { _ = db.Close() }()

	if err := db.CreateSchemaVersionTables(); err != nil {
		return p.errorf("create schema version tables for %s: %w", dir, err)
	}
	current, err := db.ReadSchemaVersion(cfg.DatabaseName)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		current = "0.0"
	case err != nil:
		return p.errorf("read schema version of %s: %w", dir, err)
	}
	steps, err := pendingSteps(path.Join(dir, "versioned"), current)
	if err != nil {
		return p.errorf("%w", err)
	}
	for _, s := range steps {
		if err := s.apply(db); err != nil {
			return p.errorf("upgrade %s from %s to %s: %w", dir, current, s.CurrVersion, err)
		}
		if err := db.UpdateSchemaVersion(cfg.DatabaseName, s.CurrVersion, s.MinCompatibleVersion); err != nil {
			return p.errorf("record schema version %s of %s: %w", s.CurrVersion, dir, err)
		}
		if err := db.WriteSchemaUpdateLog(current, s.CurrVersion, s.md5, s.Description); err != nil {
			return p.errorf("log schema update to %s of %s: %w", s.CurrVersion, dir, err)
		}
		current = s.CurrVersion
	}
	// The server runs the same check when it starts, but its error does not say which
	// database; failing here does.
	if err := db.VerifyVersion(); err != nil {
		return p.errorf("schema %s: %w", dir, err)
	}
	return nil
}

// adminExec runs one statement on a short-lived admin connection of cfg.
func (p *postgresStore) adminExec(cfg *config.SQL, stmt string) error {
	db, err := tsql.NewSQLAdminDB(sqlplugin.DbKindUnknown, cfg, resolver.NewNoopResolver(), log.NewNoopLogger(), metrics.NoopMetricsHandler)
	if err != nil {
		return p.errorf("open: %w", err)
	}
	defer func() { _ = db.Close() }()
	if err := db.Exec(stmt); err != nil {
		return p.errorf("%s: %w", stmt, err)
	}
	return nil
}

// schemaStep is one versioned directory of Temporal's schema: its manifest.json and the
// statements of the files it lists.
type schemaStep struct {
	CurrVersion          string
	MinCompatibleVersion string
	Description          string
	SchemaUpdateCqlFiles []string // SQL files despite the name, which dates from Cassandra
	AllowNoCqlFiles      bool

	md5   string
	stmts []string
}

// pendingSteps reads the steps in versionedDir above version current, oldest first.
func pendingSteps(versionedDir, current string) ([]schemaStep, error) {
	fsys := dbschemas.Assets()
	from, err := parseVersion(current)
	if err != nil {
		return nil, fmt.Errorf("schema version %q in the database: %w", current, err)
	}
	entries, err := fs.ReadDir(fsys, versionedDir)
	if err != nil {
		return nil, fmt.Errorf("read embedded schema: %w", err)
	}
	type dirVersion struct {
		dir string
		v   []int
	}
	var todo []dirVersion
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "v") {
			continue
		}
		v, err := parseVersion(e.Name()[1:])
		if err != nil {
			return nil, fmt.Errorf("embedded schema directory %s: %w", path.Join(versionedDir, e.Name()), err)
		}
		if slices.Compare(v, from) > 0 {
			todo = append(todo, dirVersion{e.Name(), v})
		}
	}
	slices.SortFunc(todo, func(a, b dirVersion) int { return slices.Compare(a.v, b.v) })

	steps := make([]schemaStep, 0, len(todo))
	for _, d := range todo {
		s, err := readStep(fsys, path.Join(versionedDir, d.dir))
		if err != nil {
			return nil, err
		}
		if s.CurrVersion != d.dir[1:] {
			return nil, fmt.Errorf("embedded schema directory %s holds version %q", d.dir, s.CurrVersion)
		}
		steps = append(steps, s)
	}
	return steps, nil
}

func readStep(fsys fs.FS, dir string) (schemaStep, error) {
	var s schemaStep
	manifest, err := fs.ReadFile(fsys, path.Join(dir, "manifest.json"))
	if err != nil {
		return s, fmt.Errorf("read embedded schema: %w", err)
	}
	if err := json.Unmarshal(manifest, &s); err != nil {
		return s, fmt.Errorf("embedded schema %s/manifest.json: %w", dir, err)
	}
	sum := md5.Sum(manifest) // #nosec G401 -- the manifest_md5 column of Temporal's schema_update_history; integrity against mistakes, not attacks
	s.md5 = hex.EncodeToString(sum[:])
	for _, f := range s.SchemaUpdateCqlFiles {
		b, err := fs.ReadFile(fsys, path.Join(dir, f))
		if err != nil {
			return s, fmt.Errorf("read embedded schema: %w", err)
		}
		stmts, err := persistence.LoadAndSplitQueryFromReaders([]io.Reader{bytes.NewReader(b)})
		if err != nil {
			return s, fmt.Errorf("embedded schema %s/%s: %w", dir, f, err)
		}
		s.stmts = append(s.stmts, stmts...)
	}
	if len(s.stmts) == 0 && !s.AllowNoCqlFiles {
		return s, fmt.Errorf("embedded schema %s has no statements", dir)
	}
	return s, nil
}

// apply runs the step's statements, skipping those whose object exists (see upgradeSchema).
func (s schemaStep) apply(db sqlplugin.AdminDB) error {
	for _, stmt := range s.stmts {
		if err := db.Exec(stmt); err != nil {
			if msg := err.Error(); strings.Contains(msg, "already exist") || strings.Contains(msg, "not found") {
				continue
			}
			return fmt.Errorf("%s: %w", firstLine(stmt), err)
		}
	}
	return nil
}

// parseVersion reads a schema version such as "1.19" as its numbers.
func parseVersion(s string) ([]int, error) {
	parts := strings.Split(s, ".")
	v := make([]int, 3) // major.minor.patch; missing parts are 0, as in semver's tolerant parse
	if len(parts) > len(v) {
		return nil, fmt.Errorf("%q is not a version", s)
	}
	for i, part := range parts {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%q is not a version", s)
		}
		v[i] = n
	}
	return v, nil
}

// firstLine shortens a statement for an error message.
func firstLine(stmt string) string {
	stmt = strings.TrimSpace(stmt)
	if i := strings.IndexByte(stmt, '\n'); i >= 0 {
		return stmt[:i] + " …"
	}
	return stmt
}
