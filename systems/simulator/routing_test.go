package simulator_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/systems/simulator"
)

// TestRoutingAPIParameters checks that GET /routes answers the Routing API's parameter
// rules with a problem+json 400 naming the parameter, as FIT-Connect's routing service
// does, and accepts each of the three area keys.
func TestRoutingAPIParameters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		query      string
		wantStatus int
		wantDetail string
	}{
		{"ars", "leikaKey=99050012104000&ars=055150000000", 200, ""},
		{"ags", "leikaKey=99050012104000&ags=05515000", 200, ""},
		{"area id", "leikaKey=99050012104000&areaId=1024", 200, ""},
		{"paging", "leikaKey=99050012104000&ars=05515&offset=3&limit=500", 200, ""},
		{"no leikaKey", "ars=055150000000", 400, "leikaKey"},
		{"leikaKey without 99", "leikaKey=12050012104000&ars=055150000000", 400, "leikaKey"},
		{"no area", "leikaKey=99050012104000", 400, "exactly one of ars, ags, areaId"},
		{"two areas", "leikaKey=99050012104000&ars=055150000000&ags=05515000", 400, "exactly one of ars, ags, areaId"},
		{"ars of 4 digits", "leikaKey=99050012104000&ars=0551", 400, "ars"},
		{"ags of 12 digits", "leikaKey=99050012104000&ags=055150000000", 400, "ags"},
		{"area id not digits", "leikaKey=99050012104000&areaId=x1", 400, "areaId"},
		{"ars twice", "leikaKey=99050012104000&ars=055150000000&ars=055150000000", 400, "ars: given more than once"},
		{"negative offset", "leikaKey=99050012104000&ars=055150000000&offset=-1", 400, "offset"},
		{"limit 0", "leikaKey=99050012104000&ars=055150000000&limit=0", 400, "limit"},
		{"limit 501", "leikaKey=99050012104000&ars=055150000000&limit=501", 400, "limit"},
	}
	srv := start(t, simulator.State, simulator.Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := call(t, http.MethodGet, srv.URL+"/routes?"+tt.query, "", "")
			require.Equal(t, tt.wantStatus, a.status, "body: %s", a.body)
			if tt.wantDetail == "" {
				var res struct {
					Count, Offset, TotalCount *int
					Routes                    []any
				}
				a.json(t, &res)
				require.NotNil(t, res.Count)
				require.NotNil(t, res.Offset)
				require.NotNil(t, res.TotalCount)
				require.NotNil(t, res.Routes, "routes is an array, never null")
				return
			}
			p := a.problem(t)
			require.Equal(t, "Bad Request", p.Title)
			require.NotEmpty(t, p.Type)
			require.Contains(t, p.Detail, tt.wantDetail)
		})
	}
}

// TestPortalLinkDestinationIsUUID keeps the routes the simulator serves valid against the
// Routing API, whose destinationId is a UUID.
func TestPortalLinkDestinationIsUUID(t *testing.T) {
	t.Parallel()
	srv := start(t, simulator.State, simulator.Config{})
	a := call(t, http.MethodPost, srv.URL+"/pvog/v1/links", "k",
		`{"ars":"055150000000","serviceKey":"99050012104000","orgUnitId":"ou-1","destinationId":"dest-1","transport":"fit-connect"}`)
	require.Equal(t, http.StatusUnprocessableEntity, a.status, "body: %s", a.body)
	require.Contains(t, a.problem(t).Detail, "destinationId: want a UUID")
}
