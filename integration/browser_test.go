package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/activities"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/systems/notify"
	"github.com/rollin-efa/rollin/systems/notify/notifytest"
	"github.com/rollin-efa/rollin/systems/simulator"
	"github.com/rollin-efa/rollin/workflows"
)

// axePath is axe-core as `npm ci --prefix integration/browser` installs it (.ci/run does).
const axePath = "browser/node_modules/axe-core/axe.min.js"

// browser drives headless Chromium through one test's pages, checking each page it
// visits with axe-core.
type browser struct {
	t          *testing.T
	base       string            // where the pages are
	tokens     map[string]string // who can sign in: "pm", "operator", "municipality" → token
	ctx        context.Context
	axe        string
	violations []string
	shots      string // where screenshots go
}

// newBrowser starts Debian's Chromium on the pages at base. A machine without it, or
// without axe-core, fails the test: the pages are checked in a real browser or not at all.
func newBrowser(t *testing.T, base string, tokens map[string]string) *browser {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	require.NoError(t, err, "Chromium is needed for the browser tests (Debian package chromium; .ci/run installs it)")
	axe, err := os.ReadFile(axePath)
	require.NoError(t, err, "axe-core is needed for the accessibility checks: npm ci --prefix integration/browser")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.Flag("lang", "de-DE"),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// axe is injected through the DevTools protocol, which the pages' CSP (no script at
	// all) would otherwise refuse.
	require.NoError(t, chromedp.Run(ctx, page.SetBypassCSP(true)))
	shots := t.TempDir()
	if os.Getenv("UPDATE_SCREENSHOTS") != "" {
		shots = filepath.Join("..", "docs", "screenshots")
		require.NoError(t, os.MkdirAll(shots, 0o750))
	}
	return &browser{t: t, base: base, tokens: tokens, ctx: ctx, axe: string(axe), shots: shots}
}

func (b *browser) run(actions ...chromedp.Action) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	require.NoError(b.t, chromedp.Run(ctx, actions...))
}

// open loads a page and checks it.
func (b *browser) open(path string) {
	b.t.Helper()
	b.run(chromedp.Navigate(b.base+path), chromedp.WaitReady("main", chromedp.ByQuery))
	b.check()
}

// submit clicks the button sel and waits for the page that answers (every form
// redirects or renders a new page), then checks it.
func (b *browser) submit(sel string) {
	b.t.Helper()
	var before string
	b.run(chromedp.Evaluate(`document.body.dataset.n = "old"`, nil), chromedp.Location(&before))
	b.run(chromedp.Click(sel, chromedp.ByQuery), chromedp.WaitReady(`body:not([data-n="old"]) main`, chromedp.ByQuery))
	b.check()
}

// check runs axe-core on the page and keeps violations of impact serious or critical
// against WCAG 2.1 A/AA (BITV 2.0's bar).
func (b *browser) check() {
	b.t.Helper()
	var loc string
	var res []struct {
		ID     string `json:"id"`
		Impact string `json:"impact"`
		Help   string `json:"help"`
		Nodes  []struct {
			Target []string `json:"target"`
		} `json:"nodes"`
	}
	awaitPromise := func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }
	b.run(chromedp.Location(&loc), chromedp.Evaluate(b.axe, nil),
		chromedp.Evaluate(`axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}).then(r => r.violations)`, &res, awaitPromise))
	for _, v := range res {
		if v.Impact == "serious" || v.Impact == "critical" {
			var targets []string
			for _, n := range v.Nodes {
				targets = append(targets, strings.Join(n.Target, " "))
			}
			b.violations = append(b.violations, fmt.Sprintf("%s: %s (%s) %s at %s", loc, v.ID, v.Impact, v.Help, strings.Join(targets, ", ")))
		}
	}
}

func (b *browser) screenshot(name string) {
	b.t.Helper()
	var png []byte
	b.run(chromedp.FullScreenshot(&png, 100))
	require.NoError(b.t, os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o600))
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	var s string
	b.run(chromedp.Text(sel, &s, chromedp.ByQuery))
	return s
}

// signIn signs in with the harness's token for caller, signing out whoever was in.
func (b *browser) signIn(caller string) {
	b.t.Helper()
	var signedIn bool
	b.run(chromedp.Navigate(b.base+"/rollins"), chromedp.WaitReady("main", chromedp.ByQuery),
		chromedp.Evaluate(`!!document.querySelector("form.signout")`, &signedIn))
	if signedIn {
		b.submit("form.signout button")
		require.Contains(b.t, b.text("p.flash"), "abgemeldet")
	}
	b.open("/anmelden")
	b.run(chromedp.SetValue("#token", b.tokens[caller], chromedp.ByQuery))
	b.submit(`form[action="/anmelden"] button`)
	require.Contains(b.t, b.text("form.signout span"), roleText[caller])
}

var roleText = map[string]string{"pm": "Projektleitung", "operator": "Betrieb", "municipality": "Kommune"}

// actButton is the submit button of the form that sends action.
func actButton(action string) string {
	return fmt.Sprintf(`form:has(input[name="action"][value="%s"]) button[type="submit"]`, action)
}

// TestPeopleDoTheirJobsInTheBrowser: a project manager, a municipality and an operator
// each do their whole part of roll-ins in headless Chromium, through the pages only (the
// test reads the read model to know when the worker has moved on), and every page passes
// axe-core without serious or critical violations.
func TestPeopleDoTheirJobsInTheBrowser(t *testing.T) {
	t.Parallel()
	const bonn = "053140000000"
	smtp := notifytest.Start(t, notifytest.Options{})
	mailer, err := notify.NewMailer(notify.MailerConfig{Addr: smtp.Addr, From: "Rollin <rollin@d-nrw.example>", Timeout: 5 * time.Second})
	require.NoError(t, err)
	h := newHarnessWith(t, bonn, simulator.Config{}, harnessOptions{notify: &activities.Notifiers{
		Mailer: mailer, PM: []string{"projekte@d-nrw.example"}, Operator: []string{"betrieb@d-nrw.example"},
		Municipalities: []activities.MunicipalityAddress{{ARSPrefix: "05314", Address: "poststelle@bonn.example"}},
	}})
	b := newBrowser(t, h.api.URL, h.tokens)
	runPage := "/rollins/" + bonn + "/" + gewerbe

	// The project manager finds Bonn and starts the roll-in of Gewerbe.
	b.open("/anmelden")
	b.screenshot("anmelden")
	b.signIn("pm")
	b.open("/rollins/neu?service=" + gewerbe + "&q=Bonn")
	b.screenshot("pm-roll-in-starten")
	b.submit(`button[aria-label^="Roll-in für Bonn"]`)
	require.Contains(t, b.text("p.flash"), "gestartet")
	h.waitForAction(bonn, gewerbe, workflows.ActionSignAgreement)

	// The municipality sees only its run and signs what it is asked to sign.
	b.signIn("municipality")
	b.open("/rollins")
	require.Contains(t, b.text("main"), "Bonn")
	b.screenshot("kommune-meine-rollins")
	for st := h.status("pm", bonn, gewerbe); st.WaitingFor.Action == workflows.ActionSignAgreement; {
		b.open(runPage)
		b.run(chromedp.Click("#agree", chromedp.ByQuery))
		b.submit(actButton(workflows.ActionSignAgreement))
		require.Contains(t, b.text("p.flash"), "Erledigt")
		st = h.waitFor(bonn, gewerbe, "the next wait", func(s domain.RunStatus) bool { return s.WaitingFor != nil })
	}

	// The project manager countersigns.
	b.signIn("pm")
	b.open(runPage)
	b.screenshot("pm-gegenzeichnen")
	b.submit(actButton(workflows.ActionCountersignAgreement))
	h.waitForAction(bonn, gewerbe, workflows.ActionSubmitConnectionData)

	// The municipality enters its connection data; a wrong IBAN first is refused by name.
	b.signIn("municipality")
	b.open(runPage)
	b.screenshot("kommune-anbindungsdaten")
	fill := func(iban string) {
		b.run(
			chromedp.SetValue("#transport", string(domain.TransportFITConnect), chromedp.ByQuery),
			chromedp.SetValue("#contact_email", "digitalisierung@bonn.example", chromedp.ByQuery),
			chromedp.SetValue("#contact_address", "Stadthaus, Berliner Platz 2, 53111 Bonn", chromedp.ByQuery),
			chromedp.SetValue("#org_unit_id", "oe-bonn-ordnungsamt", chromedp.ByQuery),
			chromedp.SetValue("#payment_account", iban, chromedp.ByQuery),
		)
		b.submit(actButton(workflows.ActionSubmitConnectionData))
	}
	fill("DE00 1234")
	require.Contains(t, b.text("p.error"), "payment_account")
	fill("DE89 3704 0044 0532 0130 00")
	require.Contains(t, b.text("p.flash"), "Erledigt")

	// The worker connects Bonn and sends the test submission; the municipality confirms it.
	h.waitForAction(bonn, gewerbe, workflows.ActionConfirmTest)
	b.open(runPage)
	b.screenshot("kommune-test-bestaetigen")
	b.run(chromedp.Click("#received-ja", chromedp.ByQuery))
	b.submit(actButton(workflows.ActionConfirmTest))
	h.waitForState(bonn, gewerbe, domain.RunLive)
	b.open(runPage)
	require.Contains(t, b.text(".facts"), "live")
	b.screenshot("kommune-roll-in-live")

	// Two more runs fail at filing the agreement while the municipality system is down.
	duisburg, krefeld := "051120000000", "051140000000"
	sim := h.sims[simulator.Municipality].Sim
	sim.AddFault(simulator.Fault{Method: http.MethodPost, PathPrefix: "/v1/agreements", Status: http.StatusServiceUnavailable})
	h.toFileAgreementIncident(h.starter, gewerbe, duisburg, krefeld)
	sim.ClearFaults()

	// The operator sees both in the inbox: skipping without a reason is refused for each;
	// one is skipped with a reason, the other retried.
	b.signIn("operator")
	b.open("/stoerungen")
	inbox := b.text("main table")
	require.Contains(t, inbox, "Duisburg")
	require.Contains(t, inbox, "Krefeld")
	require.Contains(t, inbox, "Vereinbarung ablegen")
	b.screenshot("betrieb-stoerungen")
	selectRuns := func(arss ...string) {
		for _, ars := range arss {
			b.run(chromedp.Click(fmt.Sprintf(`input[name="run"][value="%s/%s"]`, ars, gewerbe), chromedp.ByQuery))
		}
	}
	selectRuns(duisburg, krefeld)
	b.run(chromedp.Click("#a-skip-step", chromedp.ByQuery))
	b.submit(`form[action="/stoerungen"] fieldset button`)
	require.Equal(t, 2, strings.Count(b.text(".results"), "✗"), "skipping needs a reason: %s", b.text(".results"))
	selectRuns(duisburg)
	b.run(chromedp.Click("#a-skip-step", chromedp.ByQuery), chromedp.SetValue("#b-reason", "Vereinbarung liegt unterschrieben in Papierform vor", chromedp.ByQuery))
	b.submit(`form[action="/stoerungen"] fieldset button`)
	require.Equal(t, 1, strings.Count(b.text(".results"), "✓"), b.text(".results"))
	selectRuns(krefeld)
	b.run(chromedp.Click("#a-retry-step", chromedp.ByQuery))
	b.submit(`form[action="/stoerungen"] fieldset button`)
	require.Equal(t, 1, strings.Count(b.text(".results"), "✓"), b.text(".results"))
	for _, ars := range []string{duisburg, krefeld} {
		h.waitForAction(ars, gewerbe, workflows.ActionSubmitConnectionData)
	}
	audit := h.status("pm", duisburg, gewerbe)
	for _, st := range audit.Steps {
		if st.Name == workflows.StepFileAgreement {
			require.Equal(t, domain.StepSkipped, st.State, "Duisburg's filing was skipped")
		}
	}

	// The operator cancels Krefeld's run from its page, with a reason.
	b.open("/rollins/" + krefeld + "/" + gewerbe)
	b.run(chromedp.Click("details.danger summary", chromedp.ByQuery), chromedp.SetValue("#cancel-reason", "Gemeinde hat zurückgezogen", chromedp.ByQuery))
	b.submit(actButton(workflows.ActionCancel))
	require.Equal(t, domain.RunCancelled, h.status("pm", krefeld, gewerbe).State)
	b.screenshot("betrieb-roll-in")

	// The project manager's overviews: all runs (and the CSV), who is overdue, coverage.
	b.signIn("pm")
	b.open("/rollins?land=05&service=" + gewerbe)
	list := b.text("main table")
	for _, name := range []string{"Bonn", "Duisburg", "Krefeld"} {
		require.Contains(t, list, name)
	}
	b.screenshot("pm-rollins")
	var csv string
	b.run(chromedp.Evaluate(`fetch("/rollins.csv?service=`+gewerbe+`").then(r => r.text())`, &csv,
		func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	require.Contains(t, csv, "053140000000;Bonn")
	require.Contains(t, csv, ";live;")
	b.open("/ueberfaellig")
	require.Contains(t, b.text("main table"), "Duisburg", "waiting for connection data longer than the reminder threshold")
	b.screenshot("pm-ueberfaellig")
	b.open("/abdeckung?service=" + gewerbe + "&land=05")
	require.Contains(t, b.text("main table"), "Bonn")
	var bars int
	b.run(chromedp.Evaluate(`document.querySelectorAll("svg.chart rect.seg[fill='#1a7f37']").length`, &bars))
	require.Equal(t, 1, bars, "one live segment: Bonn's Kreis")
	b.screenshot("pm-abdeckung")
	b.open("/dienste")
	b.screenshot("dienste")
	b.open("/dienste/" + gewerbe)
	require.Contains(t, b.text("main"), "Kompatible Fachverfahren")
	b.screenshot("dienst-steckbrief")

	// Each wait on a person was mailed to that person, once: the municipality at its
	// configured address until its questionnaire named a contact, then there; the
	// project manager for the countersignature.
	mailed := map[string][]string{}
	ids := map[string]bool{}
	for _, m := range smtp.Messages() {
		msg := m.Parse(t)
		require.False(t, ids[msg.Header.Get("Message-ID")], "one mail per event")
		ids[msg.Header.Get("Message-ID")] = true
		for _, to := range m.To {
			mailed[to] = append(mailed[to], msg.Header.Get("X-Rollin-Event-ID"))
		}
	}
	require.NotEmpty(t, mailed["poststelle@bonn.example"], "the agreement's wait, before a contact was known")
	require.NotEmpty(t, mailed["projekte@d-nrw.example"], "the countersignature's wait")
	require.NotEmpty(t, mailed["digitalisierung@bonn.example"], "the test confirmation's wait, to the questionnaire's contact")

	require.Empty(t, b.violations, "axe-core: serious or critical violations")
	reportFigures(t, "browser: pm, municipality and operator did their parts in Chromium; every page visited passed axe-core (WCAG 2.1 A/AA, no serious or critical)")
}
