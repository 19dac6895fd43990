package activities

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/systems/simulator"
	"github.com/rollin-efa/rollin/systems/state"
	"github.com/rollin-efa/rollin/workflows"
)

// TestVerifyRoutingNamesWhatToRegister checks the routing step against the state
// simulator's Routing API: while the route is missing, the retryable error (which becomes
// the operator's incident once process.routing_deadline has passed) names what must be
// registered; once the portal link entered the route, the step is done.
func TestVerifyRoutingNamesWhatToRegister(t *testing.T) {
	t.Parallel()
	srv, err := simulator.Start(simulator.State, simulator.Config{}, "")
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	sc, err := state.New(srv.URL, nil)
	require.NoError(t, err)
	a := &Activities{State: sc}
	const dest = "00000004-0000-4000-8000-000000000001"
	in := workflows.CallInput{
		Context: workflows.RunContext{Service: domain.Service{Key: "99107023037000"}, Municipality: domain.Municipality{ARS: "053700004004"}},
		Refs:    workflows.Refs{DestinationID: dest},
	}

	_, err = run(t, a.VerifyRouting, in)
	var app *temporal.ApplicationError
	require.ErrorAs(t, err, &app)
	require.False(t, app.NonRetryable(), "polled until the routing deadline")
	require.Equal(t, "NotRoutedYet", app.Type())
	require.Contains(t, app.Message(), "have destination "+dest+" registered for LeiKa 99107023037000 and ARS 053700004004")

	_, err = sc.CreatePortalLink(t.Context(), "link-1", state.PortalLinkRequest{ARS: "053700004004", ServiceKey: "99107023037000",
		OrgUnitID: "OE-1", DestinationID: dest, Transport: string(domain.TransportFITConnect)})
	require.NoError(t, err)
	res, err := run(t, a.VerifyRouting, in)
	require.NoError(t, err)
	require.Equal(t, dest, res.Ref)
}
