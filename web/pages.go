package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/starter"
	"github.com/rollin-efa/rollin/store"
	"github.com/rollin-efa/rollin/textrule"
	"github.com/rollin-efa/rollin/workflows"
)

// runRow is one line of a list of runs, with the names a person reads.
type runRow struct {
	Run          domain.RunStatus
	Municipality string
	ServiceName  string
}

// runsData is the list page's content.
type runsData struct {
	Filter   url.Values
	Rows     []runRow
	Next     string // URL of the next page, "" on the last
	CSV      string
	Services []domain.Service
	Lands    any
	States   []domain.RunState
	Stages   []domain.Stage
	Own      bool // a municipality's own list: no filters by place
}

// runFilter reads the list filters from the query. The starter checks their values and
// refuses a malformed one by name.
func runFilter(v url.Values) store.RunFilter {
	return store.RunFilter{
		Service: strings.TrimSpace(v.Get("service")), Land: v.Get("land"), Kreis: strings.TrimSpace(v.Get("kreis")),
		State: v.Get("state"), Stage: v.Get("stage"), Cursor: v.Get("ab"),
	}
}

func (s *Server) runsPage(q *request) error {
	ctx, v := q.r.Context(), q.r.URL.Query()
	items, next, err := s.starter.List(ctx, q.p, runFilter(v))
	if err != nil {
		return err
	}
	rows, svcs, err := s.rows(q, items)
	if err != nil {
		return err
	}
	d := runsData{
		Filter: v, Rows: rows, Services: svcs, Lands: lands, States: runStates, Stages: stages,
		Own: q.p.Role == domain.RoleMunicipality, CSV: "/rollins.csv?" + withoutCursor(v).Encode(),
	}
	if next != "" {
		nv := withoutCursor(v)
		nv.Set("ab", next)
		d.Next = "/rollins?" + nv.Encode()
	}
	title := "Roll-ins"
	if d.Own {
		title = "Meine Roll-ins"
	}
	return s.render(q, http.StatusOK, "runs", title, d)
}

func withoutCursor(v url.Values) url.Values {
	c := url.Values{}
	for k, vs := range v {
		if k != "ab" && len(vs) > 0 && vs[0] != "" {
			c.Set(k, vs[0])
		}
	}
	return c
}

// rows names the municipalities and services of a page of runs, and returns the catalogue
// as the principal sees it.
func (s *Server) rows(q *request, items []domain.RunStatus) ([]runRow, []domain.Service, error) {
	ctx := q.r.Context()
	svcs, err := s.starter.Services(ctx, q.p)
	if err != nil {
		return nil, nil, err
	}
	ars := make([]domain.ARS, len(items))
	for i, it := range items {
		ars[i] = it.ARS
	}
	names, err := s.starter.MunicipalityNames(ctx, q.p, ars)
	if err != nil {
		return nil, nil, err
	}
	rows := make([]runRow, len(items))
	for i, it := range items {
		rows[i] = runRow{Run: it, Municipality: names[it.ARS], ServiceName: serviceName(svcs, it.Service)}
	}
	return rows, svcs, nil
}

func serviceName(svcs []domain.Service, key domain.ServiceKey) string {
	for _, s := range svcs {
		if s.Key == key {
			return s.Name
		}
	}
	return string(key)
}

// runData is the run page's content.
type runData struct {
	Row     runRow
	Service domain.Service
	Audit   []domain.AuditEvent
	// Forms are the actions the principal can take now, each with a fresh action ID, so
	// that a form sent twice (a double click, a reload) is applied once.
	Forms map[string]string
	// Waiting is the action the run waits for, if the principal is the one to take it.
	Waiting string
	Path    string
	// Posted is the refused form's input, shown again; empty on a fresh page.
	Posted url.Values
}

func (s *Server) runPage(q *request) error {
	d, err := s.runData(q)
	if err != nil {
		return err
	}
	return s.render(q, http.StatusOK, "run", d.Row.Municipality+" – "+d.Row.ServiceName, d)
}

func (s *Server) runData(q *request) (runData, error) {
	ctx, ars, svcKey := q.r.Context(), q.r.PathValue("ars"), q.r.PathValue("service")
	st, err := s.starter.Status(ctx, q.p, ars, svcKey)
	if err != nil {
		return runData{}, err
	}
	audit, err := s.starter.Audit(ctx, q.p, ars, svcKey)
	if err != nil {
		return runData{}, err
	}
	svc, err := s.starter.Service(ctx, q.p, svcKey)
	if err != nil && starter.KindOf(err) != starter.KindNotFound {
		return runData{}, err
	}
	names, err := s.starter.MunicipalityNames(ctx, q.p, []domain.ARS{st.ARS})
	if err != nil {
		return runData{}, err
	}
	name := svc.Name
	if name == "" {
		name = string(st.Service)
	}
	d := runData{
		Row: runRow{Run: st, Municipality: names[st.ARS], ServiceName: name}, Service: svc, Audit: audit,
		Forms: map[string]string{}, Path: "/rollins/" + string(st.ARS) + "/" + string(st.Service), Posted: url.Values{},
	}
	if st.State.Final() {
		return d, nil
	}
	if w := st.WaitingFor; w != nil && starter.May(q.p, w.Action) {
		d.Waiting = w.Action
		d.Forms[w.Action] = randomToken()
		if w.Action == workflows.ActionRetryStep && starter.May(q.p, workflows.ActionSkipStep) {
			d.Forms[workflows.ActionSkipStep] = randomToken()
		}
	}
	if starter.May(q.p, workflows.ActionCancel) {
		d.Forms[workflows.ActionCancel] = randomToken()
	}
	return d, nil
}

// act takes one action on a run from its page's form.
func (s *Server) act(q *request) error {
	f := q.r.PostForm
	a := starter.Action{Name: f.Get("action"), ID: f.Get("action_id"), Step: f.Get("step"), Reason: strings.TrimSpace(f.Get("reason"))}
	data, err := actionData(a.Name, f)
	if err != nil {
		return err
	}
	a.Data = data
	_, err = s.starter.Act(q.r.Context(), q.p, q.r.PathValue("ars"), q.r.PathValue("service"), a)
	if k := starter.KindOf(err); k == starter.KindInvalid || k == starter.KindConflict {
		// Show the run again with what was wrong above its forms.
		d, derr := s.runData(q)
		if derr != nil {
			return err
		}
		var refusal *starter.Error
		errors.As(err, &refusal)
		d.Posted = cleanForm(f) // the form comes back filled in, so that only the wrong field needs retyping
		v := view{Title: d.Row.Municipality + " – " + d.Row.ServiceName, Data: d, Error: "Nicht übernommen:", ErrorDetail: refusal.Msg}
		status := http.StatusBadRequest
		if k == starter.KindConflict {
			status = http.StatusConflict
		}
		return s.write(q.w, q.r, &q.sess, status, "run", v)
	}
	flash := "aktion"
	if starter.IsPending(err) {
		// Sent and perhaps applied, only not yet recorded (the database is slow or away):
		// saying "failed" would make people do it again, or give up on what they did.
		s.log.Warn("action sent, not yet recorded", zap.String("path", q.r.URL.Path), zap.Error(err))
		flash, err = "unterwegs", nil
	}
	if err != nil {
		return err
	}
	http.Redirect(q.w, q.r, "/rollins/"+q.r.PathValue("ars")+"/"+q.r.PathValue("service")+"?ok="+flash, http.StatusSeeOther)
	return nil
}

// actionData turns a form into the data an action carries, in the JSON the API takes.
func actionData(action string, f url.Values) (json.RawMessage, error) {
	// json.Marshal would turn invalid UTF-8 into U+FFFD without a word, so that the
	// starter, which checks every other rule of data's strings, could not see it.
	for _, name := range dataFields {
		if !utf8.ValidString(f.Get(name)) {
			return nil, &starter.Error{Kind: starter.KindInvalid, Msg: "data." + name + ": not valid UTF-8"}
		}
	}
	var v any
	switch action {
	case workflows.ActionSubmitConnectionData:
		c := workflows.ConnectionData{
			ContactEmail: strings.TrimSpace(f.Get("contact_email")), ContactAddress: strings.TrimSpace(f.Get("contact_address")),
			Fachverfahren: f.Get("fachverfahren"), Transport: domain.Transport(f.Get("transport")),
			OrgUnitID: strings.TrimSpace(f.Get("org_unit_id")), DVDVKey: strings.TrimSpace(f.Get("dvdv_key")),
			PaymentAccount: strings.ReplaceAll(f.Get("payment_account"), " ", ""),
		}
		v = c
	case workflows.ActionConfirmTest:
		var received bool
		switch f.Get("received") {
		case "ja":
			received = true
		case "nein":
		default:
			return nil, &starter.Error{Kind: starter.KindInvalid, Msg: "Bitte wählen Sie, ob die Testeinreichung angekommen ist."}
		}
		v = map[string]any{"received": received, "note": strings.TrimSpace(f.Get("note"))}
	default:
		return nil, nil
	}
	b, err := json.Marshal(v)
	return b, err
}

// cleanForm returns a refused form's values for showing them again, without what the
// starter refused: NUL, invalid UTF-8 and control characters would otherwise be echoed
// into the page (line breaks and tabs of free text stay), and over-long text is cut.
func cleanForm(f url.Values) url.Values {
	out := make(url.Values, len(f))
	for k, vs := range f {
		for _, v := range vs {
			out[k] = append(out[k], textrule.Clean(v, textrule.MaxReason))
		}
	}
	return out
}

// dataFields are the form fields actionData puts into an action's data.
var dataFields = []string{"contact_email", "contact_address", "fachverfahren", "transport", "org_unit_id", "dvdv_key", "payment_account", "received", "note"}

// startData is the start page's content.
type startData struct {
	Query    string
	Service  string
	Services []domain.Service
	Found    []domain.Municipality
	Searched bool
}

func (s *Server) startPage(q *request) error {
	ctx, v := q.r.Context(), q.r.URL.Query()
	if !starter.MayStart(q.p) {
		return &starter.Error{Kind: starter.KindForbidden, Msg: "project managers start roll-ins"}
	}
	svcs, err := s.starter.Services(ctx, q.p)
	if err != nil {
		return err
	}
	d := startData{Query: strings.TrimSpace(v.Get("q")), Service: v.Get("service"), Services: svcs}
	if d.Query != "" {
		d.Searched = true
		d.Found, _, err = s.starter.Municipalities(ctx, q.p, store.MunicipalityFilter{Query: d.Query, Limit: 25})
		if err != nil {
			return err
		}
	}
	return s.render(q, http.StatusOK, "start", "Roll-in starten", d)
}

func (s *Server) start(q *request) error {
	f := q.r.PostForm
	st, created, err := s.starter.Start(q.r.Context(), q.p, f.Get("ars"), f.Get("service"))
	if err != nil {
		return err
	}
	flash := "vorhanden"
	if created {
		flash = "gestartet"
	}
	http.Redirect(q.w, q.r, "/rollins/"+string(st.ARS)+"/"+string(st.Service)+"?ok="+flash, http.StatusSeeOther)
	return nil
}

// incidentRow is one line of the operators' inbox.
type incidentRow struct {
	runRow
	Step     string
	Error    string
	Attempts int
	Since    time.Time
}

type incidentsData struct {
	Rows   []incidentRow
	Next   string
	BulkID string
	// Actions are the bulk actions the principal may take (the starter says which).
	Actions []string
	Results []bulkResult
}

type bulkResult struct {
	Row runRow
	OK  bool
	Msg string
}

func (s *Server) incidentsPage(q *request) error {
	d, err := s.incidents(q)
	if err != nil {
		return err
	}
	return s.render(q, http.StatusOK, "incidents", "Störungen", d)
}

func (s *Server) incidents(q *request) (incidentsData, error) {
	ctx := q.r.Context()
	items, next, err := s.starter.List(ctx, q.p, store.RunFilter{State: string(domain.RunIncident), Limit: 100, Cursor: q.r.URL.Query().Get("ab")})
	if err != nil {
		return incidentsData{}, err
	}
	rows, _, err := s.rows(q, items)
	if err != nil {
		return incidentsData{}, err
	}
	d := incidentsData{BulkID: randomToken()}
	for _, a := range bulkActions {
		if starter.May(q.p, a) {
			d.Actions = append(d.Actions, a)
		}
	}
	for _, r := range rows {
		row := incidentRow{runRow: r, Since: r.Run.UpdatedAt}
		if w := r.Run.WaitingFor; w != nil {
			row.Step, row.Error = w.Step, w.Note
		}
		// The list carries no steps; the inbox is short, so read each run for its attempts.
		full, err := s.starter.Status(ctx, q.p, string(r.Run.ARS), string(r.Run.Service))
		if err != nil {
			s.log.Warn("incident inbox: run not read, its attempts are not shown", zap.String("run", r.Run.ID), zap.Error(err))
		} else {
			for _, st := range full.Steps {
				if st.Name == row.Step {
					row.Attempts = st.Attempts
					if st.LastError != "" {
						row.Error = st.LastError
					}
				}
			}
		}
		d.Rows = append(d.Rows, row)
	}
	if next != "" {
		d.Next = "/stoerungen?ab=" + url.QueryEscape(next)
	}
	return d, nil
}

// bulkActions are what the incident inbox offers for the selected runs.
var bulkActions = []string{workflows.ActionRetryStep, workflows.ActionSkipStep, workflows.ActionCancel}

// bulkAct retries, skips or cancels the selected runs, each as its own action with an ID
// derived from the form's, the action and the run, so that sending the form again applies
// nothing twice, and sending it with another action is that other action.
func (s *Server) bulkAct(q *request) error {
	f := q.r.PostForm
	action, reason, bulkID := f.Get("action"), strings.TrimSpace(f.Get("reason")), f.Get("bulk_id")
	selected := f["run"]
	if len(selected) == 0 {
		return &starter.Error{Kind: starter.KindInvalid, Msg: "Bitte wählen Sie mindestens einen Roll-in aus."}
	}
	if !slices.Contains(bulkActions, action) {
		return &starter.Error{Kind: starter.KindInvalid, Msg: "Bitte wählen Sie: wiederholen, überspringen oder abbrechen."}
	}
	if bulkID == "" {
		return &starter.Error{Kind: starter.KindInvalid, Msg: "Dem Formular fehlt seine Kennung; bitte laden Sie die Seite neu."}
	}
	var d incidentsData
	for _, run := range selected {
		ars, svc, _ := strings.Cut(run, "/")
		res := bulkResult{Row: runRow{Run: domain.RunStatus{ARS: domain.ARS(ars), Service: domain.ServiceKey(svc)}}}
		st, err := s.starter.Act(q.r.Context(), q.p, ars, svc, starter.Action{Name: action, ID: bulkID + ":" + action + ":" + run, Reason: reason})
		if err == nil {
			res.OK, res.Row.Run = true, st
		} else {
			var refusal *starter.Error
			if errors.As(err, &refusal) {
				res.Msg = refusal.Msg
			} else {
				res.Msg = "interner Fehler"
				s.log.Error("bulk action failed", zap.String("run", run), zap.String("action", action), zap.Error(err))
			}
		}
		d.Results = append(d.Results, res)
	}
	names := make([]domain.ARS, len(d.Results))
	for i, r := range d.Results {
		names[i] = r.Row.Run.ARS
	}
	if n, err := s.starter.MunicipalityNames(q.r.Context(), q.p, names); err == nil {
		for i := range d.Results {
			d.Results[i].Row.Municipality = n[d.Results[i].Row.Run.ARS]
		}
	}
	rest, err := s.incidents(q)
	if err != nil {
		return err
	}
	rest.Results = d.Results
	return s.render(q, http.StatusOK, "incidents", "Störungen", rest)
}

// overdueRow is a run that has waited on someone past the reminder threshold.
type overdueRow struct {
	runRow
	Days      int
	Escalated bool
}

type overdueData struct {
	Rows                    []overdueRow
	Next                    string
	ReminderDays, EscalDays int
}

func (s *Server) overduePage(q *request) error {
	now := s.opts.Now()
	items, next, err := s.starter.List(q.r.Context(), q.p, store.RunFilter{
		State: string(domain.RunWaiting), UpdatedBefore: now.Add(-s.opts.ReminderAfter), Limit: 100, Cursor: q.r.URL.Query().Get("ab"),
	})
	if err != nil {
		return err
	}
	rows, _, err := s.rows(q, items)
	if err != nil {
		return err
	}
	d := overdueData{ReminderDays: int(s.opts.ReminderAfter.Hours() / 24), EscalDays: int(s.opts.EscalationAfter.Hours() / 24)}
	for _, r := range rows {
		waited := now.Sub(r.Run.UpdatedAt)
		d.Rows = append(d.Rows, overdueRow{runRow: r, Days: int(waited.Hours() / 24), Escalated: waited >= s.opts.EscalationAfter})
	}
	if next != "" {
		d.Next = "/ueberfaellig?ab=" + url.QueryEscape(next)
	}
	return s.render(q, http.StatusOK, "overdue", "Überfällig", d)
}

// servicesPage lists the catalogue.
func (s *Server) servicesPage(q *request) error {
	svcs, err := s.starter.Services(q.r.Context(), q.p)
	if err != nil {
		return err
	}
	return s.render(q, http.StatusOK, "services", "Dienste", svcs)
}

// servicePage shows a Steckbrief at a glance.
func (s *Server) servicePage(q *request) error {
	svc, err := s.starter.Service(q.r.Context(), q.p, q.r.PathValue("key"))
	if err != nil {
		return err
	}
	return s.render(q, http.StatusOK, "service", svc.Name, svc)
}
