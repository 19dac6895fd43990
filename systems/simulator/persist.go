package simulator

import (
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rollin-efa/rollin/systems"
)

// The tables of a simulator's journal (see journal.go) and the shapes of their values.
// FIT-Connect adds its own (fitconnect_persist.go).
const (
	tableSeq        = "seq"        // key "": the last generated ID's number
	tableRequest    = "request"    // request template → count
	tableEffect     = "effect"     // effect → count
	tableKey        = "key"        // idempotency key seen → true
	tableIdem       = "idem"       // idempotency key → storedRecord
	tableTenant     = "tenant"     // ID → tenant
	tableSubmission = "submission" // ID → submissionRecord
	tableLink       = "link"       // ID → link
	tableRoute      = "route"      // leikaKey/ars → routeRecord
	tableRejection  = "rejection"  // ARS → systems.Problem
	tableNotice     = "notice"     // notification key → Notice a Listener has not finished with
)

type storedRecord struct {
	Fingerprint []byte            `json:"fp"`
	Status      int               `json:"status"`
	ContentType string            `json:"ct,omitempty"`
	Body        []byte            `json:"body,omitempty"`
	Header      map[string]string `json:"header,omitempty"`
}

type submissionRecord struct {
	submission
	Polls     int              `json:"polls"`
	Rejection *systems.Problem `json:"rejection,omitempty"`
}

type routeRecord struct {
	Lag    int        `json:"lag"`
	Routes []routeOut `json:"routes"`
}

// stateExt is the state a simulator adds to the shared one (FIT-Connect's): apply loads
// an entry of its tables (reporting false for a table it does not know), dump lists all
// of its values. Both run with the Sim's lock held or before it serves.
type stateExt interface {
	apply(e journalEntry) (bool, error)
	dump(add func(table, key string, v any))
}

// dirtyKey names one value a request changed.
type dirtyKey struct{ table, key string }

// JournalFile is the file in Config.StateDir where a simulator of kind keeps its state.
func JournalFile(kind Kind) string { return string(kind) + ".journal" }

// openState loads the simulator's state from cfg.StateDir and keeps it there from now on;
// without a StateDir the state lives in memory only. Call it before the simulator serves.
func (s *Sim) openState() error {
	if s.cfg.StateDir == "" {
		return nil
	}
	j, err := openJournal(filepath.Join(s.cfg.StateDir, JournalFile(s.kind)))
	if err != nil {
		return fmt.Errorf("%s simulator: %w", s.kind, err)
	}
	err = j.replay(s.apply)
	var state []journalEntry
	if err == nil {
		state, err = s.dump()
	}
	if err == nil {
		err = j.compact(state)
	}
	if err != nil {
		_ = j.close()
		return fmt.Errorf("%s simulator: %w", s.kind, err)
	}
	s.journal = j
	s.dirty = map[dirtyKey]func() any{}
	return nil
}

// mark records that a request changed the value of key in table; value returns it when
// the change is committed (nil deletes it). Call with s.mu held.
func (s *Sim) mark(table, key string, value func() any) {
	if s.journal != nil {
		s.dirty[dirtyKey{table, key}] = value
	}
}

// commit appends what changed since the last commit as one record and returns its number
// for journal.sync. Call with s.mu held.
func (s *Sim) commit() (int64, error) {
	if s.journal == nil || len(s.dirty) == 0 {
		return 0, nil
	}
	entries := make([]journalEntry, 0, len(s.dirty))
	for _, k := range slices.SortedFunc(maps.Keys(s.dirty), func(a, b dirtyKey) int {
		return strings.Compare(a.table+"\x00"+a.key, b.table+"\x00"+b.key)
	}) {
		e := journalEntry{T: k.table, K: k.key}
		if v := s.dirty[k](); v != nil {
			raw, err := json.Marshal(v)
			if err != nil {
				return 0, fmt.Errorf("encode %s %q: %w", k.table, k.key, err)
			}
			e.V = raw
		}
		entries = append(entries, e)
	}
	clear(s.dirty)
	return s.journal.append(entries)
}

// save commits and syncs what changed: for the changes the control methods make, under
// s.mu. A failure shows in the next request's answer, as the journal takes no more.
func (s *Sim) save() {
	if n, err := s.commit(); err == nil {
		_ = s.journal.sync(n)
	}
}

// markCount marks a counter of m for the journal.
func (s *Sim) markCount(table string, m map[string]int, key string) {
	s.mark(table, key, func() any { return m[key] })
}

// apply loads one journal entry into the state.
func (s *Sim) apply(e journalEntry) error {
	del := len(e.V) == 0
	decode := func(v any) error { return json.Unmarshal(e.V, v) }
	var err error
	switch e.T {
	case tableSeq:
		err = decode(&s.seq)
	case tableRequest, tableEffect:
		m := s.requests
		if e.T == tableEffect {
			m = s.effects
		}
		var n int
		if err = decode(&n); err == nil {
			m[e.K] = n
		}
	case tableKey:
		s.keys[e.K] = struct{}{}
	case tableIdem:
		var r storedRecord
		if err = decode(&r); err == nil {
			st := stored{resp: response{status: r.Status, contentType: r.ContentType, body: r.Body, header: r.Header}}
			copy(st.fingerprint[:], r.Fingerprint)
			s.idem[e.K] = st
		}
	case tableTenant:
		var t tenant
		if err = decode(&t); err == nil {
			s.tenants[e.K] = &t
		}
	case tableSubmission:
		var r submissionRecord
		if err = decode(&r); err == nil {
			sub := r.submission
			sub.polls, sub.rejection = r.Polls, r.Rejection
			s.submissions[e.K] = &sub
		}
	case tableLink:
		var l link
		if err = decode(&l); err == nil {
			s.links[e.K] = &l
		}
	case tableRoute:
		leika, ars, _ := strings.Cut(e.K, "/")
		var r routeRecord
		if err = decode(&r); err == nil {
			s.routing[routeKey{leika: leika, ars: ars}] = &routeEntry{lag: r.Lag, routes: r.Routes}
		}
	case tableRejection:
		if del {
			delete(s.rejections, e.K)
			break
		}
		var p systems.Problem
		if err = decode(&p); err == nil {
			s.rejections[e.K] = p
		}
	case tableNotice:
		if del {
			delete(s.notices, e.K)
			break
		}
		var n Notice
		if err = decode(&n); err == nil {
			s.notices[e.K] = n
		}
	default:
		known := false
		if s.ext != nil {
			known, err = s.ext.apply(e)
		}
		if !known && err == nil {
			err = fmt.Errorf("unknown table %q", e.T)
		}
	}
	return err
}

// dump lists the whole state as journal entries, for compaction.
func (s *Sim) dump() ([]journalEntry, error) {
	var out []journalEntry
	var err error
	add := func(table, key string, v any) {
		raw, merr := json.Marshal(v)
		if merr != nil && err == nil {
			err = fmt.Errorf("encode %s %q: %w", table, key, merr)
		}
		out = append(out, journalEntry{T: table, K: key, V: raw})
	}
	add(tableSeq, "", s.seq)
	for k, n := range s.requests {
		add(tableRequest, k, n)
	}
	for k, n := range s.effects {
		add(tableEffect, k, n)
	}
	for k := range s.keys {
		add(tableKey, k, true)
	}
	for k, st := range s.idem {
		add(tableIdem, k, st.record())
	}
	for id, t := range s.tenants {
		add(tableTenant, id, t)
	}
	for id, sub := range s.submissions {
		add(tableSubmission, id, sub.record())
	}
	for id, l := range s.links {
		add(tableLink, id, l)
	}
	for k, r := range s.routing {
		add(tableRoute, k.leika+"/"+k.ars, r.record())
	}
	for ars, p := range s.rejections {
		add(tableRejection, ars, p)
	}
	for key, n := range s.notices {
		add(tableNotice, key, n)
	}
	if s.ext != nil {
		s.ext.dump(add)
	}
	return out, err
}

func (st stored) record() storedRecord {
	return storedRecord{Fingerprint: st.fingerprint[:], Status: st.resp.status, ContentType: st.resp.contentType,
		Body: st.resp.body, Header: st.resp.header}
}

func (sub *submission) record() submissionRecord {
	return submissionRecord{submission: *sub, Polls: sub.polls, Rejection: sub.rejection}
}

func (r *routeEntry) record() routeRecord { return routeRecord{Lag: r.lag, Routes: r.routes} }

// The marks of the shared state, for the handlers.

func (s *Sim) markTenant(t *tenant) { s.mark(tableTenant, t.ID, func() any { return t }) }

func (s *Sim) markSubmission(sub *submission) {
	s.mark(tableSubmission, sub.ID, func() any { return sub.record() })
}

func (s *Sim) markLink(l *link) { s.mark(tableLink, l.ID, func() any { return l }) }

func (s *Sim) markRoute(k routeKey, e *routeEntry) {
	s.mark(tableRoute, k.leika+"/"+k.ars, func() any { return e.record() })
}

func (s *Sim) markRejection(ars string) {
	s.mark(tableRejection, ars, func() any {
		if p, ok := s.rejections[ars]; ok {
			return p
		}
		return nil
	})
}
