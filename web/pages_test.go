package web

import (
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/workflows"
)

// expect is what one role gets from one page: the status, where a redirect goes, what the
// page must and must not say, and how many starts and actions the starter accepted.
type expect struct {
	status      int
	location    string
	has, hasNot []string
	accepted    int
}

// Texts of the pages that the matrix looks for.
var (
	forbiddenPage = "Dafür fehlt Ihnen die Berechtigung."
	notFoundPage  = "Nicht gefunden (oder nicht für Sie sichtbar)."
	navStart      = `href="/rollins/neu"`
	navIncidents  = `href="/stoerungen"`
	navCoverage   = `href="/abdeckung"`
	cancelForm    = `name="action" value="cancel"`
	ownTask       = "Ihre Aufgabe"
)

// TestEveryPageForEveryRole walks every page for signed-in users as a project manager,
// an operator, a municipality and nobody: each gets the status the starter's role matrix
// gives, sees what their role may see and do, and nothing of what it may not (another
// municipality's runs, forms for actions it may not take, pages of other roles in its
// navigation). Nobody is sent to sign in (GET) or refused (POST) everywhere.
func TestEveryPageForEveryRole(t *testing.T) {
	own, other, koeln, flens := runPath(ownARS, wohngeld), runPath(otherARS, wohngeld), runPath(koelnARS, wohngeld), runPath(flensARS, hundesteuer)
	allPlaces := []string{"Münster", "Bergneustadt", "Köln", "Flensburg"}
	ok := func(has []string, hasNot ...string) expect {
		return expect{status: http.StatusOK, has: has, hasNot: hasNot}
	}
	forbidden := expect{status: http.StatusForbidden, has: []string{forbiddenPage}, hasNot: []string{"<svg"}}
	notFound := func(name string) expect {
		return expect{status: http.StatusNotFound, has: []string{notFoundPage}, hasNot: []string{name, cancelForm}}
	}
	seeOther := func(location string, accepted int) expect {
		return expect{status: http.StatusSeeOther, location: location, accepted: accepted}
	}
	cases := []struct {
		name, pattern, method, path string
		form                        url.Values
		want                        map[string]expect
	}{
		{"list", "GET /rollins", "GET", "/rollins", nil, map[string]expect{
			pm:           ok(append([]string{"<h1>Roll-ins</h1>", `id="f-land"`, navStart, navCoverage, "pl-erika (Projektleitung)"}, allPlaces...), navIncidents),
			operator:     ok(append([]string{"<h1>Roll-ins</h1>", `id="f-land"`, navIncidents, navCoverage, "betrieb-otto (Betrieb)"}, allPlaces...), navStart),
			municipality: ok([]string{"<h1>Meine Roll-ins</h1>", "Münster", "Wohngeld", "Hundesteuer", "kommune-ms (Kommune, ARS 055150000000)"}, "Bergneustadt", "Köln", "Flensburg", `id="f-land"`, `id="f-kreis"`, navStart, navCoverage, navIncidents),
		}},
		{"export", "GET /rollins.csv", "GET", "/rollins.csv", nil, map[string]expect{
			pm:           ok(allPlaces),
			operator:     ok(allPlaces),
			municipality: ok([]string{"Münster"}, "Bergneustadt", "Köln", "Flensburg"),
		}},
		{"start page", "GET /rollins/neu", "GET", "/rollins/neu", nil, map[string]expect{
			pm:           ok([]string{`name="q"`, `<option value="99107023037000">Wohngeld</option>`, "Hundesteuer"}, "Gefundene Gemeinden"),
			operator:     forbidden,
			municipality: forbidden,
		}},
		{"start page search", "GET /rollins/neu", "GET", "/rollins/neu?q=berg&service=" + wohngeld, nil, map[string]expect{
			pm:           ok([]string{"Gefundene Gemeinden", `aria-label="Roll-in für Bergneustadt starten"`, `name="ars" value="053740004004"`, `name="service" value="99107023037000"`}, "Köln"),
			operator:     forbidden,
			municipality: forbidden,
		}},
		{"start", "POST /rollins/neu", "POST", "/rollins/neu", url.Values{"ars": {koelnARS}, "service": {hundesteuer}}, map[string]expect{
			pm:           seeOther(runPath(koelnARS, hundesteuer)+"?ok=gestartet", 1),
			operator:     forbidden,
			municipality: forbidden,
		}},
		{"start again", "POST /rollins/neu", "POST", "/rollins/neu", url.Values{"ars": {ownARS}, "service": {wohngeld}}, map[string]expect{
			pm:           seeOther(own+"?ok=vorhanden", 1),
			operator:     forbidden,
			municipality: forbidden,
		}},
		{"own run, waiting for the municipality", "GET /rollins/{ars}/{service}", "GET", own, nil, map[string]expect{
			pm:           ok([]string{"Münster – Wohngeld", cancelForm, "Endgültig abbrechen", "Kommune: Vereinbarung unterzeichnen"}, ownTask, `value="sign-agreement"`),
			operator:     ok([]string{"Münster – Wohngeld", cancelForm}, ownTask, `value="sign-agreement"`),
			municipality: ok([]string{"Ihre Aufgabe: Vereinbarung unterzeichnen", `name="action" value="sign-agreement"`, `name="agree"`, "Roll-in gestartet", esc("„<b>bitte unterzeichnen</b>“")}, cancelForm, "Endgültig abbrechen", "<b>bitte"),
		}},
		{"other run, waiting for the project manager", "GET /rollins/{ars}/{service}", "GET", other, nil, map[string]expect{
			pm:           ok([]string{"Ihre Aufgabe: Vereinbarung gegenzeichnen", `value="countersign-agreement"`, cancelForm}),
			operator:     ok([]string{"Bergneustadt", cancelForm}, ownTask, `value="countersign-agreement"`),
			municipality: notFound("Bergneustadt"),
		}},
		{"run with an incident", "GET /rollins/{ars}/{service}", "GET", koeln, nil, map[string]expect{
			pm:           ok([]string{"Köln – Wohngeld", "Routing-API antwortet 502", cancelForm}, ownTask, `value="retry-step"`, `value="skip-step"`),
			operator:     ok([]string{"Ihre Aufgabe: Schritt wiederholen", `value="retry-step"`, `value="skip-step"`, `name="step" value="routing"`, "Routing: Hinweis des Systems", cancelForm}),
			municipality: notFound("Köln"),
		}},
		{"live run", "GET /rollins/{ars}/{service}", "GET", flens, nil, map[string]expect{
			pm:           ok([]string{"Flensburg – Hundesteuer", `state-live`}, cancelForm, ownTask),
			operator:     ok([]string{"Flensburg – Hundesteuer"}, cancelForm, ownTask),
			municipality: notFound("Flensburg"),
		}},
		{"sign", "POST /rollins/{ars}/{service}/aktion", "POST", own + "/aktion", url.Values{"action": {workflows.ActionSignAgreement}, "action_id": {"form-1"}, "agree": {"on"}}, map[string]expect{
			pm:           {status: http.StatusForbidden, has: []string{forbiddenPage, esc(`role "pm" may not sign-agreement`)}},
			operator:     {status: http.StatusForbidden, has: []string{forbiddenPage, esc(`role "operator" may not sign-agreement`)}},
			municipality: seeOther(own+"?ok=aktion", 1),
		}},
		{"cancel another municipality's run", "POST /rollins/{ars}/{service}/aktion", "POST", other + "/aktion", url.Values{"action": {workflows.ActionCancel}, "action_id": {"form-2"}, "reason": {"doppelt angelegt"}}, map[string]expect{
			pm:           seeOther(other+"?ok=aktion", 1),
			operator:     seeOther(other+"?ok=aktion", 1),
			municipality: {status: http.StatusForbidden, has: []string{forbiddenPage}},
		}},
		{"incident inbox", "GET /stoerungen", "GET", "/stoerungen", nil, map[string]expect{
			pm:           ok([]string{"Köln", `type="checkbox"`, `value="cancel"`}, `value="retry-step"`, `value="skip-step"`, "Münster"),
			operator:     ok([]string{"Köln", "Routing (FIT-Connect)", "Routing-API antwortet 502", "<td>3</td>", `type="checkbox"`, `value="retry-step"`, `value="skip-step"`, `value="cancel"`}, "Münster", "Bergneustadt"),
			municipality: ok([]string{"Keine Störungen."}, "Köln", `type="checkbox"`, `value="retry-step"`),
		}},
		{"bulk retry", "POST /stoerungen", "POST", "/stoerungen", url.Values{"action": {workflows.ActionRetryStep}, "bulk_id": {"b-1"}, "run": {koelnARS + "/" + wohngeld}}, map[string]expect{
			pm:           ok([]string{"✗ abgelehnt:", esc(`role "pm" may not retry-step`), "Köln"}, "✓ erledigt"),
			operator:     {status: http.StatusOK, has: []string{"✓ erledigt: Köln", "jetzt läuft", "Keine Störungen."}, hasNot: []string{"✗"}, accepted: 1},
			municipality: ok([]string{"✗ abgelehnt:", esc(`role "municipality" may not retry-step`)}, "✓ erledigt"),
		}},
		{"overdue", "GET /ueberfaellig", "GET", "/ueberfaellig", nil, map[string]expect{
			pm:           ok([]string{"länger als 7 Tage", "ab 14 Tagen", "Münster", "<strong>Eskalation</strong>", "Bergneustadt", "Erinnerung", "<td>20</td>", "<td>10</td>"}, "Köln", "SUMME"),
			operator:     ok([]string{"Münster", "Bergneustadt"}, "Köln", "SUMME"),
			municipality: ok([]string{"Münster", "<strong>Eskalation</strong>"}, "Bergneustadt", "Köln"),
		}},
		{"coverage", "GET /abdeckung", "GET", "/abdeckung?service=" + wohngeld, nil, map[string]expect{
			pm:           ok([]string{"<svg", "Abdeckung von Wohngeld je Land", "Gemeinden je Zustand: Wohngeld", "Nordrhein-Westfalen", "Schleswig-Holstein", esc("/abdeckung.svg?service=99107023037000&land=")}),
			operator:     ok([]string{"<svg", "Nordrhein-Westfalen"}),
			municipality: forbidden,
		}},
		{"coverage chart", "GET /abdeckung.svg", "GET", "/abdeckung.svg?service=" + wohngeld, nil, map[string]expect{
			pm:           ok([]string{`<?xml version="1.0" encoding="UTF-8"?>`, "<svg", "Nordrhein-Westfalen: 1 von 4 live"}, "<html"),
			operator:     ok([]string{"<svg", "Schleswig-Holstein: 1 von 2 live"}, "<html"),
			municipality: forbidden,
		}},
		{"catalogue", "GET /dienste", "GET", "/dienste", nil, map[string]expect{
			pm:           ok([]string{`href="/dienste/99107023037000">Wohngeld`, `href="/dienste/99083001000000">Hundesteuer`, "FIT-Connect, XTA/OSCI"}),
			operator:     ok([]string{"Wohngeld", "Hundesteuer"}),
			municipality: ok([]string{"Wohngeld", "Hundesteuer"}),
		}},
		{"Steckbrief", "GET /dienste/{key}", "GET", "/dienste/" + hundesteuer, nil, map[string]expect{
			pm:           ok([]string{"<h1>Hundesteuer</h1>", "Dataport", "KommunalSteuer", "E-Mail", "ja – die Gemeinde gibt ihre IBAN an", "0,50 € je Antrag"}),
			operator:     ok([]string{"<h1>Hundesteuer</h1>"}),
			municipality: ok([]string{"<h1>Hundesteuer</h1>"}),
		}},
		{"sign out", "POST /abmelden", "POST", "/abmelden", url.Values{}, map[string]expect{
			pm:           seeOther("/anmelden?ok=abgemeldet", 0),
			operator:     seeOther("/anmelden?ok=abgemeldet", 0),
			municipality: seeOther("/anmelden?ok=abgemeldet", 0),
		}},
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		covered[tc.pattern] = true
		for _, role := range roles {
			t.Run(tc.name+"/"+roleName(role), func(t *testing.T) {
				want, listed := tc.want[role]
				if role == signedOut {
					require.False(t, listed, "nobody's answer is the same for every page")
					want = signedOutAnswer(tc.method, tc.path)
				} else {
					require.True(t, listed, "every role is listed")
				}
				fx := newPages(t)
				resp, body := fx.do(role, tc.method, tc.path, tc.form)
				require.Equal(t, want.status, resp.StatusCode, body)
				if want.location != "" {
					require.Equal(t, want.location, resp.Header.Get("Location"))
				}
				requireBody(t, body, want.has, want.hasNot)
				starts, acts := fx.fake.accepted()
				require.Equal(t, want.accepted, len(starts)+len(acts), "starts and actions the starter accepted")
				require.Equal(t, pageSecurity, resp.Header.Get("Content-Security-Policy"))
			})
		}
	}
	var patterns []string
	for p := range covered {
		patterns = append(patterns, p)
	}
	routes := newPages(t).srv.Routes()
	slices.Sort(patterns)
	slices.Sort(routes)
	require.Equal(t, routes, patterns, "the matrix covers every page for signed-in users")
}

func roleName(role string) string {
	if role == signedOut {
		return "signed-out"
	}
	return role
}

// signedOutAnswer is what nobody gets: a page is sent to sign in and back, a form is
// refused, and neither shows anything of a run.
func signedOutAnswer(method, path string) expect {
	if method == http.MethodGet {
		return expect{status: http.StatusSeeOther, location: "/anmelden?weiter=" + url.QueryEscape(path)}
	}
	return expect{status: http.StatusUnauthorized, has: []string{"Sie sind nicht angemeldet"}, hasNot: []string{"Münster", "Abmelden"}}
}
