// Command bench measures Rollin on one embedded Temporal server, in one process, and
// writes BENCHMARKS.md: a bare Temporal baseline against a Rollin campaign on autopilot,
// status reads over a read model of a million runs against raw pgx, a bulk retry of
// incidents, the memory of a worker holding runs that wait on people, and optionally the
// whole register rolled out in one campaign. Run it with `go tool task bench`; the figures
// are only as good as the machine is quiet.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/logging"
)

// options are the benchmark's flags.
type options struct {
	runs                int
	statusRows          int
	clients             int
	readFor             time.Duration
	incidents           int
	waiting             int
	register            bool
	out                 string
	databaseURL         string
	temporalDatabaseURL string
	rollinBin           string
	cpuProfile          string
	profilePart         string
	bulkConcurrency     int
}

func main() {
	var o options
	flag.IntVar(&o.runs, "runs", 1000, "roll-ins in the campaign and workflows in the baseline")
	flag.IntVar(&o.statusRows, "status-rows", 1_000_000, "runs in the read model for the status reads")
	flag.IntVar(&o.clients, "clients", 64, "concurrent clients of the status reads")
	flag.DurationVar(&o.readFor, "read-for", 15*time.Second, "how long each status read load runs")
	flag.IntVar(&o.incidents, "incidents", 1000, "incidents retried in bulk")
	flag.IntVar(&o.bulkConcurrency, "bulk-concurrency", 64, "--concurrency of `rollin retry`: retries in flight at once")
	flag.IntVar(&o.waiting, "waiting", 10_000, "runs waiting on people while the worker's memory is read")
	flag.BoolVar(&o.register, "register", false, "also roll a service out to the whole register (11,004 municipalities) in one campaign")
	flag.StringVar(&o.out, "out", "BENCHMARKS.md", "the report to write")
	flag.StringVar(&o.databaseURL, "database-url", "postgres://postgres@localhost:5432/rollin_bench?sslmode=disable", "read-model database; dropped and created afresh")
	flag.StringVar(&o.temporalDatabaseURL, "temporal-database-url", "", "keep the embedded Temporal server's state in this PostgreSQL database (dropped and created afresh) instead of SQLite")
	flag.StringVar(&o.rollinBin, "rollin", "", "the rollin binary whose `rollin worker` the memory part runs; empty skips that part")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the part named by -profile to this file")
	flag.StringVar(&o.profilePart, "profile", "campaign", "the part -cpuprofile profiles: campaign, baseline or reads")
	flag.Parse()

	log, err := logging.New("warn", "console")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o, log); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, log *zap.Logger) error {
	if o.runs < 1 || o.incidents < 1 || o.waiting < 1 {
		return fmt.Errorf("-runs, -incidents and -waiting must be at least 1")
	}
	for _, u := range []string{o.databaseURL, o.temporalDatabaseURL} {
		if u != "" && !strings.Contains(u, "bench") {
			return fmt.Errorf("%s: the benchmark drops and recreates its databases; give it one whose name contains \"bench\"", redactURL(u))
		}
	}
	r := report{options: o, machine: readMachine(), started: time.Now()}
	progress("setting up: embedded Temporal (%s), PostgreSQL read model, register, simulators, worker, API", r.persistence())
	e, err := newEnv(ctx, o, log)
	if err != nil {
		return err
	}
	defer e.close()
	if o.runs+o.incidents > len(e.ars) || o.waiting > len(e.ars) {
		return fmt.Errorf("-runs + -incidents and -waiting must each be at most the register's %d municipalities", len(e.ars))
	}
	// Each part has a service of its own, so no part finds runs of another; the first two
	// also take different municipalities, so their framework agreements do not meet.
	campaignARS := e.ars[:o.runs]
	incidentARS := e.ars[o.runs : o.runs+o.incidents]
	waitingARS := e.ars[len(e.ars)-o.waiting:]

	progress("1/6 Rollin: campaign of %d roll-ins on autopilot (delay 0, simulators without latency)", o.runs)
	stopProfile, err := o.startProfile("campaign")
	if err != nil {
		return err
	}
	r.rollin, err = e.runCampaign(ctx, benchServices["campaign"], campaignARS, allIn(domain.RunLive), time.Hour)
	stopProfile()
	if err != nil {
		return err
	}
	if r.rollinHistory, err = e.historyLength(ctx, domain.RunID(campaignARS[0], benchServices["campaign"])); err != nil {
		return err
	}
	calls := max(1, (r.rollin.calls+o.runs/2)/o.runs)
	progress("   %d live in %s (%.1f/s), %d external calls per roll-in", o.runs, r.rollin.elapsed.Round(time.Millisecond), r.rollin.perSecond(), calls)

	progress("2/6 baseline: %d bare workflows of %d no-op activities", o.runs, calls)
	if stopProfile, err = o.startProfile("baseline"); err != nil {
		return err
	}
	r.baseline, err = e.runBaseline(ctx, o.runs, calls, false)
	stopProfile()
	if err != nil {
		return err
	}
	progress("   done in %s (%.1f/s); again with local activities", r.baseline.elapsed.Round(time.Millisecond), r.baseline.perSecond())
	if r.baselineLocal, err = e.runBaseline(ctx, o.runs, calls, true); err != nil {
		return err
	}
	progress("   done in %s (%.1f/s)", r.baselineLocal.elapsed.Round(time.Millisecond), r.baselineLocal.perSecond())

	progress("3/6 status reads: filling the read model to %d runs, then %d clients for %s each", o.statusRows, o.clients, o.readFor)
	if stopProfile, err = o.startProfile("reads"); err != nil {
		return err
	}
	r.reads, r.fill, err = e.statusReads(ctx, o.statusRows, o.clients, o.readFor)
	stopProfile()
	if err != nil {
		return err
	}

	progress("4/6 bulk retry: %d runs into an incident, then `rollin retry`", o.incidents)
	if r.bulk, err = e.bulkRetry(ctx, incidentARS); err != nil {
		return err
	}

	if o.register {
		progress("5/6 the whole register: one campaign of %d roll-ins to live", len(e.ars))
		res, err := e.runCampaign(ctx, benchServices["register"], e.ars, settled, 3*time.Hour)
		if err != nil {
			return err
		}
		r.register = &res
	} else {
		progress("5/6 the whole register: skipped (-register)")
	}

	if o.rollinBin != "" {
		progress("6/6 worker memory: `rollin worker` with %d runs waiting on people", o.waiting)
		res, err := e.waitingRSS(ctx, o.rollinBin, waitingARS)
		if err != nil {
			return err
		}
		r.rss = &res
	} else {
		progress("6/6 worker memory: skipped (-rollin)")
	}
	r.finished = time.Now()

	text := r.markdown()
	fmt.Println(text)
	existing, err := os.ReadFile(o.out)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	// #nosec G703 G306 -- o.out is the operator's own -out flag (BENCHMARKS.md by default), a
	// document of the repository that everyone may read.
	if err := os.WriteFile(o.out, []byte(merge(string(existing), text)), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", o.out, err)
	}
	progress("wrote %s", o.out)
	return nil
}

// startProfile starts the CPU profile when part is the one -profile names, and returns
// the function that stops it.
func (o options) startProfile(part string) (func(), error) {
	if o.cpuProfile == "" || o.profilePart != part {
		return func() {}, nil
	}
	f, err := os.Create(o.cpuProfile)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

// redactURL hides a database URL's password.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "the database URL"
	}
	return u.Redacted()
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05")+" "+format+"\n", args...)
}
