package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/workflows"
)

// Messages of the pages for refused input.
const (
	inputRefused = "Die Eingabe wurde abgelehnt."
	notTaken     = "Nicht übernommen:"
	formExpired  = "Das Formular ist abgelaufen oder stammt nicht von dieser Seite."
)

// TestFormsRefuseBadInput sends each form with input it must refuse: the page answers
// with the status the API would use and says why in German (with the starter's reason
// where it has one), a run's page comes back with its forms, and the starter starts or
// applies nothing. Where the pages themselves refuse (no CSRF token, a form they cannot
// turn into an action) the starter is not even asked.
func TestFormsRefuseBadInput(t *testing.T) {
	own, hund, other, flens := runPath(ownARS, wohngeld), runPath(ownARS, hundesteuer), runPath(otherARS, wohngeld), runPath(flensARS, hundesteuer)
	action := func(name string, kv ...string) url.Values {
		f := url.Values{"action": {name}, "action_id": {"form-1"}}
		for i := 0; i+1 < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return f
	}
	connection := func(field, value string) url.Values {
		f := action(workflows.ActionSubmitConnectionData,
			"fachverfahren", "KommunalSteuer", "transport", "email", "contact_email", "amt@muenster.de",
			"contact_address", "Klemensstraße 10\r\n48143 Münster", "org_unit_id", "OE-17", "payment_account", "DE02 1203 0000 0000 2020 51")
		f.Set(field, value)
		return f
	}
	withoutCSRF := func(f url.Values) url.Values {
		f = cloneForm(f)
		f["csrf"] = nil
		return f
	}
	bulk := func(kv ...string) url.Values {
		f := url.Values{"action": {workflows.ActionRetryStep}, "bulk_id": {"b-1"}, "run": {koelnARS + "/" + wohngeld}}
		for i := 0; i+1 < len(kv); i += 2 {
			f[kv[i]] = []string{kv[i+1]}
			if kv[i+1] == "" {
				f[kv[i]] = nil
			}
		}
		return f
	}
	cases := []struct {
		name, role, path string
		form             url.Values
		status           int
		has, hasNot      []string
		// asked is the starter call the form may reach ("" for none): the pages refuse
		// the others before asking.
		asked string
	}{
		// Starting a run.
		{"start: malformed ARS", pm, "/rollins/neu", url.Values{"ars": {"05515"}, "service": {wohngeld}},
			http.StatusBadRequest, []string{inputRefused, esc(`ars: ARS "05515": want exactly 12 digits`)}, nil, "Start"},
		{"start: ARS with a NUL byte", pm, "/rollins/neu", url.Values{"ars": {"0551500\x0000000"}, "service": {wohngeld}},
			http.StatusBadRequest, []string{inputRefused, "ars: contains a NUL character"}, []string{"\x00"}, "Start"},
		{"start: malformed service", pm, "/rollins/neu", url.Values{"ars": {ownARS}, "service": {"12345"}},
			http.StatusBadRequest, []string{inputRefused, "want 14 digits starting with 99"}, nil, "Start"},
		{"start: unknown service", pm, "/rollins/neu", url.Values{"ars": {ownARS}, "service": {"99999999999000"}},
			http.StatusNotFound, []string{notFoundPage}, []string{"catalogue"}, "Start"},
		{"start: municipality not in the register", pm, "/rollins/neu", url.Values{"ars": {"059999999999"}, "service": {wohngeld}},
			http.StatusNotFound, []string{notFoundPage}, nil, "Start"},
		{"start: no CSRF token", pm, "/rollins/neu", withoutCSRF(url.Values{"ars": {koelnARS}, "service": {hundesteuer}}),
			http.StatusForbidden, []string{formExpired}, nil, ""},
		{"start: another session's CSRF token", pm, "/rollins/neu", url.Values{"csrf": {"0123456789abcdef0123456789abcdef"}, "ars": {koelnARS}, "service": {hundesteuer}},
			http.StatusForbidden, []string{formExpired}, nil, ""},
		{"start: an unreadable form", pm, "/rollins/neu", url.Values{"ars": {strings.Repeat("0", 1<<20)}},
			http.StatusBadRequest, []string{"Das Formular konnte nicht gelesen werden."}, nil, ""},

		// An action on a run's page.
		{"cancel: reason with a NUL byte", pm, own + "/aktion", action(workflows.ActionCancel, "reason", "doppelt\x00angelegt"),
			http.StatusBadRequest, []string{notTaken, "reason: contains a NUL character", "Endgültig abbrechen", "Münster – Wohngeld"}, []string{"\x00"}, "Act"},
		{"cancel: reason with an escape sequence", pm, own + "/aktion", action(workflows.ActionCancel, "reason", "a\x1b[2Jb"),
			http.StatusBadRequest, []string{notTaken, esc("reason: contains the control character U+001B")}, []string{"\x1b"}, "Act"},
		{"cancel: reason with a right-to-left override", operator, own + "/aktion", action(workflows.ActionCancel, "reason", "a\u202eb"),
			http.StatusBadRequest, []string{notTaken, esc("reason: contains the invisible formatting character U+202E")}, []string{"\u202e"}, "Act"},
		{"cancel: no reason", pm, own + "/aktion", action(workflows.ActionCancel, "reason", "   "),
			http.StatusBadRequest, []string{notTaken, "reason: required to cancel a run"}, nil, "Act"},
		{"cancel: no action ID", pm, own + "/aktion", action(workflows.ActionCancel, "reason", "doppelt", "action_id", ""),
			http.StatusBadRequest, []string{notTaken, "action_id: required"}, nil, "Act"},
		{"cancel: no CSRF token", pm, own + "/aktion", withoutCSRF(action(workflows.ActionCancel, "reason", "doppelt")),
			http.StatusForbidden, []string{formExpired}, nil, ""},
		{"cancel: a live run", pm, flens + "/aktion", action(workflows.ActionCancel, "reason", "doppelt"),
			http.StatusConflict, []string{notTaken, "the run is live: no further actions", "Flensburg – Hundesteuer"}, []string{cancelForm}, "Act"},
		{"unknown action", pm, own + "/aktion", action("delete-everything"),
			http.StatusBadRequest, []string{notTaken, esc(`action: "delete-everything" is not one of`)}, nil, "Act"},
		{"an action the run does not wait for", municipality, own + "/aktion", action(workflows.ActionConfirmTest, "received", "ja"),
			http.StatusConflict, []string{notTaken, "the run does not wait for confirm-test", "Ihre Aufgabe: Vereinbarung unterzeichnen"}, nil, "Act"},
		{"another municipality's run", municipality, other + "/aktion", action(workflows.ActionSignAgreement),
			http.StatusNotFound, []string{notFoundPage}, []string{"Bergneustadt"}, "Act"},
		{"confirm test: neither yes nor no", municipality, hund + "/aktion", action(workflows.ActionConfirmTest, "note", "kam nicht"),
			http.StatusBadRequest, []string{inputRefused, "Bitte wählen Sie, ob die Testeinreichung angekommen ist."}, nil, ""},
		{"connection data: e-mail not UTF-8", municipality, hund + "/aktion", connection("contact_email", "amt\xff@muenster.de"),
			http.StatusBadRequest, []string{inputRefused, "data.contact_email: not valid UTF-8"}, nil, ""},
		{"connection data: control character in a field", municipality, hund + "/aktion", connection("org_unit_id", "OE\x07-17"),
			http.StatusBadRequest, []string{
				notTaken, esc("data.org_unit_id: contains the control character U+0007"),
				// The form comes back filled in, without what was refused.
				`name="org_unit_id" required value="OE-17"`, `value="amt@muenster.de"`, "Klemensstraße 10\r\n48143 Münster",
				`<option value="KommunalSteuer" selected>`, `name="payment_account" required autocomplete="off" value="DE02 1203 0000 0000 2020 51"`,
			}, []string{"\x07"}, "Act"},

		// The incident inbox's bulk form.
		{"bulk: nothing selected", operator, "/stoerungen", bulk("run", ""),
			http.StatusBadRequest, []string{inputRefused, "Bitte wählen Sie mindestens einen Roll-in aus."}, nil, ""},
		{"bulk: no such action", operator, "/stoerungen", bulk("action", "delete-everything"),
			http.StatusBadRequest, []string{inputRefused, "Bitte wählen Sie: wiederholen, überspringen oder abbrechen."}, nil, ""},
		{"bulk: no form ID", operator, "/stoerungen", bulk("bulk_id", ""),
			http.StatusBadRequest, []string{inputRefused, "Dem Formular fehlt seine Kennung"}, nil, ""},
		{"bulk: reason with a NUL byte", operator, "/stoerungen", bulk("action", workflows.ActionSkipStep, "reason", "kaputt\x00"),
			http.StatusOK, []string{"✗ abgelehnt:", "reason: contains a NUL character", "Köln"}, []string{"✓", "\x00"}, "Act"},
		{"bulk: skip without a reason", operator, "/stoerungen", bulk("action", workflows.ActionSkipStep),
			http.StatusOK, []string{"✗ abgelehnt:", "reason: required to skip a step"}, []string{"✓"}, "Act"},
		{"bulk: a run that is not a run", operator, "/stoerungen", bulk("run", "../../etc"),
			http.StatusOK, []string{"✗ abgelehnt:", "ars: ARS"}, []string{"✓"}, "Act"},
		{"bulk: no CSRF token", operator, "/stoerungen", withoutCSRF(bulk()),
			http.StatusForbidden, []string{formExpired}, nil, ""},

		{"sign out: no CSRF token", municipality, "/abmelden", withoutCSRF(url.Values{}),
			http.StatusForbidden, []string{formExpired}, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := newPages(t)
			resp, body := fx.do(tc.role, http.MethodPost, tc.path, tc.form)
			require.Equal(t, tc.status, resp.StatusCode, body)
			require.Contains(t, resp.Header.Get("Content-Type"), "text/html")
			requireBody(t, body, tc.has, tc.hasNot)
			starts, acts := fx.fake.accepted()
			require.Empty(t, starts, "no run started")
			require.Empty(t, acts, "no action applied")
			for _, call := range []string{"Start", "Act"} {
				if call != tc.asked {
					require.Zero(t, fx.fake.callsOf(call), "the pages refused before asking the starter to %s", call)
				}
			}
			if tc.asked != "" {
				require.Positive(t, fx.fake.callsOf(tc.asked), "the starter judged it")
			}
			// Whatever was refused, the session stays: the next page is served.
			resp, _ = fx.do(tc.role, http.MethodGet, "/dienste", nil)
			require.Equal(t, http.StatusOK, resp.StatusCode)
		})
	}
}

// TestListFiltersRefuseBadInput: a malformed filter of the list or its export is refused
// with a page naming it, not a file.
func TestListFiltersRefuseBadInput(t *testing.T) {
	for _, tc := range []struct{ path, detail string }{
		{"/rollins?state=bogus", esc(`state: "bogus" is not one of`)},
		{"/rollins?kreis=5315", esc(`kreis: "5315" is not a 5-digit Kreis key`)},
		{"/rollins.csv?land=NRW", esc(`land: "NRW" is not a 2-digit Land key`)},
		{"/rollins.csv?state=%00", "state: contains a NUL character"},
		{"/abdeckung?service=" + wohngeld + "&land=5", esc(`land: "5" is not a 2-digit Land key`)},
		{"/abdeckung.svg?service=123", "want 14 digits starting with 99"},
		{"/dienste/123", "want 14 digits starting with 99"},
	} {
		fx := newPages(t)
		resp, body := fx.do(pm, http.MethodGet, tc.path, nil)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, tc.path)
		require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"), tc.path)
		require.Empty(t, resp.Header.Get("Content-Disposition"), tc.path)
		requireBody(t, body, []string{inputRefused, tc.detail}, nil, tc.path)
	}
}
