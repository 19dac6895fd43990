package simulator

import (
	"maps"
	"slices"
)

// Notice is a notification the municipality simulator received, as its Listener hears
// it. With a StateDir it is kept in the journal as JSON, under these field names.
type Notice struct {
	// Key is the request's idempotency key: the notification's identity.
	Key             string
	ARS, Service    string
	Recipient, Kind string
	// Action and Step are what the run waits for; empty in an announcement.
	Action, Step string
}

// Listener hears of the notifications the municipality simulator receives: the
// development autopilot (package devsim) plays the people they are addressed to. The
// simulator only passes them on; what to do about a notice is the listener's business.
type Listener interface {
	// Heard is handed each new notification once (a replayed request is not new), while
	// the request is being answered: it must not block or call back into the
	// simulator. It reports whether the listener took the notice on; if so it calls done,
	// later and from another goroutine, once it has finished with it (not when it drops
	// it on the way out: a restart hands such a notice over again).
	Heard(n Notice, done func()) bool
}

// SetListener makes the municipality simulator hand every new notification to l; nil
// detaches it. The caller owns l and stops it (before whatever l acts through goes away).
// Other kinds of simulator receive no notifications.
//
// With a StateDir the simulator keeps every notice l took on until l is done with it, and
// hands those still open to the next listener set: a restart, kill -9 included, does not
// lose what the listener was about to do about a notice.
func (s *Sim) SetListener(l Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listener = l
	if l == nil {
		return
	}
	for _, key := range slices.Sorted(maps.Keys(s.notices)) {
		if !l.Heard(s.notices[key], s.doneFunc(key)) {
			s.forgetNotice(key)
		}
	}
	s.save()
}

// takeNotice hands a new notification to the listener and, with a StateDir, keeps it
// until the listener is done with it. Call with s.mu held.
func (s *Sim) takeNotice(n Notice) {
	if s.listener == nil || !s.listener.Heard(n, s.doneFunc(n.Key)) || s.journal == nil {
		return
	}
	s.notices[n.Key] = n
	s.mark(tableNotice, n.Key, func() any { return n })
}

func (s *Sim) forgetNotice(key string) {
	delete(s.notices, key)
	s.mark(tableNotice, key, func() any { return nil })
}

// doneFunc is the done callback of the notice with key: it forgets the notice. The record
// need not wait for its fsync: a notice handed over again after a crash is one the
// listener must recognise anyway (the autopilot's action ID derives from the key).
func (s *Sim) doneFunc(key string) func() {
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.notices[key]; ok {
			s.forgetNotice(key)
			_, _ = s.commit() // a failure shows in the next request's answer
		}
	}
}
