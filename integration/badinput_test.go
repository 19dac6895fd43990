package integration

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/systems/simulator"
)

// TestBadInputGetsItsStatusAndNamesTheProblem sends each kind of bad request and checks the
// status code and that the message names what is wrong.
func TestBadInputGetsItsStatusAndNamesTheProblem(t *testing.T) {
	t.Parallel()
	const ars = "055540000000" // Kreis Borken's key range; only used as the token's scope
	h := newHarness(t, ars, simulator.Config{})
	rollin := "/api/v1/rollins/055150000000/" + gewerbe

	tests := []struct {
		name, role, method, path string
		body                     any
		code                     int
		says                     string
	}{
		{"malformed ARS", "pm", "POST", "/api/v1/rollins", map[string]string{"ars": "05515", "service": gewerbe}, 400, "ars: ARS \"05515\": want exactly 12 digits"},
		{"malformed service key", "pm", "POST", "/api/v1/rollins", map[string]string{"ars": "055150000000", "service": "123"}, 400, "Leistungsschlüssel) \"123\""},
		{"unknown ARS", "pm", "POST", "/api/v1/rollins", map[string]string{"ars": "059999999999", "service": gewerbe}, 404, "municipality 059999999999 is not in the register"},
		{"unknown service", "pm", "POST", "/api/v1/rollins", map[string]string{"ars": "055150000000", "service": "99999999999999"}, 404, "service 99999999999999 is not in the catalogue"},
		{"not JSON", "pm", "POST", "/api/v1/rollins", "{ars:", 400, "request body"},
		{"empty body", "pm", "POST", "/api/v1/rollins", "", 400, "request body: empty"},
		{"unknown field", "pm", "POST", "/api/v1/rollins", `{"ars":"055150000000","service":"` + gewerbe + `","land":"05"}`, 400, `unknown field "land"`},
		{"two JSON values", "pm", "POST", "/api/v1/rollins", `{"ars":"055150000000"} {}`, 400, "more than one JSON value"},
		{"body too large", "pm", "POST", "/api/v1/rollins", `{"ars":"` + strings.Repeat("0", 2<<20) + `"}`, 413, "request body larger than"},
		{"municipality may not start", "municipality", "POST", "/api/v1/rollins", map[string]string{"ars": ars, "service": gewerbe}, 403, "may not start roll-ins"},
		{"no token", "", "GET", "/api/v1/rollins", nil, 401, "bearer token"},
		{"unknown run", "pm", "GET", rollin, nil, 404, "no roll-in of service " + gewerbe + " into 055150000000"},
		{"malformed ARS in path", "pm", "GET", "/api/v1/rollins/abc/" + gewerbe, nil, 400, "ars: ARS \"abc\""},
		{"unknown action", "operator", "POST", rollin + "/actions", map[string]any{"action": "approve", "action_id": "x"}, 400, `action: "approve" is not one of`},
		{"missing action_id", "operator", "POST", rollin + "/actions", map[string]any{"action": "retry-step"}, 400, "action_id: required"},
		{"action of another role", "municipality", "POST", rollin + "/actions", map[string]any{"action": "retry-step", "action_id": "x"}, 403, `role "municipality" may not retry-step`},
		{"action on unknown run", "operator", "POST", rollin + "/actions", map[string]any{"action": "retry-step", "action_id": "x"}, 404, "no roll-in"},
		{"bad state filter", "pm", "GET", "/api/v1/rollins?state=done", nil, 400, `state: "done" is not one of`},
		{"bad stage filter", "pm", "GET", "/api/v1/rollins?stage=x", nil, 400, `stage: "x"`},
		{"bad land filter", "pm", "GET", "/api/v1/rollins?land=NRW", nil, 400, `land: "NRW" is not a 2-digit Land key`},
		{"bad kreis filter", "pm", "GET", "/api/v1/municipalities?kreis=5", nil, 400, `kreis: "5"`},
		{"limit too large", "pm", "GET", "/api/v1/rollins?limit=5000", nil, 400, `limit: "5000"`},
		{"limit not a number", "pm", "GET", "/api/v1/municipalities?limit=ten", nil, 400, `limit: "ten"`},
		{"malformed service key in path", "pm", "GET", "/api/v1/services/99", nil, 400, "service: service key (Leistungsschlüssel) \"99\""},
		{"unknown service in path", "pm", "GET", "/api/v1/services/99000000000000", nil, 404, "not in the catalogue"},
		{"unknown route", "pm", "GET", "/api/v1/nothing", nil, 404, "no route"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out := h.call(tc.role, tc.method, tc.path, tc.body)
			require.Equal(t, tc.code, code, "%v", out)
			require.Contains(t, out["error"], tc.says)
		})
	}
}

// TestReadEndpoints checks the catalogue, register and health endpoints answer as documented.
func TestReadEndpoints(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "055150000000", simulator.Config{})

	code, out := h.call("municipality", http.MethodGet, "/api/v1/services", nil)
	require.Equal(t, http.StatusOK, code)
	require.Len(t, out["items"], 3)
	code, out = h.call("pm", http.MethodGet, "/api/v1/services/"+gewerbe, nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, gewerbe, out["key"])
	require.Equal(t, true, out["payment_required"])
	require.Contains(t, out["transports"], "fit-connect")
	require.NotEmpty(t, out["fachverfahren"])

	code, out = h.call("pm", http.MethodGet, "/api/v1/municipalities?land=05&limit=250", nil)
	require.Equal(t, http.StatusOK, code)
	require.Len(t, out["items"], 250)
	next, ok := out["next_cursor"].(string)
	require.True(t, ok, "NRW has 396 municipalities: a second page follows")
	code, out = h.call("pm", http.MethodGet, "/api/v1/municipalities?land=05&limit=250&cursor="+next, nil)
	require.Equal(t, http.StatusOK, code)
	require.Len(t, out["items"], 396-250)
	require.Nil(t, out["next_cursor"])

	code, out = h.call("pm", http.MethodGet, "/api/v1/municipalities?q=m%C3%BCnster", nil)
	require.Equal(t, http.StatusOK, code)
	require.NotEmpty(t, out["items"])
	code, out = h.call("municipality", http.MethodGet, "/api/v1/municipalities?land=05", nil)
	require.Equal(t, http.StatusOK, code)
	require.Len(t, out["items"], 1, "a municipality sees its own register entry only")

	code, out = h.call("", http.MethodGet, "/healthz", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok", out["status"])
	code, _ = h.call("", http.MethodGet, "/readyz", nil)
	require.Equal(t, http.StatusOK, code)
}
