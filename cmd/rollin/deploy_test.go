package main

// The deployment examples under docs/deploy and the commands of docs/deploy.md are checked
// against the command tree and the configuration keys, so that they stay valid when a
// command, a flag or a key changes: every rollin invocation must name a command that runs
// and only flags it has, with values; every ROLLIN_* variable must be a configuration key;
// every configuration file must load (config.Load decodes exactly, so an unknown key
// fails); and stop timeouts and probes must fit the configuration.

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/rollin-efa/rollin/config"
)

const (
	repoRoot      = "../.."
	deployDoc     = "docs/deploy.md"
	deployDir     = "docs/deploy"
	exampleConfig = "docs/deploy/rollin.example.yaml"
	k8sManifest   = "docs/deploy/kubernetes/rollin.yaml"
	systemdGlob   = "docs/deploy/systemd/*.service"
	// installedConfig is where the systemd units read exampleConfig from.
	installedConfig = "/etc/rollin/rollin.yaml"
)

// cliEnv are ROLLIN_* variables that are not configuration keys: the API client's
// (cli/client.go), which docs/deploy.md may show.
var cliEnv = map[string]bool{"ROLLIN_API": true, "ROLLIN_TOKEN": true}

var envRef = regexp.MustCompile(`\bROLLIN_[A-Z0-9_]+`)

// configEnv maps every ROLLIN_* variable that sets a configuration key to its key.
func configEnv() map[string]string {
	m := map[string]string{}
	for _, k := range config.Keys() {
		m["ROLLIN_"+strings.ToUpper(strings.ReplaceAll(k, ".", "_"))] = k
	}
	return m
}

// isolateEnv clears the ROLLIN_* variables of the test's own environment, which
// config.Load would otherwise read (an empty variable counts as unset).
func isolateEnv(t *testing.T) {
	t.Helper()
	for name := range configEnv() {
		t.Setenv(name, "")
	}
}

func readRepoFile(t *testing.T, rel string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return raw
}

// checkEnvMentions reports every ROLLIN_* name in text that is not a configuration key
// (nor one of allowed).
func checkEnvMentions(t *testing.T, file string, text []byte, allowed map[string]bool) {
	t.Helper()
	keys := configEnv()
	for i, line := range strings.Split(string(text), "\n") {
		for _, name := range envRef.FindAllString(line, -1) {
			if _, ok := keys[name]; !ok && !allowed[name] {
				t.Errorf("%s:%d: %s is not the variable of a configuration key (config.Keys())", file, i+1, name)
			}
		}
	}
}

// splitCommands splits a command line the way a shell or systemd does in the simple cases
// the examples use: blanks separate words, single and double quotes group, a backslash
// escapes the next character, an unquoted ;, & or | ends a command and a word starting
// with # starts a comment. It returns the commands' words.
func splitCommands(line string) ([][]string, error) {
	var cmds [][]string
	var words []string
	var word strings.Builder
	inWord := false
	endWord := func() {
		if inWord {
			words = append(words, word.String())
			word.Reset()
			inWord = false
		}
	}
	endCommand := func() {
		endWord()
		if len(words) > 0 {
			cmds = append(cmds, words)
			words = nil
		}
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			endWord()
		case c == '#' && !inWord:
			endCommand()
			return cmds, nil
		case c == ';' || c == '&' || c == '|':
			endCommand()
		case c == '\\':
			if i+1 < len(line) {
				i++
				word.WriteByte(line[i])
			}
			inWord = true
		case c == '\'' || c == '"':
			j := strings.IndexByte(line[i+1:], c)
			if j < 0 {
				return nil, fmt.Errorf("unterminated %c quote", c)
			}
			word.WriteString(line[i+1 : i+1+j])
			i += j + 1
			inWord = true
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	endCommand()
	return cmds, nil
}

// checkInvocation checks that args (what follows the rollin binary) name a subcommand
// that runs, that every flag exists on it and has its value, and that the positional
// arguments fit. It returns the subcommand with the flags set, or nil after reporting.
func checkInvocation(t *testing.T, where string, args []string) *cobra.Command {
	t.Helper()
	root := rootCommand()
	cmd, rest, err := root.Find(args)
	switch {
	case err != nil:
		t.Errorf("%s: rollin %s: %v", where, strings.Join(args, " "), err)
		return nil
	case cmd == root:
		t.Errorf("%s: rollin %s: names no subcommand", where, strings.Join(args, " "))
		return nil
	case !cmd.Runnable():
		t.Errorf("%s: rollin %s: %q is a group of commands, not one that runs", where, strings.Join(args, " "), cmd.CommandPath())
		return nil
	}
	cmd.InitDefaultHelpFlag()
	name := cmd.CommandPath()
	ok := true
	var positional []string
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		var f *pflag.Flag
		var flag, value string
		hasValue := false
		switch {
		case a == "--":
			positional = append(positional, rest[i+1:]...)
			i = len(rest)
			continue
		case strings.HasPrefix(a, "--"):
			flag, value, hasValue = strings.Cut(a[2:], "=")
			f = lookupFlag(cmd, flag)
			flag = "--" + flag
		case strings.HasPrefix(a, "-") && len(a) > 1:
			flag, value = a[1:2], a[2:]
			hasValue = value != ""
			f = cmd.Flags().ShorthandLookup(flag)
			if f == nil {
				f = cmd.InheritedFlags().ShorthandLookup(flag)
			}
			flag = "-" + flag
		default:
			positional = append(positional, a)
			continue
		}
		if f == nil {
			t.Errorf("%s: %s has no flag %s", where, name, flag)
			ok = false
			if !hasValue && i+1 < len(rest) && !strings.HasPrefix(rest[i+1], "-") {
				i++ // its value, most likely
			}
			continue
		}
		if !hasValue {
			if f.NoOptDefVal != "" {
				value = f.NoOptDefVal
			} else if i+1 < len(rest) && !strings.HasPrefix(rest[i+1], "-") {
				i++
				value = rest[i]
			} else {
				t.Errorf("%s: %s %s needs a value", where, name, flag)
				ok = false
				continue
			}
		}
		if err := f.Value.Set(value); err != nil {
			t.Errorf("%s: %s %s %q: %v", where, name, flag, value, err)
			ok = false
			continue
		}
		f.Changed = true
	}
	if err := cmd.ValidateArgs(positional); err != nil {
		t.Errorf("%s: %s %s: %v", where, name, strings.Join(positional, " "), err)
		ok = false
	}
	if !ok {
		return nil
	}
	return cmd
}

func lookupFlag(cmd *cobra.Command, name string) *pflag.Flag {
	if f := cmd.Flags().Lookup(name); f != nil {
		return f
	}
	return cmd.InheritedFlags().Lookup(name)
}

// loadConfig loads a configuration file of the examples through cmd's flags (a fresh flag
// set of config.AddFlags when cmd is nil), as the process would, minus the environment.
// TLS files named in it are replaced by empty files, since Validate requires them to
// exist. It also checks that the same file with one unknown key more is refused, so that
// loading cleanly means every key is real.
func loadConfig(t *testing.T, where string, raw []byte, cmd *cobra.Command) (config.Config, bool) {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Errorf("%s: not YAML: %v", where, err)
		return config.Config{}, false
	}
	if doc == nil {
		doc = map[string]any{}
	}
	dir := t.TempDir()
	if temporal, ok := doc["temporal"].(map[string]any); ok {
		if tls, ok := temporal["tls"].(map[string]any); ok {
			for _, key := range []string{"ca_file", "cert_file", "key_file"} {
				if p, ok := tls[key].(string); ok && p != "" {
					stand := filepath.Join(dir, key+"-"+path.Base(p))
					if err := os.WriteFile(stand, nil, 0o600); err != nil {
						t.Fatal(err)
					}
					tls[key] = stand
				}
			}
		}
	}
	write := func(name string, doc map[string]any) string {
		out, err := yaml.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, out, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	flags := func(file string) *pflag.FlagSet {
		if cmd != nil {
			if err := cmd.Flags().Set("config", file); err != nil {
				t.Fatalf("%s: %s: --config: %v", where, cmd.CommandPath(), err)
			}
			return cmd.Flags()
		}
		fs := pflag.NewFlagSet("example", pflag.ContinueOnError)
		config.AddFlags(fs)
		if err := fs.Parse([]string{"--config", file}); err != nil {
			t.Fatal(err)
		}
		return fs
	}

	const unknown = "no_such_key_for_the_test"
	doc[unknown] = 1
	if _, err := config.Load(flags(write("unknown.yaml", doc))); err == nil || !strings.Contains(err.Error(), unknown) {
		t.Errorf("%s: with the unknown key %s added, config.Load should refuse it; got %v", where, unknown, err)
	}
	delete(doc, unknown)

	cfg, err := config.Load(flags(write("rollin.yaml", doc)))
	if err != nil {
		t.Errorf("%s: config.Load: %v", where, err)
		return config.Config{}, false
	}
	return cfg, true
}

// stopBound is how long a process of the command may take to stop after SIGTERM with cfg,
// which TimeoutStopSec and terminationGracePeriodSeconds must exceed; zero when it does
// not run for long.
func stopBound(command string, cfg config.Config) time.Duration {
	switch command {
	case "worker":
		// Running activities finish, then the health endpoints close.
		return cfg.Temporal.WorkerStopTimeout + cfg.HTTP.ShutdownTimeout
	case "serve":
		return cfg.HTTP.ShutdownDelay + cfg.HTTP.ShutdownTimeout
	}
	return 0
}

func httpPort(t *testing.T, where string, cfg config.Config) int {
	t.Helper()
	_, p, err := net.SplitHostPort(cfg.HTTP.Addr)
	if err != nil {
		t.Errorf("%s: http.addr %q: %v", where, cfg.HTTP.Addr, err)
		return 0
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Errorf("%s: http.addr %q has no numeric port", where, cfg.HTTP.Addr)
	}
	return n
}

func TestDeployExampleConfig(t *testing.T) {
	isolateEnv(t)
	raw := readRepoFile(t, exampleConfig)
	checkEnvMentions(t, exampleConfig, raw, nil)
	loadConfig(t, exampleConfig, raw, nil)
}

// unit is a systemd unit file: its directives by section and name, with line numbers.
type unit map[string]map[string][]unitValue

type unitValue struct {
	line  int
	value string
}

func parseUnit(raw []byte) unit {
	u := unit{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(raw))
	n, start := 0, 0
	var pending string
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if pending == "" {
			start = n
			if line == "" || line[0] == '#' || line[0] == ';' {
				continue
			}
		}
		if strings.HasSuffix(line, "\\") {
			pending += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		line, pending = pending+line, ""
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = line[1 : len(line)-1]
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if u[section] == nil {
			u[section] = map[string][]unitValue{}
		}
		k = strings.TrimSpace(k)
		u[section][k] = append(u[section][k], unitValue{start, strings.TrimSpace(v)})
	}
	return u
}

// words is every word of the directive's values (Requires=, After= and the like).
func (u unit) words(section, key string) []string {
	var out []string
	for _, v := range u[section][key] {
		out = append(out, strings.Fields(v.value)...)
	}
	return out
}

func (u unit) last(section, key string) (unitValue, bool) {
	vs := u[section][key]
	if len(vs) == 0 {
		return unitValue{}, false
	}
	return vs[len(vs)-1], true
}

// systemdDuration parses a systemd time span ("90", "45s", "1min 30s"); ok is false for
// what it does not understand. "infinity" is a very long time.
func systemdDuration(s string) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	if s == "infinity" {
		return time.Duration(1<<63 - 1), true
	}
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, true
	}
	r := strings.NewReplacer(" ", "", "min", "m", "sec", "s", "hr", "h")
	d, err := time.ParseDuration(r.Replace(s))
	return d, err == nil
}

func TestDeploySystemdUnits(t *testing.T) {
	isolateEnv(t)
	files, err := filepath.Glob(filepath.Join(repoRoot, filepath.FromSlash(systemdGlob)))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no systemd units match %s", systemdGlob)
	}
	seen := map[string]bool{}
	for _, file := range files {
		rel := path.Join(path.Dir(systemdGlob), filepath.Base(file))
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		checkEnvMentions(t, rel, raw, nil)
		u := parseUnit(raw)
		if user, ok := u.last("Service", "User"); !ok || user.value == "" || user.value == "root" {
			t.Errorf("%s: the service should run as a dedicated user (User=)", rel)
		}
		execs := u["Service"]["ExecStart"]
		if len(execs) == 0 {
			t.Errorf("%s: no ExecStart", rel)
		}
		for _, ex := range execs {
			where := fmt.Sprintf("%s:%d", rel, ex.line)
			cmds, err := splitCommands(ex.value)
			if err != nil || len(cmds) != 1 {
				t.Errorf("%s: ExecStart=%s: want one command (%v)", where, ex.value, err)
				continue
			}
			words := cmds[0]
			bin := strings.TrimLeft(words[0], "@-:+!")
			if path.Base(bin) != "rollin" || !path.IsAbs(bin) {
				t.Errorf("%s: ExecStart runs %s, not the rollin binary by its absolute path", where, words[0])
				continue
			}
			cmd := checkInvocation(t, where, words[1:])
			if cmd == nil {
				continue
			}
			seen[cmd.Name()] = true
			checkUnitFor(t, rel, where, u, cmd)
		}
	}
	for _, want := range []string{"migrate", "worker", "serve"} {
		if !seen[want] {
			t.Errorf("%s: no unit runs rollin %s", systemdGlob, want)
		}
	}
}

// checkUnitFor checks what a unit running cmd needs: its configuration file is the
// example one and loads; worker and serve require the migration and get longer to stop
// than they may take; the migration is a oneshot.
func checkUnitFor(t *testing.T, rel, where string, u unit, cmd *cobra.Command) {
	t.Helper()
	if cmd.Name() == "migrate" {
		if typ, _ := u.last("Service", "Type"); typ.value != "oneshot" {
			t.Errorf("%s: rollin migrate exits when done: want Type=oneshot, have %q", rel, typ.value)
		}
	}
	if cmd.Name() == "worker" || cmd.Name() == "serve" {
		for _, dep := range []string{"Requires", "After"} {
			if !slices.Contains(u.words("Unit", dep), "rollin-migrate.service") {
				t.Errorf("%s: rollin %s should run after the migration: want %s=rollin-migrate.service", rel, cmd.Name(), dep)
			}
		}
		if sig, ok := u.last("Service", "KillSignal"); ok && sig.value != "SIGTERM" {
			t.Errorf("%s:%d: KillSignal=%s: rollin stops gracefully on SIGTERM", rel, sig.line, sig.value)
		}
	}
	cfgFile := cmd.Flags().Lookup("config")
	if cfgFile == nil || cfgFile.Value.String() != installedConfig {
		t.Errorf("%s: want --config %s (the installed %s)", where, installedConfig, exampleConfig)
		return
	}
	cfg, ok := loadConfig(t, where+" ("+exampleConfig+")", readRepoFile(t, exampleConfig), cmd)
	if !ok {
		return
	}
	bound := stopBound(cmd.Name(), cfg)
	if bound == 0 {
		return
	}
	stop, ok := u.last("Service", "TimeoutStopSec")
	if !ok {
		t.Errorf("%s: rollin %s may take %s to stop: set TimeoutStopSec above that", rel, cmd.Name(), bound)
		return
	}
	if d, ok := systemdDuration(stop.value); !ok || d <= bound {
		t.Errorf("%s:%d: TimeoutStopSec=%s: rollin %s may take %s to stop with %s; want more", rel, stop.line, stop.value, cmd.Name(), bound, exampleConfig)
	}
}

// The parts of Kubernetes objects the checks read.
type (
	k8sObject struct {
		Kind     string `yaml:"kind"`
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Data       map[string]string `yaml:"data"`
		StringData map[string]string `yaml:"stringData"`
		Spec       struct {
			Template struct {
				Spec *podSpec `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	podSpec struct {
		TerminationGracePeriodSeconds *int64      `yaml:"terminationGracePeriodSeconds"`
		InitContainers                []container `yaml:"initContainers"`
		Containers                    []container `yaml:"containers"`
		Volumes                       []volume    `yaml:"volumes"`
	}
	container struct {
		Name    string   `yaml:"name"`
		Command []string `yaml:"command"`
		Args    []string `yaml:"args"`
		Env     []struct {
			Name string `yaml:"name"`
		} `yaml:"env"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		ReadinessProbe *probe `yaml:"readinessProbe"`
		LivenessProbe  *probe `yaml:"livenessProbe"`
		StartupProbe   *probe `yaml:"startupProbe"`
		VolumeMounts   []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
			SubPath   string `yaml:"subPath"`
		} `yaml:"volumeMounts"`
	}
	probe struct {
		HTTPGet *struct {
			Path string `yaml:"path"`
			Port any    `yaml:"port"`
		} `yaml:"httpGet"`
	}
	volume struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name  string      `yaml:"name"`
			Items []keyToPath `yaml:"items"`
		} `yaml:"configMap"`
		Secret *struct {
			SecretName string      `yaml:"secretName"`
			Items      []keyToPath `yaml:"items"`
		} `yaml:"secret"`
	}
	keyToPath struct {
		Key  string `yaml:"key"`
		Path string `yaml:"path"`
	}
)

// files returns the object's entries (a Secret's data decoded).
func (o k8sObject) files() (map[string]string, error) {
	m := map[string]string{}
	for k, v := range o.Data {
		if o.Kind == "Secret" {
			raw, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				return nil, fmt.Errorf("%s %s: data.%s is not base64", o.Kind, o.Metadata.Name, k)
			}
			v = string(raw)
		}
		m[k] = v
	}
	for k, v := range o.StringData {
		m[k] = v
	}
	return m, nil
}

func parseManifest(t *testing.T, raw []byte) []k8sObject {
	t.Helper()
	var objs []k8sObject
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var o k8sObject
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", k8sManifest, len(objs)+1, err)
		}
		if o.Kind != "" {
			objs = append(objs, o)
		}
	}
	return objs
}

func TestDeployKubernetesManifest(t *testing.T) {
	isolateEnv(t)
	raw := readRepoFile(t, k8sManifest)
	checkEnvMentions(t, k8sManifest, raw, nil)
	objs := parseManifest(t, raw)

	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.Kind]++
	}
	for kind, want := range map[string]int{"ConfigMap": 1, "Secret": 1, "Job": 1, "Deployment": 2, "Service": 1} {
		if kinds[kind] < want {
			t.Errorf("%s: want at least %d %s, have %d", k8sManifest, want, kind, kinds[kind])
		}
	}

	// Every configuration file the manifest holds loads on its own.
	sources := map[string]map[string]string{} // "ConfigMap/name" → file → content
	for _, o := range objs {
		if o.Kind != "ConfigMap" && o.Kind != "Secret" {
			continue
		}
		files, err := o.files()
		if err != nil {
			t.Errorf("%s: %v", k8sManifest, err)
			continue
		}
		sources[o.Kind+"/"+o.Metadata.Name] = files
		for name, content := range files {
			if strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") {
				loadConfig(t, fmt.Sprintf("%s: %s %s, %s", k8sManifest, o.Kind, o.Metadata.Name, name), []byte(content), nil)
			}
		}
	}

	seen := map[string]bool{}
	var temporal []string
	for _, o := range objs {
		pod := o.Spec.Template.Spec
		if pod == nil {
			continue
		}
		for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
			where := fmt.Sprintf("%s: %s %s, container %s", k8sManifest, o.Kind, o.Metadata.Name, c.Name)
			cmd, cfg, ok := checkContainer(t, where, c, pod, sources)
			if !ok {
				continue
			}
			seen[cmd.Name()] = true
			temporal = append(temporal, fmt.Sprintf("%s %s %s", cfg.Temporal.Address, cfg.Temporal.Namespace, cfg.Temporal.TaskQueue))
			if bound := stopBound(cmd.Name(), cfg); bound > 0 {
				grace := 30 * time.Second // Kubernetes' default
				if pod.TerminationGracePeriodSeconds != nil {
					grace = time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
				}
				if grace <= bound {
					t.Errorf("%s: terminationGracePeriodSeconds %v: rollin %s may take %s to stop; want more", where, grace.Seconds(), cmd.Name(), bound)
				}
			}
		}
	}
	for _, want := range []string{"migrate", "worker", "serve"} {
		if !seen[want] {
			t.Errorf("%s: no container runs rollin %s", k8sManifest, want)
		}
	}
	// Worker, API and migration must meet on one cluster, namespace and task queue.
	slices.Sort(temporal)
	if temporal = slices.Compact(temporal); len(temporal) > 1 {
		t.Errorf("%s: the containers disagree on temporal.address, namespace and task_queue: %q", k8sManifest, temporal)
	}
}

// checkContainer checks a container's command line and environment, loads the
// configuration file it names (found through its volume mounts) and checks its probes
// against http.addr.
func checkContainer(t *testing.T, where string, c container, pod *podSpec, sources map[string]map[string]string) (*cobra.Command, config.Config, bool) {
	t.Helper()
	keys := configEnv()
	for _, e := range c.Env {
		if _, ok := keys[e.Name]; strings.HasPrefix(e.Name, "ROLLIN_") && !ok {
			t.Errorf("%s: env %s is not the variable of a configuration key (config.Keys())", where, e.Name)
		}
	}
	args := c.Args
	if len(c.Command) > 0 {
		if path.Base(c.Command[0]) != "rollin" {
			t.Errorf("%s: command %q does not run the rollin binary", where, c.Command)
			return nil, config.Config{}, false
		}
		args = slices.Concat(c.Command[1:], c.Args)
	}
	cmd := checkInvocation(t, where, args)
	if cmd == nil {
		return nil, config.Config{}, false
	}
	file := cmd.Flags().Lookup("config").Value.String()
	if file == "" {
		t.Errorf("%s: rollin %s without --config", where, cmd.Name())
		return nil, config.Config{}, false
	}
	content, from, err := mountedFile(file, c, pod, sources)
	if err != nil {
		t.Errorf("%s: --config %s: %v", where, file, err)
		return nil, config.Config{}, false
	}
	cfg, ok := loadConfig(t, where+" (--config from "+from+")", []byte(content), cmd)
	if !ok {
		return nil, config.Config{}, false
	}
	if cmd.Name() == "worker" || cmd.Name() == "serve" {
		if c.ReadinessProbe == nil || c.LivenessProbe == nil {
			t.Errorf("%s: rollin %s needs a readinessProbe (/readyz) and a livenessProbe (/healthz)", where, cmd.Name())
		}
	}
	port := httpPort(t, where, cfg)
	for kind, p := range map[string]*probe{"readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe, "startupProbe": c.StartupProbe} {
		if p == nil {
			continue
		}
		if p.HTTPGet == nil {
			t.Errorf("%s: %s: want an httpGet probe on /healthz or /readyz", where, kind)
			continue
		}
		want := map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz"}[kind]
		if got := p.HTTPGet.Path; (want != "" && got != want) || (got != "/healthz" && got != "/readyz") {
			t.Errorf("%s: %s path %q: want %s", where, kind, got, orElse(want, "/healthz or /readyz"))
		}
		probePort := -1
		switch v := p.HTTPGet.Port.(type) {
		case int:
			probePort = v
		case string:
			for _, cp := range c.Ports {
				if cp.Name == v {
					probePort = cp.ContainerPort
				}
			}
		}
		if probePort != port {
			t.Errorf("%s: %s port %v (%d) is not the port of http.addr %s", where, kind, p.HTTPGet.Port, probePort, cfg.HTTP.Addr)
		}
	}
	return cmd, cfg, true
}

func orElse(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// mountedFile finds the content of the file at p in the container: a ConfigMap or Secret
// of the manifest mounted at p's directory (or at p with subPath).
func mountedFile(p string, c container, pod *podSpec, sources map[string]map[string]string) (content, from string, err error) {
	for _, m := range c.VolumeMounts {
		key := ""
		switch {
		case m.SubPath == "" && path.Clean(m.MountPath) == path.Dir(p):
			key = path.Base(p)
		case m.SubPath != "" && path.Clean(m.MountPath) == p:
			key = m.SubPath
		default:
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name != m.Name {
				continue
			}
			var source string
			var items []keyToPath
			switch {
			case v.ConfigMap != nil:
				source, items = "ConfigMap/"+v.ConfigMap.Name, v.ConfigMap.Items
			case v.Secret != nil:
				source, items = "Secret/"+v.Secret.SecretName, v.Secret.Items
			default:
				return "", "", fmt.Errorf("volume %s is neither a ConfigMap nor a Secret", v.Name)
			}
			if len(items) > 0 {
				name := key
				key = ""
				for _, it := range items {
					if it.Path == name {
						key = it.Key
					}
				}
			}
			files, ok := sources[source]
			if !ok {
				return "", "", fmt.Errorf("volume %s: %s is not in the manifest", v.Name, source)
			}
			content, ok := files[key]
			if !ok || key == "" {
				return "", "", fmt.Errorf("volume %s: %s has no entry for %s", v.Name, source, path.Base(p))
			}
			return content, source + " " + key, nil
		}
		return "", "", fmt.Errorf("volume mount %s names no volume of the pod", m.Name)
	}
	return "", "", errors.New("no volume mounted there")
}

var (
	mdLink  = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	mdFence = regexp.MustCompile("^\\s*(```|~~~)")
)

func TestDeployDoc(t *testing.T) {
	raw := readRepoFile(t, deployDoc)
	checkEnvMentions(t, deployDoc, raw, cliEnv)

	// Every example is linked, and every relative link leads to a file.
	links := map[string]bool{}
	for _, m := range mdLink.FindAllStringSubmatch(string(raw), -1) {
		target, _, _ := strings.Cut(m[1], "#")
		if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
			continue
		}
		rel := path.Join(path.Dir(deployDoc), target)
		links[rel] = true
		if _, err := os.Stat(filepath.Join(repoRoot, filepath.FromSlash(rel))); err != nil {
			t.Errorf("%s: link %s: %v", deployDoc, m[1], err)
		}
	}
	err := filepath.WalkDir(filepath.Join(repoRoot, deployDir), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(repoRoot, p)
		if err != nil {
			return err
		}
		if rel = filepath.ToSlash(rel); !links[rel] {
			t.Errorf("%s does not link the example %s", deployDoc, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Every rollin command in a code block exists, with the flags shown.
	n := 0
	for _, line := range codeLines(raw) {
		where := fmt.Sprintf("%s:%d", deployDoc, line.n)
		cmds, err := splitCommands(line.text)
		if err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		for _, words := range cmds {
			if args, ok := rollinArgs(words); ok {
				n++
				checkInvocation(t, where, args)
			}
		}
	}
	if n == 0 {
		t.Errorf("%s shows no rollin command in its code blocks", deployDoc)
	}
	t.Logf("%s: %d rollin commands checked", deployDoc, n)
}

type codeLine struct {
	n    int
	text string
}

// codeLines returns the lines of the fenced code blocks, continuation lines (ending in a
// backslash) joined, each with the number of its first line.
func codeLines(raw []byte) []codeLine {
	var out []codeLine
	in := false
	var cur *codeLine
	for i, line := range strings.Split(string(raw), "\n") {
		if mdFence.MatchString(line) {
			in, cur = !in, nil
			continue
		}
		if !in {
			continue
		}
		if cur == nil {
			out = append(out, codeLine{n: i + 1})
			cur = &out[len(out)-1]
		}
		text := strings.TrimSpace(line)
		if strings.HasSuffix(text, "\\") {
			cur.text += strings.TrimSuffix(text, "\\") + " "
			continue
		}
		cur.text += text
		cur = nil
	}
	return out
}

// rollinArgs recognises a rollin invocation: the binary by name or path (after variable
// assignments, a "$ " prompt or "ExecStart="), or `go run ./cmd/rollin`; ok is false for
// any other command.
func rollinArgs(words []string) ([]string, bool) {
	for i, w := range words {
		w = strings.TrimPrefix(w, "ExecStart=")
		switch {
		case w == "$" && i == 0:
			continue
		case w == "go" && i+2 < len(words) && words[i+1] == "run" && strings.HasSuffix(words[i+2], "cmd/rollin"):
			return words[i+3:], true
		case w == "rollin" || strings.HasSuffix(w, "/rollin"):
			return words[i+1:], true
		case strings.Contains(w, "=") && !strings.HasPrefix(w, "-"):
			continue // NAME=value
		}
		return nil, false
	}
	return nil, false
}
