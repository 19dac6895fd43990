package cli

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestProgressLine(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	var out bytes.Buffer
	p := newProgressAt(&out, 396, false, clock.Now)
	p.width = 10
	require.Equal(t, "[..........] 0/396 0% -/s", p.line(clock.Now()))
	clock.Advance(10 * time.Second)
	p.done = 120
	require.Equal(t, "[###.......] 120/396 30% 12/s", p.line(clock.Now()))
	p.done = 5
	require.Equal(t, "[..........] 5/396 1% 0.5/s", p.line(clock.Now()))
	p.done = 396
	require.Equal(t, "[##########] 396/396 100% 40/s", p.line(clock.Now()))
}

func TestProgressRateCountsOnlyWhatTheBarSaw(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	var out bytes.Buffer
	p := newProgressAt(&out, 396, false, clock.Now)
	p.width = 10
	p.Set(200) // done before the bar started: no rate at all yet
	require.Equal(t, "[#####.....] 200/396 50% 0.0/s", p.line(clock.Now().Add(time.Millisecond)))
	clock.Advance(10 * time.Second)
	p.Set(300)
	require.Equal(t, "[#######...] 300/396 75% 10/s", p.line(clock.Now()))
}

func TestProgressWithoutTerminalPrintsEveryTenth(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	var out bytes.Buffer
	p := newProgressAt(&out, 396, false, clock.Now)
	for range 396 {
		clock.Advance(100 * time.Millisecond)
		p.Add(1)
	}
	p.Finish()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, 10, out.String())
	require.NotContains(t, out.String(), "\r")
	require.Equal(t, "[###...........................] 40/396 10% 10/s", lines[0])
	require.Equal(t, "[##############################] 396/396 100% 10/s", lines[9])
}

func TestProgressWithoutTerminalFinishPrintsWhereItStopped(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	var out bytes.Buffer
	p := newProgressAt(&out, 100, false, clock.Now)
	p.Add(3)
	require.Empty(t, out.String(), "under a tenth: nothing yet")
	clock.Advance(time.Second)
	p.Finish()
	require.Equal(t, "[..............................] 3/100 3% 3.0/s\n", out.String())
}

func TestProgressOnTerminalRedrawsInPlace(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	var out bytes.Buffer
	p := newProgressAt(&out, 50, true, clock.Now)
	p.width = 10
	p.Add(1) // first draw
	p.Add(1) // within redrawEvery: skipped
	clock.Advance(redrawEvery)
	p.Add(1)
	p.Set(50) // done: always drawn
	p.Finish()
	require.Equal(t,
		"\r[..........] 1/50 2% -/s"+
			"\r[..........] 3/50 6% 30/s"+
			"\r[##########] 50/50 100% 500/s"+
			"\r[##########] 50/50 100% 500/s\n",
		out.String())
}

func TestProgressEmptyTotal(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	p := newProgressAt(&out, 0, false, newFakeClock().Now)
	p.Finish()
	require.Equal(t, "[##############################] 0/0 100% -/s\n", out.String())
}

func TestIsTerminal(t *testing.T) {
	t.Parallel()
	require.False(t, isTerminal(&bytes.Buffer{}))
	f, err := os.CreateTemp(t.TempDir(), "out")
	require.NoError(t, err)
	defer f.Close()
	require.False(t, isTerminal(f), "a regular file is no terminal")
}
