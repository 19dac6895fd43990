package web

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/starter"
	"github.com/rollin-efa/rollin/workflows"
)

// The fixture's register and catalogue.
const (
	ownARS      = "055150000000" // Münster: the municipality principal's own
	otherARS    = "053740004004" // Bergneustadt
	koelnARS    = "053150000000" // Köln: the run with the incident
	flensARS    = "010010000000" // Flensburg: a live run
	formulaARS  = "091620000000" // a name a spreadsheet would run as a formula
	wohngeld    = "99107023037000"
	hundesteuer = "99083001000000"
)

// The roles the pages know, and "" for nobody signed in.
const (
	pm, operator, municipality, signedOut = "pm", "operator", "municipality", ""
)

var roles = []string{pm, operator, municipality, signedOut}

var principals = map[string]starter.Principal{
	pm:           {Name: "pl-erika", Role: domain.RolePM},
	operator:     {Name: "betrieb-otto", Role: domain.RoleOperator},
	municipality: {Name: "kommune-ms", Role: domain.RoleMunicipality, ARS: ownARS},
}

func runPath(ars, service string) string { return "/rollins/" + ars + "/" + service }

// newFake returns a starter over a small world: six runs in every state the pages treat
// differently, two services and five municipalities.
func newFake() *fakeStarter {
	waiting := func(action string, role domain.Role, step string) *domain.WaitingFor {
		return &domain.WaitingFor{Action: action, Role: role, Step: step}
	}
	run := func(ars, service string, state domain.RunState, stage domain.Stage, w *domain.WaitingFor, updated int) domain.RunStatus {
		a, k := domain.ARS(ars), domain.ServiceKey(service)
		return domain.RunStatus{
			ID: domain.RunID(a, k), ARS: a, Service: k, State: state, Stage: stage, WaitingFor: w,
			CreatedAt: daysAgo(30), UpdatedAt: daysAgo(updated),
		}
	}
	incident := run(koelnARS, wohngeld, domain.RunIncident, domain.StageAnbindung,
		&domain.WaitingFor{Action: workflows.ActionRetryStep, Role: domain.RoleOperator, Step: workflows.StepRouting, Note: "Routing: Hinweis des Systems"}, 2)
	incident.Steps = []domain.StepStatus{
		{Name: workflows.StepDestination, Stage: domain.StageAnbindung, State: domain.StepDone, Attempts: 1},
		{Name: workflows.StepRouting, Stage: domain.StageAnbindung, State: domain.StepFailed, Attempts: 3, LastError: "Routing-API antwortet 502"},
	}
	return &fakeStarter{
		runs: []domain.RunStatus{
			run(ownARS, wohngeld, domain.RunWaiting, domain.StageVereinbarung, waiting(workflows.ActionSignAgreement, domain.RoleMunicipality, workflows.StepFrameworkAgreement), 20),
			run(ownARS, hundesteuer, domain.RunWaiting, domain.StageAnbindung, waiting(workflows.ActionSubmitConnectionData, domain.RoleMunicipality, workflows.StepConnectionData), 1),
			run(otherARS, wohngeld, domain.RunWaiting, domain.StageVereinbarung, waiting(workflows.ActionCountersignAgreement, domain.RolePM, workflows.StepCountersign), 10),
			incident,
			run(flensARS, hundesteuer, domain.RunLive, domain.StageGoLive, nil, 5),
			run(formulaARS, hundesteuer, domain.RunWaiting, domain.StageTest, waiting(workflows.ActionConfirmTest, domain.RoleMunicipality, workflows.StepTestConfirmation), 3),
		},
		audit: map[string][]domain.AuditEvent{
			domain.RunID(ownARS, wohngeld): {
				{Seq: 1, At: daysAgo(30), Actor: "pl-erika", Role: domain.RolePM, Action: "start"},
				{Seq: 2, At: daysAgo(20), Actor: "rollin", Role: domain.RoleSystem, Action: "waiting", Step: workflows.StepFrameworkAgreement, Reason: "<b>bitte unterzeichnen</b>"},
			},
		},
		services: []domain.Service{
			{Key: wohngeld, Name: "Wohngeld", Provider: "IT.NRW", Fachverfahren: []string{"ProWohngeld", "WoGG-Online"},
				Transports: []domain.Transport{domain.TransportFITConnect, domain.TransportXTA}, Lands: []string{"05"}},
			{Key: hundesteuer, Name: "Hundesteuer", Provider: "Dataport", Fachverfahren: []string{"KommunalSteuer"},
				Transports: []domain.Transport{domain.TransportEmail}, PaymentRequired: true, Costs: "0,50 € je Antrag"},
		},
		munis: []domain.Municipality{
			{ARS: ownARS, Name: "Münster", Land: "05", Kreis: "05515", KreisName: "Münster", Population: 317713},
			{ARS: otherARS, Name: "Bergneustadt", Land: "05", Kreis: "05374", KreisName: "Oberbergischer Kreis", Population: 18602},
			{ARS: koelnARS, Name: "Köln", Land: "05", Kreis: "05315", KreisName: "Köln", Population: 1084831},
			{ARS: flensARS, Name: "Flensburg", Land: "01", Kreis: "01001", KreisName: "Flensburg", Population: 92550},
			{ARS: formulaARS, Name: "=SUMME(A1) Stadt", Land: "09", Kreis: "09162", KreisName: "München", Population: 1},
		},
		coverage: []domain.CoverageGroup{
			{Key: "05", Municipalities: 4, ByState: map[domain.RunState]int{domain.RunLive: 1, domain.RunWaiting: 2}},
			{Key: "01", Municipalities: 2, ByState: map[domain.RunState]int{domain.RunLive: 1}},
		},
	}
}

// pagesFixture is the pages over a fake starter and sessions in memory, with one session
// per role.
type pagesFixture struct {
	t       *testing.T
	fake    *fakeStarter
	db      *memSessions
	srv     *Server
	cookies map[string]*http.Cookie
	csrf    map[string]string
}

func newPages(t *testing.T) *pagesFixture {
	t.Helper()
	fx := &pagesFixture{t: t, fake: newFake(), db: &memSessions{}, cookies: map[string]*http.Cookie{}, csrf: map[string]string{}}
	srv, err := New(fx.fake, Options{
		Sessions: fx.db, SessionKey: sessionKey, Now: func() time.Time { return fixedNow },
		ReminderAfter: reminder, EscalationAfter: escalation,
	})
	require.NoError(t, err)
	fx.srv = srv
	for role, p := range principals {
		fx.cookies[role], fx.csrf[role] = fx.signIn(p)
	}
	return fx
}

// signIn stores a session of p as the identity provider's sign-in does and returns its
// cookie and CSRF token.
func (fx *pagesFixture) signIn(p starter.Principal) (*http.Cookie, string) {
	sess := fx.srv.sessions.newSession(p, viaOIDC, "")
	require.NoError(fx.t, fx.srv.sessions.start(fx.t.Context(), sess))
	return &http.Cookie{Name: sessionCookie, Value: fx.srv.sessions.encode(sess)}, sess.CSRF
}

// do sends a request as role. A form gets the role's CSRF token unless it has a "csrf"
// key already (nil: the field is left out).
func (fx *pagesFixture) do(role, method, path string, form url.Values) (*http.Response, string) {
	fx.t.Helper()
	if form != nil && !form.Has("csrf") && role != signedOut {
		form = cloneForm(form)
		form.Set("csrf", fx.csrf[role])
	}
	var cookies []*http.Cookie
	if c := fx.cookies[role]; c != nil {
		cookies = append(cookies, c)
	}
	resp := serve(fx.srv, method, path, form, cookies...)
	body, err := io.ReadAll(resp.Body)
	require.NoError(fx.t, err)
	return resp, string(body)
}

func cloneForm(f url.Values) url.Values {
	c := url.Values{}
	for k, v := range f {
		c[k] = append([]string(nil), v...)
	}
	return c
}

// esc is text as html/template writes it into a page (which escapes "+" as well).
func esc(s string) string { return strings.ReplaceAll(html.EscapeString(s), "+", "&#43;") }

// requireBody checks that body contains every one of has and none of hasNot.
func requireBody(t *testing.T, body string, has, hasNot []string, msgAndArgs ...any) {
	t.Helper()
	for _, s := range has {
		if !strings.Contains(body, s) {
			require.Failf(t, "missing from the page", "want %q in the page. %s\n%s", s, fmtMsg(msgAndArgs), body)
		}
	}
	for _, s := range hasNot {
		if strings.Contains(body, s) {
			require.Failf(t, "must not be on the page", "want no %q in the page. %s\n%s", s, fmtMsg(msgAndArgs), body)
		}
	}
}

func fmtMsg(msgAndArgs []any) string {
	if len(msgAndArgs) == 0 {
		return ""
	}
	if f, ok := msgAndArgs[0].(string); ok {
		return fmt.Sprintf(f, msgAndArgs[1:]...)
	}
	return fmt.Sprint(msgAndArgs...)
}
