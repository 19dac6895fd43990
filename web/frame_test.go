package web

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/starter"
)

// TestPagesOutsideTheRoutes: the start page sends each role where its work starts; the
// sign-in page sends the signed-in on as well; a path that is no page says so in German,
// with the navigation of whoever asks.
func TestPagesOutsideTheRoutes(t *testing.T) {
	fx := newPages(t)
	for _, tc := range []struct {
		role, path string
		status     int
		location   string
		has        []string
	}{
		{pm, "/", http.StatusSeeOther, "/rollins", nil},
		{operator, "/", http.StatusSeeOther, "/stoerungen", nil},
		{municipality, "/", http.StatusSeeOther, "/rollins", nil},
		{signedOut, "/", http.StatusSeeOther, "/anmelden", nil},
		{pm, "/anmelden", http.StatusSeeOther, "/rollins", nil},
		{operator, "/anmelden", http.StatusSeeOther, "/stoerungen", nil},
		{signedOut, "/anmelden", http.StatusOK, "", []string{"<h1>Anmelden</h1>", "keine Anmeldung eingerichtet"}},
		{signedOut, "/anmelden?ok=abgemeldet", http.StatusOK, "", []string{"Sie sind abgemeldet."}},
		{operator, "/gibt-es-nicht", http.StatusNotFound, "", []string{"Diese Seite gibt es nicht.", navIncidents, "betrieb-otto"}},
		{signedOut, "/gibt-es-nicht", http.StatusNotFound, "", []string{"Diese Seite gibt es nicht."}},
		{pm, "/anmelden/oidc", http.StatusNotFound, "", nil}, // no identity provider configured
	} {
		resp, body := fx.do(tc.role, http.MethodGet, tc.path, nil)
		require.Equal(t, tc.status, resp.StatusCode, "%s as %q", tc.path, tc.role)
		require.Equal(t, tc.location, resp.Header.Get("Location"), "%s as %q", tc.path, tc.role)
		requireBody(t, body, tc.has, nil, "%s as %q", tc.path, tc.role)
	}
}

// TestNavigationByRole: each role's navigation lists its pages in the order of its work,
// and marks the current one.
func TestNavigationByRole(t *testing.T) {
	fx := newPages(t)
	for role, want := range map[string][]navItem{
		pm:           {{"/rollins", "Roll-ins", false}, {"/rollins/neu", "Roll-in starten", false}, {"/ueberfaellig", "Überfällig", false}, {"/abdeckung", "Abdeckung", false}, {"/dienste", "Dienste", true}},
		operator:     {{"/stoerungen", "Störungen", false}, {"/rollins", "Roll-ins", false}, {"/abdeckung", "Abdeckung", false}, {"/dienste", "Dienste", true}},
		municipality: {{"/rollins", "Meine Roll-ins", false}, {"/dienste", "Dienste", true}},
	} {
		require.Equal(t, want, nav(principals[role], "/dienste"), role)
		_, body := fx.do(role, http.MethodGet, "/dienste", nil)
		var links []string
		for _, item := range want {
			current := ""
			if item.Current {
				current = ` aria-current="page"`
			}
			links = append(links, `<li><a href="`+item.Href+`"`+current+`>`+item.Label+`</a></li>`)
		}
		requireBody(t, body, []string{strings.Join(links, "")}, nil, role)
	}
}

// TestFlashIsAFixedText: a confirmation is chosen by key; any other value of the
// parameter shows nothing, so that a link cannot make a page say what it likes.
func TestFlashIsAFixedText(t *testing.T) {
	fx := newPages(t)
	_, body := fx.do(pm, http.MethodGet, "/rollins/"+ownARS+"/"+wohngeld+"?ok=aktion", nil)
	requireBody(t, body, []string{`<p class="flash" role="status">Erledigt. Der Roll-in zeigt den neuen Stand.</p>`}, nil)
	_, body = fx.do(pm, http.MethodGet, "/rollins?ok=Ihr+Konto+ist+gesperrt", nil)
	requireBody(t, body, nil, []string{`class="flash"`, "Ihr Konto ist gesperrt"})
}

// TestStarterFailuresAnswered: a starter that cannot answer gets the status the API would
// give and a German page; the cause stays in the log, not on the page.
func TestStarterFailuresAnswered(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		msg    string
	}{
		{&starter.Error{Kind: starter.KindUnavailable, Msg: "read model", Err: errors.New("dial tcp 10.0.0.5:5432: refused")}, http.StatusServiceUnavailable, "Ein System dahinter antwortet gerade nicht."},
		{errors.New("dial tcp 10.0.0.5:5432: refused"), http.StatusInternalServerError, "Ein interner Fehler ist aufgetreten."},
		{&starter.Error{Kind: starter.KindConflict, Msg: "busy"}, http.StatusConflict, "Das geht im jetzigen Zustand nicht."},
	} {
		for _, path := range []string{"/rollins", "/stoerungen", "/ueberfaellig"} {
			fx := newPages(t)
			fx.fake.failList, fx.fake.failListAt = tc.err, 1
			resp, body := fx.do(operator, http.MethodGet, path, nil)
			require.Equal(t, tc.status, resp.StatusCode, "%s: %v", path, tc.err)
			requireBody(t, body, []string{tc.msg, navIncidents}, []string{"10.0.0.5", "dial tcp"}, path)
		}
	}
}

// TestSessionStoreDown: while the sessions cannot be read nobody is signed out or let in:
// every page answers 503, and no form reaches the starter.
func TestSessionStoreDown(t *testing.T) {
	fx := newPages(t)
	fx.db.down = true
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/"}, {http.MethodGet, "/anmelden"}, {http.MethodGet, "/rollins"},
		{http.MethodPost, "/rollins/neu"}, {http.MethodPost, runPath(ownARS, wohngeld) + "/aktion"},
	} {
		var form map[string][]string
		if tc.method == http.MethodPost {
			form = map[string][]string{"ars": {koelnARS}, "service": {hundesteuer}, "action": {"cancel"}, "action_id": {"x"}, "reason": {"x"}}
		}
		resp, body := fx.do(pm, tc.method, tc.path, form)
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, tc.path)
		requireBody(t, body, []string{"Die Anmeldung kann gerade nicht geprüft werden."}, nil, tc.path)
		require.Nil(t, cookie(resp, sessionCookie), "the cookie stays: the session may still be good")
	}
	require.Empty(t, fx.fake.calls, "the starter was not asked")

	fx.db.down = false
	resp, _ := fx.do(pm, http.MethodGet, "/rollins", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "signed in again once the store answers")
}

// TestSignOutByRole: signing out ends the session in the store and removes the cookie;
// the old cookie is sent to sign in.
func TestSignOutByRole(t *testing.T) {
	for _, role := range []string{pm, operator, municipality} {
		fx := newPages(t)
		resp, _ := fx.do(role, http.MethodPost, "/abmelden", map[string][]string{})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		c := cookie(resp, sessionCookie)
		require.NotNil(t, c)
		require.Negative(t, c.MaxAge)
		require.Len(t, fx.db.m, 2, "the %s's session is gone, the others stay", role)
		resp, _ = fx.do(role, http.MethodGet, "/rollins", nil)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, "/anmelden?weiter=%2Frollins", resp.Header.Get("Location"))
	}
}
