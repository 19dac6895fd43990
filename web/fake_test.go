package web

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/starter"
	"github.com/rollin-efa/rollin/store"
	"github.com/rollin-efa/rollin/textrule"
	"github.com/rollin-efa/rollin/workflows"
)

// fakeStarter is the pages' starter in memory: canned runs, services and municipalities,
// the role matrix of package starter (May, MayStart, MaySeeCoverage: the rules are
// starter's, not restated here), the starter's input checks built from the same textrule
// and domain functions, and refusals as the *starter.Error kinds the real one returns. It
// records every call, and separately every Start and Act it accepted: a refused one
// changes nothing, so that a test can tell "refused" from "done".
type fakeStarter struct {
	mu       sync.Mutex
	runs     []domain.RunStatus // in list order
	audit    map[string][]domain.AuditEvent
	services []domain.Service
	munis    []domain.Municipality
	coverage []domain.CoverageGroup
	// pageSize is List's page size when the filter sets none (the real one's is 100):
	// small, so that the lists and the CSV export page.
	pageSize int
	// failList, if set, is what List answers from the given call on (1 is the first).
	failList   error
	failListAt int

	calls  map[string]int
	starts []startCall
	acts   []actCall
}

type startCall struct {
	P            starter.Principal
	ARS, Service string
}

type actCall struct {
	P            starter.Principal
	ARS, Service string
	A            starter.Action
}

var _ Starter = (*fakeStarter)(nil)

func (f *fakeStarter) called(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[name]++
}

// callsOf returns how often the pages called name, accepted or refused.
func (f *fakeStarter) callsOf(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[name]
}

func (f *fakeStarter) accepted() ([]startCall, []actCall) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.starts), slices.Clone(f.acts)
}

func refuse(kind starter.Kind, format string, args ...any) error {
	return &starter.Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// lines checks single-line fields as the starter's checkFields does.
func textLines(fields ...string) error {
	for i := 0; i+1 < len(fields); i += 2 {
		if err := textrule.Line(fields[i], fields[i+1], textrule.MaxID); err != nil {
			return refuse(starter.KindInvalid, "%s", err)
		}
	}
	return nil
}

func roleOK(p starter.Principal) error {
	if !p.Role.Valid() {
		return refuse(starter.KindForbidden, "unknown role %q", p.Role)
	}
	if p.Role == domain.RoleMunicipality && p.ARS == "" {
		return refuse(starter.KindForbidden, "a municipality principal needs its ARS")
	}
	return nil
}

func runKey(ars, service string) (domain.ARS, domain.ServiceKey, error) {
	if err := textLines("ars", ars, "service", service); err != nil {
		return "", "", err
	}
	a, err := domain.ParseARS(ars)
	if err != nil {
		return "", "", refuse(starter.KindInvalid, "ars: %s", err)
	}
	k, err := domain.ParseServiceKey(service)
	if err != nil {
		return "", "", refuse(starter.KindInvalid, "service: %s", err)
	}
	return a, k, nil
}

// run returns the index of a visible run: a municipality sees its own runs only, and
// another's do not exist for it.
func (f *fakeStarter) run(p starter.Principal, ars, service string) (int, error) {
	if err := roleOK(p); err != nil {
		return 0, err
	}
	a, k, err := runKey(ars, service)
	if err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.runs, func(r domain.RunStatus) bool { return r.ARS == a && r.Service == k })
	if i < 0 || (p.Role == domain.RoleMunicipality && a != p.ARS) {
		return 0, refuse(starter.KindNotFound, "no roll-in of service %s into %s", k, a)
	}
	return i, nil
}

func (f *fakeStarter) Start(_ context.Context, p starter.Principal, ars, service string) (domain.RunStatus, bool, error) {
	f.called("Start")
	if !starter.MayStart(p) {
		return domain.RunStatus{}, false, refuse(starter.KindForbidden, "role %q may not start roll-ins (project managers do)", p.Role)
	}
	a, k, err := runKey(ars, service)
	if err != nil {
		return domain.RunStatus{}, false, err
	}
	if _, ok := f.muni(a); !ok {
		return domain.RunStatus{}, false, refuse(starter.KindNotFound, "municipality %s is not in the register", a)
	}
	if _, ok := f.service(k); !ok {
		return domain.RunStatus{}, false, refuse(starter.KindNotFound, "service %s is not in the catalogue", k)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.starts = append(f.starts, startCall{P: p, ARS: ars, Service: service})
	if i := slices.IndexFunc(f.runs, func(r domain.RunStatus) bool { return r.ARS == a && r.Service == k }); i >= 0 {
		return f.runs[i], false, nil
	}
	st := domain.RunStatus{ID: domain.RunID(a, k), ARS: a, Service: k, State: domain.RunRunning, Stage: domain.StagePruefung}
	f.runs = append(f.runs, st)
	return st, true, nil
}

func (f *fakeStarter) Status(_ context.Context, p starter.Principal, ars, service string) (domain.RunStatus, error) {
	f.called("Status")
	i, err := f.run(p, ars, service)
	if err != nil {
		return domain.RunStatus{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.runs[i], nil
}

var fakeStates = []string{"running", "waiting", "incident", "blocked", "live", "cancelled"}

func (f *fakeStarter) List(_ context.Context, p starter.Principal, filter store.RunFilter) ([]domain.RunStatus, string, error) {
	f.called("List")
	if f.failList != nil && f.callsOf("List") >= f.failListAt {
		return nil, "", f.failList
	}
	if err := roleOK(p); err != nil {
		return nil, "", err
	}
	if err := textLines("state", filter.State, "service", filter.Service, "land", filter.Land, "kreis", filter.Kreis, "ars", filter.ARS, "cursor", filter.Cursor); err != nil {
		return nil, "", err
	}
	switch {
	case filter.State != "" && !slices.Contains(fakeStates, filter.State):
		return nil, "", refuse(starter.KindInvalid, "state: %q is not one of %s", filter.State, strings.Join(fakeStates, ", "))
	case filter.Service != "" && !domain.Digits(filter.Service, 14):
		return nil, "", refuse(starter.KindInvalid, "service: %q is not a 14-digit Leistungsschlüssel", filter.Service)
	case filter.Land != "" && !domain.Digits(filter.Land, 2):
		return nil, "", refuse(starter.KindInvalid, "land: %q is not a 2-digit Land key", filter.Land)
	case filter.Kreis != "" && !domain.Digits(filter.Kreis, 5):
		return nil, "", refuse(starter.KindInvalid, "kreis: %q is not a 5-digit Kreis key", filter.Kreis)
	}
	if p.Role == domain.RoleMunicipality {
		if filter.ARS != "" && filter.ARS != string(p.ARS) {
			return []domain.RunStatus{}, "", nil
		}
		filter.ARS = string(p.ARS)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var match []domain.RunStatus
	for _, r := range f.runs {
		if (filter.State == "" || string(r.State) == filter.State) &&
			(filter.Service == "" || string(r.Service) == filter.Service) &&
			(filter.Land == "" || r.ARS.Land() == filter.Land) &&
			(filter.Kreis == "" || r.ARS.Kreis() == filter.Kreis) &&
			(filter.ARS == "" || string(r.ARS) == filter.ARS) &&
			(filter.UpdatedBefore.IsZero() || r.UpdatedAt.Before(filter.UpdatedBefore)) {
			match = append(match, r)
		}
	}
	from := 0
	if filter.Cursor != "" {
		n, err := strconv.Atoi(filter.Cursor)
		if err != nil || n < 0 || n > len(match) {
			return nil, "", refuse(starter.KindInvalid, "cursor: %q is not a cursor of this list", filter.Cursor)
		}
		from = n
	}
	size := f.pageSize
	if size == 0 {
		size = 100
	}
	to, next := min(from+size, len(match)), ""
	if to < len(match) {
		next = strconv.Itoa(to)
	}
	return slices.Clone(match[from:to]), next, nil
}

// Act refuses what the real starter refuses before Temporal (its text rules, unknown
// actions, the role matrix, a missing action ID, an invisible run) and what the workflow's
// validator refuses that the pages show (a final run, the wrong action now, a missing
// reason), and applies the rest.
func (f *fakeStarter) Act(_ context.Context, p starter.Principal, ars, service string, a starter.Action) (domain.RunStatus, error) {
	f.called("Act")
	if err := textLines("ars", ars, "service", service, "action", a.Name, "action_id", a.ID, "step", a.Step); err != nil {
		return domain.RunStatus{}, err
	}
	if err := textrule.Text("reason", a.Reason, textrule.MaxReason); err != nil {
		return domain.RunStatus{}, refuse(starter.KindInvalid, "%s", err)
	}
	if len(a.Data) > 0 {
		err := textrule.JSONStrings(a.Data, "data", func(path, s string, valid bool) error {
			if !valid {
				return refuse(starter.KindInvalid, "%s: not valid UTF-8", path)
			}
			check := textrule.Line
			if path == "data.contact_address" || path == "data.note" {
				check = textrule.Text
			}
			if err := check(path, s, textrule.MaxReason); err != nil {
				return refuse(starter.KindInvalid, "%s", err)
			}
			return nil
		})
		if err != nil {
			return domain.RunStatus{}, err
		}
	}
	if !slices.Contains(workflows.Actions, a.Name) {
		return domain.RunStatus{}, refuse(starter.KindInvalid, "action: %q is not one of %s", a.Name, strings.Join(workflows.Actions, ", "))
	}
	if !starter.May(p, a.Name) {
		return domain.RunStatus{}, refuse(starter.KindForbidden, "role %q may not %s", p.Role, a.Name)
	}
	if strings.TrimSpace(a.ID) == "" {
		return domain.RunStatus{}, refuse(starter.KindInvalid, "action_id: required (a unique ID per action makes retries safe)")
	}
	i, err := f.run(p, ars, service)
	if err != nil {
		return domain.RunStatus{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	r := &f.runs[i]
	switch {
	case r.State.Final():
		return domain.RunStatus{}, refuse(starter.KindConflict, "the run is %s: no further actions", r.State)
	case a.Name == workflows.ActionCancel && a.Reason == "":
		return domain.RunStatus{}, refuse(starter.KindInvalid, "reason: required to cancel a run")
	case a.Name == workflows.ActionSkipStep && a.Reason == "":
		return domain.RunStatus{}, refuse(starter.KindInvalid, "reason: required to skip a step")
	case (a.Name == workflows.ActionRetryStep || a.Name == workflows.ActionSkipStep) && r.State != domain.RunIncident:
		return domain.RunStatus{}, refuse(starter.KindConflict, "no incident is open (the run is %s)", r.State)
	case a.Name != workflows.ActionCancel && a.Name != workflows.ActionSkipStep && (r.WaitingFor == nil || r.WaitingFor.Action != a.Name):
		return domain.RunStatus{}, refuse(starter.KindConflict, "the run does not wait for %s", a.Name)
	}
	f.acts = append(f.acts, actCall{P: p, ARS: ars, Service: service, A: a})
	r.WaitingFor, r.State = nil, domain.RunRunning
	if a.Name == workflows.ActionCancel {
		r.State, r.Reason = domain.RunCancelled, a.Reason
	}
	return *r, nil
}

func (f *fakeStarter) Audit(ctx context.Context, p starter.Principal, ars, service string) ([]domain.AuditEvent, error) {
	f.called("Audit")
	i, err := f.run(p, ars, service)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.audit[f.runs[i].ID]), nil
}

func (f *fakeStarter) Services(_ context.Context, p starter.Principal) ([]domain.Service, error) {
	f.called("Services")
	if err := roleOK(p); err != nil {
		return nil, err
	}
	return slices.Clone(f.services), nil
}

func (f *fakeStarter) service(k domain.ServiceKey) (domain.Service, bool) {
	i := slices.IndexFunc(f.services, func(s domain.Service) bool { return s.Key == k })
	if i < 0 {
		return domain.Service{}, false
	}
	return f.services[i], true
}

func (f *fakeStarter) muni(a domain.ARS) (domain.Municipality, bool) {
	i := slices.IndexFunc(f.munis, func(m domain.Municipality) bool { return m.ARS == a })
	if i < 0 {
		return domain.Municipality{}, false
	}
	return f.munis[i], true
}

func (f *fakeStarter) Service(_ context.Context, p starter.Principal, key string) (domain.Service, error) {
	f.called("Service")
	if err := roleOK(p); err != nil {
		return domain.Service{}, err
	}
	if err := textLines("service", key); err != nil {
		return domain.Service{}, err
	}
	k, err := domain.ParseServiceKey(key)
	if err != nil {
		return domain.Service{}, refuse(starter.KindInvalid, "service: %s", err)
	}
	svc, ok := f.service(k)
	if !ok {
		return domain.Service{}, refuse(starter.KindNotFound, "service %s is not in the catalogue", k)
	}
	return svc, nil
}

func (f *fakeStarter) Municipalities(_ context.Context, p starter.Principal, filter store.MunicipalityFilter) ([]domain.Municipality, string, error) {
	f.called("Municipalities")
	if err := roleOK(p); err != nil {
		return nil, "", err
	}
	if err := textrule.Line("q", filter.Query, textrule.MaxQuery); err != nil {
		return nil, "", refuse(starter.KindInvalid, "%s", err)
	}
	if p.Role == domain.RoleMunicipality {
		filter.Query = string(p.ARS)
	}
	var found []domain.Municipality
	for _, m := range f.munis {
		if strings.Contains(strings.ToLower(m.Name), strings.ToLower(filter.Query)) || strings.HasPrefix(string(m.ARS), filter.Query) {
			found = append(found, m)
		}
	}
	return found, "", nil
}

func (f *fakeStarter) MunicipalityNames(_ context.Context, p starter.Principal, ars []domain.ARS) (map[domain.ARS]string, error) {
	f.called("MunicipalityNames")
	if err := roleOK(p); err != nil {
		return nil, err
	}
	names := map[domain.ARS]string{}
	for _, a := range ars {
		if m, ok := f.muni(a); ok {
			names[a] = m.Name
		}
	}
	return names, nil
}

func (f *fakeStarter) Coverage(ctx context.Context, p starter.Principal, service, land string) ([]domain.CoverageGroup, error) {
	f.called("Coverage")
	if err := roleOK(p); err != nil {
		return nil, err
	}
	if !starter.MaySeeCoverage(p) {
		return nil, refuse(starter.KindForbidden, "role %q may not see the coverage of a service (project managers and operators do)", p.Role)
	}
	if err := textLines("land", land); err != nil {
		return nil, err
	}
	if land != "" && !domain.Digits(land, 2) {
		return nil, refuse(starter.KindInvalid, "land: %q is not a 2-digit Land key", land)
	}
	if _, err := f.Service(ctx, p, service); err != nil {
		return nil, err
	}
	groups := make([]domain.CoverageGroup, len(f.coverage))
	copy(groups, f.coverage)
	return groups, nil
}

// errNotForPages answers the campaign calls, which no page makes.
var errNotForPages = errors.New("fake starter: campaigns are not part of the pages")

func (f *fakeStarter) StartCampaign(context.Context, starter.Principal, starter.CampaignRequest) (domain.CampaignProgress, bool, error) {
	f.called("StartCampaign")
	return domain.CampaignProgress{}, false, errNotForPages
}

func (f *fakeStarter) Campaign(context.Context, starter.Principal, string) (domain.CampaignProgress, error) {
	f.called("Campaign")
	return domain.CampaignProgress{}, errNotForPages
}

func (f *fakeStarter) ActOnCampaign(context.Context, starter.Principal, string, string, string) (domain.CampaignProgress, error) {
	f.called("ActOnCampaign")
	return domain.CampaignProgress{}, errNotForPages
}

// memSessions is the session store in memory: the pages' tests need sessions, not
// PostgreSQL (the store's own tests and the replica tests cover the table). down makes it
// fail as a database that does not answer.
type memSessions struct {
	mu   sync.Mutex
	m    map[string]store.Session
	down bool
}

var _ SessionStore = (*memSessions)(nil)

var errStoreDown = errors.New("mem sessions: connection refused")

func (m *memSessions) CreateSession(_ context.Context, s store.Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return errStoreDown
	}
	if m.m == nil {
		m.m = map[string]store.Session{}
	}
	m.m[s.ID] = s
	return nil
}

func (m *memSessions) Session(_ context.Context, id string) (store.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return store.Session{}, errStoreDown
	}
	s, ok := m.m[id]
	if !ok {
		return store.Session{}, fmt.Errorf("mem sessions: %w", store.ErrNotFound)
	}
	return s, nil
}

func (m *memSessions) DeleteSession(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return errStoreDown
	}
	delete(m.m, id)
	return nil
}

// The fixture's clock and thresholds: reminders after a week, escalation after two.
var (
	fixedNow   = time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	reminder   = 7 * 24 * time.Hour
	escalation = 14 * 24 * time.Hour
)

func daysAgo(n int) time.Time { return fixedNow.Add(-time.Duration(n) * 24 * time.Hour) }
