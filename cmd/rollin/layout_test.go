package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/rollin-efa/rollin/"

// deps lists what the packages import, directly and indirectly, as `go list -deps` reads
// the import graph from the source.
func deps(t *testing.T, pkgs ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list", "-deps"}, pkgs...)...).Output()
	require.NoError(t, err, "go list -deps %v", pkgs)
	return strings.Fields(string(out))
}

// imports maps each package of the module to the module's packages it imports directly
// (names relative to the module).
func imports(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "../../...").Output()
	require.NoError(t, err, "go list ../../...")
	graph := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		graph[pkg] = []string{}
		for _, p := range fields[1:] {
			if strings.HasPrefix(p, module) {
				graph[pkg] = append(graph[pkg], strings.TrimPrefix(p, module))
			}
		}
	}
	return graph
}

// TestLayout keeps the house's rules, which the compiler does not: the binary of an
// installation and of the CLI's users links no Temporal server (most of a binary's size
// and build time; only rollin-dev embeds one); config is a leaf that imports nothing of
// Rollin; the parts receive ready clients from the composition root instead of reading
// configuration; and workflows, which must replay deterministically, import neither the
// store nor the systems.
func TestLayout(t *testing.T) {
	for _, d := range deps(t, ".") {
		require.False(t, strings.HasPrefix(d, "go.temporal.io/server"), "cmd/rollin links %s", d)
		require.NotEqual(t, module+"devtemporal", d, "cmd/rollin links the embedded server's wrapper")
	}
	for _, d := range deps(t, "../../config") {
		if strings.HasPrefix(d, module) {
			require.Equal(t, module+"config", d, "config imports %s", d)
		}
	}
	graph := imports(t)
	for pkg, own := range graph {
		if strings.HasPrefix(pkg, "activities") || strings.HasPrefix(pkg, "api") || strings.HasPrefix(pkg, "auth") ||
			strings.HasPrefix(pkg, "starter") || strings.HasPrefix(pkg, "web") || strings.HasPrefix(pkg, "workflows") ||
			strings.HasPrefix(pkg, "store") || strings.HasPrefix(pkg, "systems") {
			require.NotContains(t, own, "config", "%s reads configuration: hand it what it needs from cmd/internal/compose", pkg)
		}
	}
	require.NotEmpty(t, graph["workflows"])
	for _, p := range graph["workflows"] {
		require.False(t, p == "store" || strings.HasPrefix(p, "systems"), "workflows imports %s", p)
	}
}
