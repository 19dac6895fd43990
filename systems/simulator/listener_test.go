package simulator_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/systems/municipality"
	"github.com/rollin-efa/rollin/systems/simulator"
)

// listener records what it hears and takes on the notices take accepts (all when nil).
type listener struct {
	take func(simulator.Notice) bool

	mu    sync.Mutex
	heard []simulator.Notice
	done  map[string]func()
}

func (l *listener) Heard(n simulator.Notice, done func()) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.heard = append(l.heard, n)
	if l.take != nil && !l.take(n) {
		return false
	}
	if l.done == nil {
		l.done = map[string]func(){}
	}
	l.done[n.Key] = done
	return true
}

// notices returns what the listener heard.
func (l *listener) notices() []simulator.Notice {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.heard)
}

// finish calls the done callback of the notice with key, as a listener does from its own
// goroutine once it has finished with it.
func (l *listener) finish(key string) {
	l.mu.Lock()
	done := l.done[key]
	l.mu.Unlock()
	done()
}

func notice(kind, step string) municipality.Notification {
	return municipality.Notification{ARS: ars, ServiceKey: service, Recipient: municipality.RecipientMunicipality,
		Kind: kind, Action: municipality.ActionSignAgreement, Step: step, Subject: "s", Body: "b"}
}

func TestListenerHearsEachNewNotificationOnce(t *testing.T) {
	t.Parallel()
	srv := start(t, simulator.Municipality, simulator.Config{})
	c, err := municipality.New(srv.URL, nil)
	require.NoError(t, err)
	require.NoError(t, c.Notify(t.Context(), "before", notice(municipality.NoticeWaiting, "call-off")))

	l := &listener{}
	srv.Sim.SetListener(l)
	require.NoError(t, c.Notify(t.Context(), "w", notice(municipality.NoticeWaiting, "framework-agreement")))
	require.NoError(t, c.Notify(t.Context(), "w", notice(municipality.NoticeWaiting, "framework-agreement"))) // replay
	require.NoError(t, c.Notify(t.Context(), "r", notice(municipality.NoticeReminder, "framework-agreement")))
	srv.Sim.SetListener(nil)
	require.NoError(t, c.Notify(t.Context(), "after", notice(municipality.NoticeWaiting, "dpa")))

	require.Equal(t, []simulator.Notice{
		{Key: "w", ARS: ars, Service: service, Recipient: municipality.RecipientMunicipality,
			Kind: municipality.NoticeWaiting, Action: municipality.ActionSignAgreement, Step: "framework-agreement"},
		{Key: "r", ARS: ars, Service: service, Recipient: municipality.RecipientMunicipality,
			Kind: municipality.NoticeReminder, Action: municipality.ActionSignAgreement, Step: "framework-agreement"},
	}, l.notices())
}

// TestListenerGetsOpenNoticesAfterRestart: with a state directory, the notices a listener
// took on and has not finished with are handed to the next listener after a restart
// (clean or crash); those it finished with, or did not take on, are not.
func TestListenerGetsOpenNoticesAfterRestart(t *testing.T) {
	t.Parallel()
	for _, rs := range restarts {
		t.Run(rs.name, func(t *testing.T) {
			t.Parallel()
			open := func(dir string, l *listener) (*simulator.Server, *municipality.Client) {
				srv, err := simulator.Start(simulator.Municipality, simulator.Config{StateDir: dir}, "")
				require.NoError(t, err)
				srv.Sim.SetListener(l)
				c, err := municipality.New(srv.URL, nil)
				require.NoError(t, err)
				return srv, c
			}
			dir := t.TempDir()
			first := &listener{take: func(n simulator.Notice) bool { return n.Kind == municipality.NoticeWaiting }}
			srv, c := open(dir, first)
			for i, step := range []string{"framework-agreement", "call-off", "dpa"} {
				require.NoError(t, c.Notify(t.Context(), fmt.Sprintf("w%d", i), notice(municipality.NoticeWaiting, step)))
			}
			require.NoError(t, c.Notify(t.Context(), "reminder", notice(municipality.NoticeReminder, "dpa")))
			first.finish("w1")

			second := &listener{}
			again := rs.again(t, srv, dir, simulator.Municipality)
			srv2, _ := open(again, second)
			var keys []string
			for _, n := range second.notices() {
				keys = append(keys, n.Key)
			}
			require.Equal(t, []string{"w0", "w2"}, keys, "the open notices, in key order")
			require.Equal(t, first.notices()[2], second.notices()[1], "handed over as heard")
			second.finish("w0")
			second.finish("w2")
			require.NoError(t, srv2.Close())

			third := &listener{}
			srv3, _ := open(again, third)
			require.Empty(t, third.notices())
			require.NoError(t, srv3.Close())
		})
	}
}
