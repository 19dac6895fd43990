package integration

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/workflows"
)

// TestDevPagesInTheBrowser is the "done when" in `rollin-dev` itself (the binary,
// its embedded Temporal server, simulators and generated tokens), in Chromium: the
// project manager starts two roll-ins into Münster from the pages, the municipality signs,
// enters its connection data and reports a test submission as not received (which sends
// the run back) and then as received; the operator confirms the DVDV entry of the XTA
// route; both runs go live.
func TestDevPagesInTheBrowser(t *testing.T) {
	t.Parallel()
	env, httpAddr := devEnv(t)
	dev := startDev(t, env)
	defer dev.stop()
	require.Contains(t, dev.output.String(), "Pages:      http://"+httpAddr+"/")
	tok := devTokens(t, env)
	c := devClient{t: t, base: "http://" + httpAddr, tokens: tok}
	b := newBrowser(t, c.base, map[string]string{
		"pm": tok[domain.RolePM], "operator": tok[domain.RoleOperator], "municipality": tok[domain.RoleMunicipality],
	})
	const muenster = "055150000000" // the generated municipality token's ARS
	status := func(service string) domain.RunStatus {
		code, out := c.do(domain.RolePM, http.MethodGet, "/api/v1/rollins/"+muenster+"/"+service, nil)
		require.Equal(t, http.StatusOK, code, out)
		var st domain.RunStatus
		require.NoError(t, json.Unmarshal([]byte(out), &st))
		return st
	}
	waitFor := func(service, action string) {
		t.Helper()
		require.Eventually(t, func() bool {
			st := status(service)
			return st.WaitingFor != nil && st.WaitingFor.Action == action
		}, time.Minute, 100*time.Millisecond, "%s waiting for %s", service, action)
	}
	runPage := func(service string) string { return "/rollins/" + muenster + "/" + service }

	b.signIn("pm")
	for _, service := range []string{wohngeld, hund} {
		b.open("/rollins/neu?service=" + service + "&q=" + muenster) // by ARS: Germany has several Münsters
		b.submit(`button[aria-label^="Roll-in für Münster"]`)
		require.Contains(t, b.text("p.flash"), "gestartet")
	}

	// The municipality signs what it is asked to sign (framework agreement, call-off).
	signAll := func(service string) {
		waitFor(service, workflows.ActionSignAgreement)
		for st := status(service); st.WaitingFor.Action == workflows.ActionSignAgreement; {
			b.open(runPage(service))
			b.run(chromedp.Click("#agree", chromedp.ByQuery))
			b.submit(actButton(workflows.ActionSignAgreement))
			seq := st.Seq
			require.Eventually(t, func() bool {
				st = status(service)
				return st.Seq > seq && st.WaitingFor != nil
			}, time.Minute, 100*time.Millisecond)
		}
	}
	b.signIn("municipality")
	signAll(wohngeld)
	signAll(hund)

	b.signIn("pm")
	for _, service := range []string{wohngeld, hund} {
		waitFor(service, workflows.ActionCountersignAgreement)
		b.open(runPage(service))
		b.submit(actButton(workflows.ActionCountersignAgreement))
	}

	connect := func(service string, transport domain.Transport, fachverfahren string) {
		waitFor(service, workflows.ActionSubmitConnectionData)
		b.open(runPage(service))
		b.run(
			chromedp.SetValue("#fachverfahren", fachverfahren, chromedp.ByQuery),
			chromedp.SetValue("#transport", string(transport), chromedp.ByQuery),
			chromedp.SetValue("#contact_email", "digitalisierung@muenster.example", chromedp.ByQuery),
			chromedp.SetValue("#contact_address", "Klemensstraße 10, 48143 Münster", chromedp.ByQuery),
			chromedp.SetValue("#org_unit_id", "OE-12", chromedp.ByQuery),
			chromedp.SetValue("#dvdv_key", "psw:000055150000", chromedp.ByQuery),
		)
		b.submit(actButton(workflows.ActionSubmitConnectionData))
		require.Contains(t, b.text("p.flash"), "Erledigt")
	}
	confirm := func(service string, received bool, note string) {
		waitFor(service, workflows.ActionConfirmTest)
		b.open(runPage(service))
		radio := "#received-ja"
		if !received {
			radio = "#received-nein"
		}
		b.run(chromedp.Click(radio, chromedp.ByQuery))
		if note != "" {
			b.run(chromedp.SetValue("#note", note, chromedp.ByQuery))
		}
		b.submit(actButton(workflows.ActionConfirmTest))
	}
	b.signIn("municipality")
	connect(wohngeld, domain.TransportFITConnect, "OK.SOZIUS")
	connect(hund, domain.TransportXTA, "OK.FIS")
	confirm(wohngeld, false, "")
	require.Contains(t, b.text("p.error"), "note", "not received needs a note")
	confirm(wohngeld, false, "Im Posteingang von OK.SOZIUS ist nichts angekommen.")
	connect(wohngeld, domain.TransportFITConnect, "OK.SOZIUS") // sent back: the data again, a new test
	confirm(wohngeld, true, "")

	// The XTA route needs a DVDV entry, which an operator makes and confirms.
	b.signIn("operator")
	waitFor(hund, workflows.ActionConfirmConnection)
	b.open(runPage(hund))
	require.Contains(t, b.text("p.note"), "psw:000055150000", "the task names the DVDV key to enter")
	b.submit(actButton(workflows.ActionConfirmConnection))

	b.signIn("municipality")
	confirm(hund, true, "")
	for _, service := range []string{wohngeld, hund} {
		require.Eventually(t, func() bool { return status(service).State == domain.RunLive }, time.Minute, 100*time.Millisecond, service)
	}
	b.open("/rollins")
	var live int
	b.run(chromedp.Evaluate(`document.querySelectorAll("main table .state-live").length`, &live))
	require.Equal(t, 2, live, "both runs shown live in Meine Roll-ins")
	require.Empty(t, b.violations, "axe-core: serious or critical violations")
}
