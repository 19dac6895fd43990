package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// progress draws a progress bar for long CLI operations (bulk actions, campaign starts):
//
//	[#########.....................] 120/396 30% 12/s
//
// On a terminal it redraws one line in place with \r (at most every redrawEvery, and once
// more at the end); written to a file or pipe it prints a line each time another tenth of
// the work is done, so logs stay short. It is safe for concurrent use.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	total int
	done  int
	// base is done as first reported: the rate counts only the work this bar saw done,
	// not what was done before it started (e.g. runs already live when --wait begins).
	base     int
	reported bool
	width    int
	start    time.Time
	now      func() time.Time
	drawn    time.Time // last redraw on a terminal
	decile   int       // last tenth printed when not on a terminal
	printed  int       // done at the last line printed when not on a terminal
	started  bool      // anything written yet
}

// redrawEvery bounds how often a terminal bar is redrawn.
const redrawEvery = 100 * time.Millisecond

// newProgress returns a bar for total units of work written to w; it detects whether w is
// a terminal.
func newProgress(w io.Writer, total int) *progress {
	return newProgressAt(w, total, isTerminal(w), time.Now)
}

// newProgressAt is newProgress with the terminal decision and the clock given, for tests.
func newProgressAt(w io.Writer, total int, tty bool, now func() time.Time) *progress {
	return &progress{w: w, tty: tty, total: total, width: 30, start: now(), now: now}
}

// Add records n more units done and redraws when due.
func (p *progress) Add(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reported = true
	p.done += n
	p.draw(false)
}

// Set records that done units are done in all, for callers that poll a count.
func (p *progress) Set(done int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.reported {
		p.base, p.reported = done, true
	}
	p.done = done
	p.draw(false)
}

// SetTotal changes the amount of work, e.g. once a listing has been counted.
func (p *progress) SetTotal(total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total = total
}

// Finish draws the final state and ends the terminal line. Call it once, when the work
// is done or abandoned.
func (p *progress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw(true)
	if p.tty && p.started {
		fmt.Fprintln(p.w)
	}
}

func (p *progress) draw(final bool) {
	now := p.now()
	if p.tty {
		if !final && p.started && now.Sub(p.drawn) < redrawEvery && p.done < p.total {
			return
		}
		p.drawn, p.started = now, true
		fmt.Fprint(p.w, "\r"+p.line(now))
		return
	}
	decile := 10
	if p.total > 0 {
		decile = min(10, p.done*10/p.total)
	}
	if decile <= p.decile && !(final && (!p.started || p.done != p.printed)) {
		return
	}
	p.decile, p.printed, p.started = decile, p.done, true
	fmt.Fprintln(p.w, p.line(now))
}

// line renders the bar, e.g. "[#########.....................] 120/396 30% 12/s".
func (p *progress) line(now time.Time) string {
	frac := 1.0
	if p.total > 0 {
		frac = min(1, float64(p.done)/float64(p.total))
	}
	filled := int(frac * float64(p.width))
	bar := strings.Repeat("#", filled) + strings.Repeat(".", p.width-filled)
	return fmt.Sprintf("[%s] %d/%d %d%% %s", bar, p.done, p.total, int(frac*100), formatRate(p.done-p.base, now.Sub(p.start)))
}

// formatRate renders done units over elapsed as a rate per second.
func formatRate(done int, elapsed time.Duration) string {
	if elapsed <= 0 {
		return "-/s"
	}
	r := float64(done) / elapsed.Seconds()
	if r < 10 {
		return fmt.Sprintf("%.1f/s", r)
	}
	return fmt.Sprintf("%.0f/s", r)
}

// isTerminal reports whether w is a character device such as a terminal, without
// depending on a terminal package.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
