package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/systems/simulator"
	"github.com/rollin-efa/rollin/textrule"
	"github.com/rollin-efa/rollin/workflows"
)

// hostileValue is one kind of bad text, as it goes into a JSON string (json), a query
// parameter or a form field (raw), with the rule the refusal must name. long values are
// made per field, one character over its limit.
type hostileValue struct{ name, json, raw, rule string }

var hostileValues = []hostileValue{
	{"nul", `a\u0000b`, "a\x00b", "contains a NUL character"},
	{"invalid utf-8", "a\xffb", "a\xffb", "not valid UTF-8"},
	{"escape", `a\u001b[2Jb`, "a\x1b[2Jb", "contains the control character U+001B"},
	{"c1 control", `a\u009bb`, "a\u009bb", "contains the control character U+009B"},
	{"right-to-left override", `a\u202eb`, "a\u202eb", "contains the invisible formatting character U+202E"},
}

// withLong adds the over-long value for a field with limit max.
func withLong(max int) []hostileValue {
	long := strings.Repeat("x", max+1)
	return append(hostileValues[:len(hostileValues):len(hostileValues)],
		hostileValue{"too long", long, long, fmt.Sprintf("longer than %d characters", max)})
}

// rawCall sends body as it is (json.Marshal would repair invalid UTF-8) and decodes the
// error answer. It bypasses the OpenAPI-validating client, whose request check would
// stop a body with invalid UTF-8 before the server sees it.
func (h *harness) rawCall(role, method, path, body string) (int, string) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.api.URL+path, bytes.NewReader([]byte(body)))
	require.NoError(h.t, err)
	req.Header.Set("Authorization", "Bearer "+h.tokens[role])
	resp, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(h.t, err)
	var out struct{ Error string }
	require.NoError(h.t, json.Unmarshal(raw, &out), "answer to %s %s: %s", method, path, raw)
	return resp.StatusCode, out.Error
}

// TestHostileInput sends NUL, invalid UTF-8, control characters and over-long values in
// every string field of every action (and its data), of starting a run and a campaign, of
// a campaign action and of the list queries, through the API and through the pages'
// forms. Each answers 400 naming the field and the rule; the run's audit log keeps none
// of it; and after each batch the run takes the next valid action and goes on, to live.
// The provider's error body, with NUL, invalid bytes and a terminal escape in it, becomes
// a clean incident.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	const ars = "055130000000" // Gelsenkirchen, Stadt; no other test uses it
	h := newHarness(t, ars, simulator.Config{})
	provider := h.sims[simulator.Provider].Sim
	provider.AddFault(simulator.Fault{Method: http.MethodPost, PathPrefix: "/v1/tenants", Status: http.StatusInternalServerError,
		Body: "Fehler\x00 im \xff\xfe Mandanten\x1b[2J: " + strings.Repeat("ü", 5000)})
	run := "/api/v1/rollins/" + ars + "/" + gewerbe
	refused := 0
	expect400 := func(what, got string, code int, field, rule string) {
		t.Helper()
		require.Equal(t, http.StatusBadRequest, code, "%s: %s", what, got)
		require.Equal(t, field+": "+rule, got, what)
		refused++
	}
	// action sends an action body with one field replaced by a hostile JSON string.
	action := func(role, name, field string, v hostileValue) (int, string) {
		body := map[string]string{"action": `"` + name + `"`, "action_id": `"hostile-` + v.name + `"`}
		body[field] = `"` + v.json + `"`
		var parts []string
		for k, val := range body {
			parts = append(parts, `"`+k+`":`+val)
		}
		return h.rawCall(role, http.MethodPost, run+"/actions", "{"+strings.Join(parts, ",")+"}")
	}
	dataAction := func(role, name, field string, v hostileValue, valid map[string]any) (int, string) {
		data := map[string]string{}
		for k, val := range valid {
			b, err := json.Marshal(val)
			require.NoError(t, err)
			data[k] = string(b)
		}
		data[field] = `"` + v.json + `"`
		var parts []string
		for k, val := range data {
			parts = append(parts, `"`+k+`":`+val)
		}
		return h.rawCall(role, http.MethodPost, run+"/actions",
			`{"action":"`+name+`","action_id":"hostile-data","data":{`+strings.Join(parts, ",")+`}}`)
	}
	auditClean := func() {
		t.Helper()
		events, err := h.store.Audit(t.Context(), domain.RunID(ars, gewerbe))
		require.NoError(t, err)
		for _, e := range events {
			for _, s := range []string{e.Actor, e.Action, e.Step, e.Reason, e.Detail} {
				require.NoError(t, textrule.Text("audit", s, textrule.MaxExternal), "audit event %+v", e)
				require.NotContains(t, s, "hostile", "a refused action left an audit event: %+v", e)
			}
		}
	}

	// Starting: both fields.
	for _, field := range []string{"ars", "service"} {
		for _, v := range withLong(textrule.MaxID) {
			body := map[string]string{"ars": `"` + ars + `"`, "service": `"` + gewerbe + `"`}
			body[field] = `"` + v.json + `"`
			code, msg := h.rawCall("pm", http.MethodPost, "/api/v1/rollins", `{"ars":`+body["ars"]+`,"service":`+body["service"]+`}`)
			expect400("start "+field+" "+v.name, msg, code, field, v.rule)
		}
	}
	code, out := h.call("pm", http.MethodPost, "/api/v1/rollins", map[string]string{"ars": ars, "service": gewerbe})
	require.Equal(t, http.StatusCreated, code, out)
	h.waitForAction(ars, gewerbe, workflows.ActionSignAgreement)

	// Finding 1 exactly as reported, then every field of the action body.
	code, msg := h.rawCall("municipality", http.MethodPost, run+"/actions", `{"action":"sign-agreement","action_id":"x","reason":"a\u0000b"}`)
	expect400("finding 1", msg, code, "reason", "contains a NUL character")
	for _, f := range []struct {
		field string
		max   int
	}{{"action", textrule.MaxID}, {"action_id", textrule.MaxID}, {"step", textrule.MaxID}, {"reason", textrule.MaxReason}} {
		for _, v := range withLong(f.max) {
			code, msg := action("municipality", workflows.ActionSignAgreement, f.field, v)
			expect400("sign-agreement "+f.field+" "+v.name, msg, code, f.field, v.rule)
		}
	}
	auditClean()
	// The run proceeds: the same action, valid, is applied at once (an action ID the
	// refusals never used), and so is the rest of the agreements.
	for h.status("pm", ars, gewerbe).WaitingFor.Action == workflows.ActionSignAgreement {
		h.mustAct("municipality", ars, gewerbe, workflows.ActionSignAgreement, map[string]any{"reason": "Zeile 1\nZeile 2\tEnde"})
	}
	h.mustAct("pm", ars, gewerbe, workflows.ActionCountersignAgreement, nil)
	h.waitForAction(ars, gewerbe, workflows.ActionSubmitConnectionData)

	// Every field of the connection questionnaire.
	for _, f := range []struct {
		field string
		max   int
	}{
		{"contact_email", textrule.MaxEmail}, {"contact_address", textrule.MaxAddress}, {"fachverfahren", textrule.MaxName},
		{"transport", textrule.MaxName}, {"org_unit_id", textrule.MaxName}, {"dvdv_key", textrule.MaxName}, {"payment_account", textrule.MaxName},
	} {
		for _, v := range withLong(f.max) {
			code, msg := dataAction("municipality", workflows.ActionSubmitConnectionData, f.field, v, connection())
			expect400("connection data "+f.field+" "+v.name, msg, code, "data."+f.field, v.rule)
		}
	}
	auditClean()
	h.mustAct("municipality", ars, gewerbe, workflows.ActionSubmitConnectionData, map[string]any{"data": connection()})

	// The provider answers the tenant call with a hostile error body: the incident's
	// last_error and the audit log keep it clean and cut, and the operator can act on it.
	st := h.waitForState(ars, gewerbe, domain.RunIncident)
	var tenant domain.StepStatus
	for _, s := range st.Steps {
		if s.Name == workflows.StepTenant {
			tenant = s
		}
	}
	require.Contains(t, tenant.LastError, "HTTP 500: Fehler im \uFFFD Mandanten[2J: üüü")
	require.NoError(t, textrule.Text("last_error", tenant.LastError, textrule.MaxExternal))
	require.NoError(t, textrule.Text("waiting_for.note", st.WaitingFor.Note, textrule.MaxExternal))
	auditClean()

	// The operator's actions on the incident, hostile, then valid.
	for _, f := range []string{"step", "reason"} {
		for _, v := range hostileValues {
			code, msg := action("operator", workflows.ActionSkipStep, f, v)
			expect400("skip-step "+f+" "+v.name, msg, code, f, v.rule)
		}
	}
	provider.ClearFaults()
	h.mustAct("operator", ars, gewerbe, workflows.ActionRetryStep, map[string]any{"step": workflows.StepTenant, "reason": "der Anbieter ist zurück"})
	h.waitForAction(ars, gewerbe, workflows.ActionConfirmTest)

	// The test confirmation's note, through the API and through the page's form.
	for _, v := range withLong(textrule.MaxReason) {
		code, msg := dataAction("municipality", workflows.ActionConfirmTest, "note", v, map[string]any{"received": false})
		expect400("confirm-test note "+v.name, msg, code, "data.note", v.rule)
	}
	muni := h.signedIn(t, "municipality")
	page := "/rollins/" + ars + "/" + gewerbe
	for _, f := range []struct {
		field string
		form  url.Values
		max   int
	}{
		{"data.note", url.Values{"action": {workflows.ActionConfirmTest}, "received": {"nein"}}, textrule.MaxReason},
		{"reason", url.Values{"action": {workflows.ActionConfirmTest}, "received": {"ja"}}, textrule.MaxReason},
		{"step", url.Values{"action": {workflows.ActionConfirmTest}, "received": {"ja"}}, textrule.MaxID},
		{"action_id", url.Values{"action": {workflows.ActionConfirmTest}, "received": {"ja"}}, textrule.MaxID},
	} {
		for _, v := range withLong(f.max) {
			form := url.Values{"csrf": {muni.csrf}, "action_id": {"page-" + v.name}}
			for k, vals := range f.form {
				form[k] = vals
			}
			form.Set(strings.TrimPrefix(f.field, "data."), v.raw)
			code, body := muni.do(http.MethodPost, page+"/aktion", form)
			require.Equal(t, http.StatusBadRequest, code, "page %s %s: %s", f.field, v.name, body)
			require.Contains(t, html.UnescapeString(body), f.field+": "+v.rule, "the page shows the refusal in the form")
			if v.name != "too long" {
				require.NotContains(t, body, v.raw, "the refused value is not echoed as it was")
			}
			refused++
		}
	}
	auditClean()

	// The list queries of the API and the pages, the campaign requests.
	for _, q := range []struct {
		path, field string
		max         int
	}{
		{"/api/v1/rollins", "state", textrule.MaxID}, {"/api/v1/rollins", "stage", textrule.MaxID},
		{"/api/v1/rollins", "service", textrule.MaxID}, {"/api/v1/rollins", "land", textrule.MaxID},
		{"/api/v1/rollins", "kreis", textrule.MaxID}, {"/api/v1/rollins", "ars", textrule.MaxID},
		{"/api/v1/rollins", "step", textrule.MaxID}, {"/api/v1/rollins", "cursor", textrule.MaxCursor},
		{"/api/v1/municipalities", "land", textrule.MaxID}, {"/api/v1/municipalities", "kreis", textrule.MaxID},
		{"/api/v1/municipalities", "q", textrule.MaxQuery}, {"/api/v1/municipalities", "cursor", textrule.MaxCursor},
	} {
		for _, v := range withLong(q.max) {
			code, msg := h.rawCall("pm", http.MethodGet, q.path+"?"+q.field+"="+url.QueryEscape(v.raw), "")
			expect400("GET "+q.path+" "+q.field+" "+v.name, msg, code, q.field, v.rule)
		}
	}
	pm := h.signedIn(t, "pm")
	for _, q := range []struct{ path, param, field string }{
		{"/rollins", "ab", "cursor"}, {"/rollins", "service", "service"}, {"/rollins/neu", "q", "q"}, {"/stoerungen", "ab", "cursor"},
	} {
		for _, v := range hostileValues {
			code, body := pm.do(http.MethodGet, q.path+"?"+q.param+"="+url.QueryEscape(v.raw), nil)
			require.Equal(t, http.StatusBadRequest, code, "page %s %s %s: %s", q.path, q.param, v.name, body)
			require.Contains(t, html.UnescapeString(body), q.field+": "+v.rule)
			refused++
		}
	}
	for _, field := range []string{"service", "land", "kreis", "ars"} {
		for _, v := range withLong(textrule.MaxID) {
			body := `{"service":"` + gewerbe + `","` + field + `":"` + v.json + `"}`
			name := field
			if field == "ars" {
				body, name = `{"service":"`+gewerbe+`","ars":["`+v.json+`"]}`, "ars[0]"
			}
			code, msg := h.rawCall("pm", http.MethodPost, "/api/v1/campaigns", body)
			expect400("campaign "+field+" "+v.name, msg, code, name, v.rule)
		}
	}
	for _, field := range []string{"action", "reason"} {
		for _, v := range hostileValues {
			body := `{"action":"pause","reason":"x"}`
			body = strings.Replace(body, `"`+field+`":"`+map[string]string{"action": "pause", "reason": "x"}[field]+`"`, `"`+field+`":"`+v.json+`"`, 1)
			code, msg := h.rawCall("pm", http.MethodPost, "/api/v1/campaigns/c/actions", body)
			expect400("campaign action "+field+" "+v.name, msg, code, field, v.rule)
		}
	}

	// The bulk form of the incident inbox takes the same rule; the run did not change.
	op := h.signedIn(t, "operator")
	code, body := op.do(http.MethodPost, "/stoerungen", url.Values{"csrf": {op.csrf}, "action": {workflows.ActionCancel},
		"bulk_id": {"hostile"}, "reason": {"a\x00b"}, "run": {ars + "/" + gewerbe}})
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, html.UnescapeString(body), "reason: contains a NUL character")
	refused++

	// And the run goes live.
	h.mustAct("municipality", ars, gewerbe, workflows.ActionConfirmTest, map[string]any{"data": map[string]any{"received": true, "note": "angekommen,\nvollständig"}})
	h.waitForState(ars, gewerbe, domain.RunLive)
	auditClean()
	t.Logf("%d hostile requests refused with 400 naming the field; the run went live", refused)
}
