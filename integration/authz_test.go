package integration

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/catalog"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/systems/simulator"
	"github.com/rollin-efa/rollin/workflows"
)

// The organisations of the harness's organisation tokens.
const (
	orgNRW = "d-nrw"
	orgSH  = "itvsh"
)

// TestAuthorizationMatrix walks every authenticated API route with every kind of caller —
// project managers and operators of two organisations and of the installation's own (no
// organisation), the municipality a run belongs to and a foreign one, and nobody — and
// requires the answer the role matrix gives. Another organisation's runs, campaigns and
// services, and another municipality's runs, do not exist for the caller (404); a role that
// may not do something is refused (403); an allowed action that does not fit the run's
// state reaches the workflow and is refused there (409), which proves it passed the checks.
// The matrix must name every route the API has, so a new route cannot go unchecked.
func TestAuthorizationMatrix(t *testing.T) {
	const (
		ars      = "055150000000" // Münster: the harness's municipality
		otherARS = "010010000000" // Flensburg: the harness's other municipality
		ownARS   = "051110000000" // Düsseldorf: a run of the installation's own organisation
		campARS  = "051130000000" // Essen: the d-NRW campaign's run
		nrwOnly  = "99107023037099"
	)
	h := newHarness(t, ars, simulator.Config{})
	ctx := context.Background()

	// A Steckbrief only d-NRW's project managers have in their catalogue.
	var svc domain.Service
	for _, s := range catalog.Demo() {
		if s.Key == wohngeld {
			svc = s
		}
	}
	svc.Key, svc.Name, svc.Organisation, svc.ActivationDates = nrwOnly, "Wohngeld (nur d-NRW)", orgNRW, nil
	require.NoError(t, h.store.UpsertServices(ctx, []domain.Service{svc}))

	start := func(role, ars, service string) {
		code, out := h.call(role, http.MethodPost, "/api/v1/rollins", map[string]string{"ars": ars, "service": service})
		require.Equal(t, http.StatusCreated, code, "%s starts %s/%s: %v", role, ars, service, out)
	}
	start("pm-nrw", ars, wohngeld)
	start("pm-sh", otherARS, wohngeld)
	start("pm", ownARS, wohngeld)
	code, out := h.call("pm-nrw", http.MethodPost, "/api/v1/campaigns", map[string]any{"service": nrwOnly, "ars": []string{campARS}})
	require.Equal(t, http.StatusCreated, code, out)
	campaignID := out["id"].(string)
	require.True(t, strings.HasPrefix(campaignID, orgNRW+"-"), "an organisation's campaign IDs carry it: %s", campaignID)
	require.Equal(t, orgNRW, out["organisation"])
	h.reader = "pm-nrw"
	runA := h.waitForAction(ars, wohngeld, workflows.ActionSignAgreement)
	require.Equal(t, domain.Organisation(orgNRW), runA.Organisation)
	h.waitForAction(campARS, nrwOnly, workflows.ActionSignAgreement)

	callers := []string{"pm-nrw", "op-nrw", "pm-sh", "op-sh", "pm", "municipality", "other"}
	// allow/deny shorthands: who gets which status; everyone not named gets def.
	expect := func(def int, named map[string]int) map[string]int {
		m := map[string]int{}
		for _, c := range callers {
			m[c] = def
			if code, ok := named[c]; ok {
				m[c] = code
			}
		}
		return m
	}
	runA_ := "/api/v1/rollins/" + ars + "/" + wohngeld
	seesA := expect(http.StatusNotFound, map[string]int{"pm-nrw": 200, "op-nrw": 200, "municipality": 200})
	seesNRWService := expect(http.StatusOK, map[string]int{"pm-sh": 404, "op-sh": 404, "pm": 404})
	onlyPM := func(named map[string]int) map[string]int { return expect(http.StatusForbidden, named) }
	campaign := "/api/v1/campaigns/" + campaignID
	tests := []struct {
		pattern string
		path    string
		// body returns the request body for a caller (nil: none).
		body func(caller string) any
		want map[string]int
	}{
		{"GET /api/v1/rollins/{ars}/{service}", runA_, nil, seesA},
		{"GET /api/v1/rollins/{ars}/{service}/audit", runA_ + "/audit", nil, seesA},
		{"POST /api/v1/rollins/{ars}/{service}/actions", runA_ + "/actions", func(caller string) any {
			// An action each caller's role may take, none of which fits a run that waits
			// for the municipality's signature: whoever passes the checks gets 409.
			action := map[domain.Role]string{
				domain.RolePM: workflows.ActionCountersignAgreement, domain.RoleOperator: workflows.ActionRetryStep,
				domain.RoleMunicipality: workflows.ActionConfirmTest,
			}[roleOf(caller)]
			return map[string]any{"action": action, "action_id": "authz-" + caller}
		}, expect(http.StatusNotFound, map[string]int{"pm-nrw": 409, "op-nrw": 409, "municipality": 409})},
		{"GET /api/v1/rollins", "/api/v1/rollins", nil, expect(http.StatusOK, nil)},
		{"POST /api/v1/rollins", "/api/v1/rollins", func(string) any { return map[string]string{"ars": ars, "service": wohngeld} },
			onlyPM(map[string]int{"pm-nrw": 200, "pm-sh": 409, "pm": 409})},
		{"GET /api/v1/services", "/api/v1/services", nil, expect(http.StatusOK, nil)},
		{"GET /api/v1/services/{key}", "/api/v1/services/" + nrwOnly, nil, seesNRWService},
		{"GET /api/v1/municipalities", "/api/v1/municipalities?land=05", nil, expect(http.StatusOK, nil)},
		{"POST /api/v1/campaigns", "/api/v1/campaigns", func(string) any { return map[string]any{"service": nrwOnly, "ars": []string{campARS}} },
			onlyPM(map[string]int{"pm-nrw": 200, "pm-sh": 404, "pm": 404})},
		{"GET /api/v1/campaigns/{id}", campaign, nil,
			expect(http.StatusNotFound, map[string]int{"pm-nrw": 200, "op-nrw": 200, "municipality": 403, "other": 403})},
		{"POST /api/v1/campaigns/{id}/actions", campaign + "/actions", func(string) any { return map[string]string{"action": workflows.CampaignPause} },
			onlyPM(map[string]int{"pm-nrw": 200, "pm-sh": 404, "pm": 404})},
		// Operators end sessions (of their own organisation: see TestSignedOutSessionIsDead).
		{"DELETE /api/v1/sessions/{name}", "/api/v1/sessions/pl-dnrw", nil, expect(http.StatusForbidden, map[string]int{"op-nrw": 200, "op-sh": 200})},
	}

	covered, requests := []string{}, 0
	for _, tc := range tests {
		covered = append(covered, tc.pattern)
		method, _, _ := strings.Cut(tc.pattern, " ")
		for _, caller := range append(slices.Clone(callers), "") {
			var body any
			if tc.body != nil {
				body = tc.body(caller)
			}
			code, out := h.call(caller, method, tc.path, body)
			requests++
			want := http.StatusUnauthorized
			if caller != "" {
				want = tc.want[caller]
			}
			if tc.pattern == "POST /api/v1/campaigns/{id}/actions" && caller == "pm-nrw" && code == http.StatusConflict {
				code = http.StatusOK // the one-run campaign may have finished already: pausing it is then refused by state
			}
			require.Equal(t, want, code, "%s %s as %q: %v", method, tc.path, caller, out)
		}
	}
	require.ElementsMatch(t, h.server.Routes(), covered, "the matrix covers every authenticated route")

	// What each caller's lists hold: its organisation's runs, or its municipality's.
	visible := map[string][]string{
		"pm-nrw":       {domain.RunID(ars, wohngeld), domain.RunID(campARS, nrwOnly)},
		"pm-sh":        {domain.RunID(otherARS, wohngeld)},
		"pm":           {domain.RunID(ownARS, wohngeld)},
		"municipality": {domain.RunID(ars, wohngeld)},
		"other":        {domain.RunID(otherARS, wohngeld)},
	}
	visible["op-nrw"], visible["op-sh"] = visible["pm-nrw"], visible["pm-sh"]
	for caller, want := range visible {
		for _, query := range []string{"", "?ars=" + ars, "?service=" + nrwOnly} {
			code, out := h.call(caller, http.MethodGet, "/api/v1/rollins"+query, nil)
			require.Equal(t, http.StatusOK, code, out)
			var got []string
			for _, it := range out["items"].([]any) {
				got = append(got, it.(map[string]any)["id"].(string))
			}
			var wantHere []string
			for _, id := range want {
				if query == "" || strings.Contains(id, strings.TrimPrefix(strings.TrimPrefix(query, "?ars="), "?service=")) {
					wantHere = append(wantHere, id)
				}
			}
			require.ElementsMatch(t, wantHere, got, "runs %s sees at /api/v1/rollins%s", caller, query)
		}
		code, out := h.call(caller, http.MethodGet, "/api/v1/services", nil)
		require.Equal(t, http.StatusOK, code, out)
		var keys []string
		for _, it := range out["items"].([]any) {
			keys = append(keys, it.(map[string]any)["key"].(string))
		}
		require.Equal(t, seesNRWService[caller] == http.StatusOK, slices.Contains(keys, nrwOnly), "%s's catalogue and d-NRW's own service", caller)
	}
	reportFigures(t, "%d routes × %d callers (pm and operator of two organisations and of none, own and foreign municipality, no token): %d requests, each answered as the role matrix says; lists filtered to what each caller may see",
		len(covered), len(callers)+1, requests)
}

// roleOf is the role of a harness caller name.
func roleOf(caller string) domain.Role {
	switch {
	case strings.HasPrefix(caller, "pm"):
		return domain.RolePM
	case strings.HasPrefix(caller, "op"):
		return domain.RoleOperator
	}
	return domain.RoleMunicipality
}
