package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rollin-efa/rollin/domain"
)

// RunFilter selects a page of runs. Empty fields do not filter.
type RunFilter struct {
	State   string // a domain.RunState, e.g. "waiting"
	Stage   string // a domain.Stage, e.g. "anbindung"
	Service string // a Leistungsschlüssel
	Land    string // 2-digit Land key
	Kreis   string // 5-digit Kreis key
	ARS     string // one municipality, e.g. for its own staff
	// Organisation, when not nil, keeps the runs of that organisation only (the empty
	// organisation is a value too: the installation's own).
	Organisation *domain.Organisation
	// Step is the step the run waits on: the step with the open incident, or the human
	// step waiting for a person (the run's waiting_for.step), e.g. "tenant".
	Step string
	// UpdatedBefore, when not zero, keeps runs whose last transition is older: with
	// State "waiting", the runs that have waited that long (the overdue list).
	UpdatedBefore time.Time
	// Limit is the page size: 0 means 100, at most 1000.
	Limit int
	// Cursor is the next value of the previous page; empty for the first page.
	Cursor string
}

// ApplySnapshot projects one workflow transition into the read model. Activities may be
// retried and workflows replayed, so it is idempotent and order-tolerant: in one
// transaction the run and its steps are replaced only if snap.Status.Seq is newer than the
// stored seq (a repeated or stale snapshot leaves them as they are), and the audit events
// are appended, each (run, seq) at most once, whether or not the status was newer.
//
// Free text (reasons, notes, errors, audit details) is cleaned of what PostgreSQL refuses
// (NUL, invalid UTF-8) and of control characters before it is written: see cleanText.
func (s *Store) ApplySnapshot(ctx context.Context, snap domain.RunSnapshot) error {
	snap = cleanSnapshot(snap)
	st := snap.Status
	if st.ID == "" {
		return fmt.Errorf("store: apply snapshot: run ID is empty: %w", ErrInvalid)
	}
	ars, err := domain.ParseARS(string(st.ARS))
	if err != nil {
		return fmt.Errorf("store: apply snapshot of %s: %w: %w", st.ID, err, ErrInvalid)
	}
	if _, err := domain.ParseServiceKey(string(st.Service)); err != nil {
		return fmt.Errorf("store: apply snapshot of %s: %w: %w", st.ID, err, ErrInvalid)
	}
	if _, err := domain.ParseOrganisation(string(st.Organisation)); err != nil {
		return fmt.Errorf("store: apply snapshot of %s: %w: %w", st.ID, err, ErrInvalid)
	}
	for _, e := range snap.Events {
		if e.RunID != "" && e.RunID != st.ID {
			return fmt.Errorf("store: apply snapshot of %s: event %d belongs to run %s: %w", st.ID, e.Seq, e.RunID, ErrInvalid)
		}
	}

	var waitAction, waitRole, waitStep, waitNote *string
	if w := st.WaitingFor; w != nil {
		role := string(w.Role)
		waitAction, waitRole, waitStep, waitNote = &w.Action, &role, &w.Step, &w.Note
	}

	steps := newStepArrays(st.Steps)
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var newer bool
		err := tx.QueryRow(ctx, upsertRunSQL,
			st.ID, string(ars), string(st.Service), ars.Land(), ars.Kreis(), string(st.State),
			string(st.Stage), waitAction, waitRole, waitStep, waitNote, st.Reason, st.Seq,
			st.CreatedAt, st.UpdatedAt, steps.names, steps.stages, steps.states, steps.attempts,
			steps.errors, steps.updated, string(st.Organisation)).Scan(&newer)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) { // no row: a stale or repeated snapshot
			return fmt.Errorf("upsert run: %w", err)
		}
		return appendEvents(ctx, tx, st.ID, snap.Events)
	})
	if err != nil {
		return fmt.Errorf("store: apply snapshot of %s seq %d: %w", st.ID, st.Seq, err)
	}
	return nil
}

func appendEvents(ctx context.Context, tx pgx.Tx, runID string, events []domain.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	n := len(events)
	seqs, ats := make([]int64, n), make([]time.Time, n)
	actors, roles, actions := make([]string, n), make([]string, n), make([]string, n)
	steps, reasons, details, workers := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, e := range events {
		seqs[i], ats[i] = e.Seq, e.At
		actors[i], roles[i], actions[i] = e.Actor, string(e.Role), e.Action
		steps[i], reasons[i], details[i], workers[i] = e.Step, e.Reason, e.Detail, e.Worker
	}
	if _, err := tx.Exec(ctx, insertEventsSQL, runID, seqs, ats, actors, roles, actions, steps, reasons, details, workers); err != nil {
		return fmt.Errorf("append %d audit events: %w", n, err)
	}
	return nil
}

// Run returns the read model of one run with its steps in plan order, or an error
// wrapping ErrNotFound. Run and steps come from one statement, so they always belong to
// the same snapshot.
func (s *Store) Run(ctx context.Context, id string) (domain.RunStatus, error) {
	var (
		run   runRow
		steps stepArrays
	)
	dest := append(run.dest(), &steps.names, &steps.stages, &steps.states, &steps.attempts, &steps.errors, &steps.updated)
	err := s.pool.QueryRow(ctx, runWithStepsSQL, id).Scan(dest...)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return domain.RunStatus{}, fmt.Errorf("store: load run %s: %w", id, ErrNotFound)
	case err != nil:
		return domain.RunStatus{}, fmt.Errorf("store: load run %s: %w", id, err)
	}
	status := run.status()
	status.Steps = steps.statuses()
	return status, nil
}

// stepArrays are a run's steps as the runs table keeps them: one array per field, element
// i of each belonging to step i (a CHECK keeps their lengths equal).
type stepArrays struct {
	names, stages, states, errors []string
	attempts                      []int32
	updated                       []time.Time
}

func newStepArrays(steps []domain.StepStatus) stepArrays {
	n := len(steps)
	a := stepArrays{
		names: make([]string, n), stages: make([]string, n), states: make([]string, n), errors: make([]string, n),
		attempts: make([]int32, n), updated: make([]time.Time, n),
	}
	for i, st := range steps {
		a.names[i], a.stages[i], a.states[i], a.errors[i] = st.Name, string(st.Stage), string(st.State), st.LastError
		a.attempts[i], a.updated[i] = int32(min(max(st.Attempts, 0), math.MaxInt32)), st.UpdatedAt
	}
	return a
}

// statuses zips the arrays back into steps; nil when the run has none, as it was written.
func (a stepArrays) statuses() []domain.StepStatus {
	if len(a.names) == 0 {
		return nil
	}
	out := make([]domain.StepStatus, len(a.names))
	for i := range out {
		out[i] = domain.StepStatus{
			Name: a.names[i], Stage: domain.Stage(a.stages[i]), State: domain.StepState(a.states[i]),
			Attempts: int(a.attempts[i]), LastError: a.errors[i], UpdatedAt: a.updated[i].UTC(),
		}
	}
	return out
}

// Runs returns one page of runs in ID order, without their steps (a list view does not
// show them and a campaign has thousands of runs). next is "" on the last page.
func (s *Store) Runs(ctx context.Context, f RunFilter) ([]domain.RunStatus, string, error) {
	limit, err := checkLimit(f.Limit)
	if err != nil {
		return nil, "", err
	}
	query, args := runsSQL(f, limit)
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("store: list runs: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.RunStatus, error) {
		var run runRow
		if err := row.Scan(run.dest()...); err != nil {
			return domain.RunStatus{}, err
		}
		return run.status(), nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("store: list runs: %w", err)
	}
	var next string
	if len(items) > limit {
		items = items[:limit]
		next = items[limit-1].ID
	}
	return items, next, nil
}

// Audit returns the audit log of a run ordered by seq; it is empty for an unknown run.
func (s *Store) Audit(ctx context.Context, runID string) ([]domain.AuditEvent, error) {
	rows, err := s.pool.Query(ctx, auditSQL, runID)
	if err != nil {
		return nil, fmt.Errorf("store: load audit of %s: %w", runID, err)
	}
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.AuditEvent, error) {
		var (
			e    domain.AuditEvent
			role string
		)
		err := row.Scan(&e.RunID, &e.Seq, &e.At, &e.Actor, &role, &e.Action, &e.Step, &e.Reason, &e.Detail, &e.Worker)
		e.Role, e.At = domain.Role(role), e.At.UTC()
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: load audit of %s: %w", runID, err)
	}
	return events, nil
}

// runRow receives the columns of runColumns, including the nullable waiting_* ones.
type runRow struct {
	id, ars, service, state, stage           string
	waitAction, waitRole, waitStep, waitNote *string
	reason                                   string
	seq                                      int64
	created, updated                         time.Time
	organisation                             string
}

func (r *runRow) dest() []any {
	return []any{&r.id, &r.ars, &r.service, &r.state, &r.stage,
		&r.waitAction, &r.waitRole, &r.waitStep, &r.waitNote, &r.reason, &r.seq, &r.created, &r.updated,
		&r.organisation}
}

// status converts the row; WaitingFor is nil unless the run waits on someone.
func (r *runRow) status() domain.RunStatus {
	st := domain.RunStatus{
		ID: r.id, ARS: domain.ARS(r.ars), Service: domain.ServiceKey(r.service), Organisation: domain.Organisation(r.organisation),
		State: domain.RunState(r.state), Stage: domain.Stage(r.stage), Reason: r.reason,
		Seq: r.seq, CreatedAt: r.created.UTC(), UpdatedAt: r.updated.UTC(),
	}
	if r.waitAction != nil {
		st.WaitingFor = &domain.WaitingFor{
			Action: *r.waitAction, Role: domain.Role(deref(r.waitRole)),
			Step: deref(r.waitStep), Note: deref(r.waitNote),
		}
	}
	return st
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// CountRunsByState counts every roll-in in the read model by state, across
// organisations: what the rollin_runs metric shows at each scrape.
func (s *Store) CountRunsByState(ctx context.Context) (map[string]int64, error) {
	rows, err := s.pool.Query(ctx, countRunsByStateSQL)
	if err != nil {
		return nil, fmt.Errorf("store: count runs by state: %w", err)
	}
	counts := map[string]int64{}
	var (
		state string
		n     int64
	)
	_, err = pgx.ForEachRow(rows, []any{&state, &n}, func() error {
		counts[state] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: count runs by state: %w", err)
	}
	return counts, nil
}
