package workflows

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/domain"
)

func names(steps []StepDef) []string {
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = s.Name
	}
	return out
}

func TestPlan(t *testing.T) {
	t.Parallel()
	xtaOnly := testService
	xtaOnly.Transports = []domain.Transport{domain.TransportXTA}
	xtaOnly.PaymentRequired = false
	xtaOnly.DPARequired = true
	muni := municipality()
	onFile := muni
	onFile.FrameworkAgreement = true
	receivesByFIT := muni
	receivesByFIT.Transports = []domain.Transport{domain.TransportFITConnect}
	xtaOrEmail := xtaOnly
	xtaOrEmail.Transports = []domain.Transport{domain.TransportXTA, domain.TransportEmail}

	tests := map[string]struct {
		svc  domain.Service
		m    domain.Municipality
		want []string
	}{
		"FIT-Connect or XTA, with fees, first roll-in": {testService, muni, []string{
			StepPrecheck, StepFrameworkAgreement, StepCallOff, StepCountersign, StepFileAgreement,
			StepConnectionData, StepDestination, StepPortalLink, StepRouting, StepDVDV, StepPayment, StepTenant,
			StepTestSubmission, StepTestConfirmation, StepActivationDate, StepProductionSwitch, StepPortalLive, StepAnnouncement,
		}},
		"framework agreement on file, municipality receives by FIT-Connect only": {testService, func() domain.Municipality {
			m := receivesByFIT
			m.FrameworkAgreement = true
			return m
		}(), []string{
			StepPrecheck, StepCallOff, StepCountersign, StepFileAgreement,
			StepConnectionData, StepDestination, StepPortalLink, StepRouting, StepPayment, StepTenant,
			StepTestSubmission, StepTestConfirmation, StepActivationDate, StepProductionSwitch, StepPortalLive, StepAnnouncement,
		}},
		"XTA only, no fees, DPA still asked for": {xtaOnly, onFile, []string{
			StepPrecheck, StepCallOff, StepDPA, StepCountersign, StepFileAgreement,
			StepConnectionData, StepPortalLink, StepDVDV, StepTenant,
			StepTestSubmission, StepTestConfirmation, StepActivationDate, StepProductionSwitch, StepPortalLive, StepAnnouncement,
		}},
		"XTA or e-mail: a task for each, the chosen one runs": {xtaOrEmail, onFile, []string{
			StepPrecheck, StepCallOff, StepDPA, StepCountersign, StepFileAgreement,
			StepConnectionData, StepPortalLink, StepDVDV, StepEmailRoute, StepTenant,
			StepTestSubmission, StepTestConfirmation, StepActivationDate, StepProductionSwitch, StepPortalLive, StepAnnouncement,
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			steps, reason := Plan(tc.svc, tc.m)
			require.Empty(t, reason)
			require.Equal(t, tc.want, names(steps))
		})
	}

	_, reason := Plan(xtaOnly, receivesByFIT)
	require.Contains(t, reason, "receives by fit-connect")

	// The connection tasks are for people (an operator confirms them); runs started
	// before ChangeConnectionTasks call the Land's system for the DVDV entry instead.
	steps, _ := Plan(xtaOrEmail, onFile)
	for _, def := range steps {
		if def.Name == StepDVDV || def.Name == StepEmailRoute {
			require.Equal(t, KindHuman, def.Kind, def.Name)
			require.Equal(t, ActionConfirmConnection, def.Action, def.Name)
			require.Equal(t, domain.RoleOperator, def.Role, def.Name)
		}
	}
	legacy := withoutConnectionTasks(steps)
	require.NotContains(t, names(legacy), StepEmailRoute)
	i := slices.IndexFunc(legacy, func(d StepDef) bool { return d.Name == StepDVDV })
	require.Equal(t, KindCall, legacy[i].Kind)
	require.Equal(t, ActivityConfirmDVDV, legacy[i].Activity)
}

func TestParseConnectionDataChecksTheIBAN(t *testing.T) {
	t.Parallel()
	c := goodConnection
	for _, iban := range []string{"DE89 3704 0044 0532 0130 00", "de89370400440532013000"} {
		c.PaymentAccount = iban
		_, err := ParseConnectionData(data(t, c), RunContext{Service: testService, Municipality: municipality()})
		require.NoError(t, err, iban)
	}
	for _, iban := range []string{"DE88 3704 0044 0532 0130 00", "DE89 3704", "DE89-3704-0044-0532-0130-00", ""} {
		c.PaymentAccount = iban
		_, err := ParseConnectionData(data(t, c), RunContext{Service: testService, Municipality: municipality()})
		require.ErrorContains(t, err, "data.payment_account", iban)
	}
	noFees := testService
	noFees.PaymentRequired = false
	c.PaymentAccount = ""
	_, err := ParseConnectionData(data(t, c), RunContext{Service: noFees, Municipality: municipality()})
	require.NoError(t, err, "no account needed where the service charges nothing")
}

func TestParseConnectionDataHonoursTheMunicipalityProfile(t *testing.T) {
	t.Parallel()
	m := municipality()
	m.Transports = []domain.Transport{domain.TransportFITConnect}
	c := goodConnection
	c.Transport, c.DVDVKey = domain.TransportXTA, "dvd:055150000000"
	_, err := ParseConnectionData(data(t, c), RunContext{Service: testService, Municipality: m})
	require.ErrorContains(t, err, `data.transport "xta": the municipality's profile receives by fit-connect only`)
}
