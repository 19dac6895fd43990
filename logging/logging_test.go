package logging

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

// TestFormats: json writes one JSON object per line with level, time, message and
// fields (what a log collector parses); console writes text; anything else is refused.
func TestFormats(t *testing.T) {
	lines := map[string][]byte{}
	for _, format := range []string{"json", "console"} {
		path := filepath.Join(t.TempDir(), "stderr")
		f, err := os.Create(path)
		require.NoError(t, err)
		stderr := os.Stderr
		os.Stderr = f // zap opens "stderr" when the logger is built
		log, err := New("info", format)
		os.Stderr = stderr
		require.NoError(t, err)
		log.Debug("not at info")
		log.Info("signed in", zap.String("name", "pl"))
		_ = log.Sync()
		require.NoError(t, f.Close())
		lines[format], err = os.ReadFile(path)
		require.NoError(t, err)
	}
	var entry map[string]any
	require.NoError(t, json.Unmarshal(lines["json"], &entry), "one JSON object: %s", lines["json"])
	require.Equal(t, "info", entry["level"])
	require.Equal(t, "signed in", entry["msg"])
	require.Equal(t, "pl", entry["name"])
	require.Contains(t, entry, "ts")
	require.Error(t, json.Unmarshal(lines["console"], &entry), "console is text: %s", lines["console"])
	require.Contains(t, string(lines["console"]), "signed in")

	_, err := New("info", "xml")
	require.ErrorContains(t, err, `"xml"`)
	_, err = New("loud", "json")
	require.Error(t, err)
}
