package web

import (
	"fmt"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/workflows"
)

// The pages speak German; the process's identifiers stay English in the API and the audit
// log. These tables translate what a person reads, and fall back to the identifier so that
// a new state or step shows up named rather than blank.

var stateLabels = map[domain.RunState]string{
	domain.RunRunning: "läuft", domain.RunWaiting: "wartet", domain.RunIncident: "Störung",
	domain.RunBlocked: "blockiert", domain.RunLive: "live", domain.RunCancelled: "abgebrochen",
}

// runStates is the order in which filters, charts and legends list the states.
var runStates = []domain.RunState{
	domain.RunLive, domain.RunRunning, domain.RunWaiting, domain.RunIncident, domain.RunBlocked, domain.RunCancelled,
}

var stageLabels = map[domain.Stage]string{
	domain.StagePruefung: "Prüfung", domain.StageVereinbarung: "Vereinbarung", domain.StageAnbindung: "Anbindung",
	domain.StageTest: "Test", domain.StageGoLive: "Go-live",
}

var stages = []domain.Stage{domain.StagePruefung, domain.StageVereinbarung, domain.StageAnbindung, domain.StageTest, domain.StageGoLive}

var stepStateLabels = map[domain.StepState]string{
	domain.StepPending: "offen", domain.StepRunning: "läuft", domain.StepWaiting: "wartet",
	domain.StepFailed: "fehlgeschlagen", domain.StepDone: "erledigt", domain.StepSkipped: "übersprungen",
}

var roleLabels = map[domain.Role]string{
	domain.RolePM: "Projektleitung", domain.RoleOperator: "Betrieb", domain.RoleMunicipality: "Kommune", domain.RoleSystem: "Rollin",
}

var actionLabels = map[string]string{
	workflows.ActionSignAgreement:        "Vereinbarung unterzeichnen",
	workflows.ActionCountersignAgreement: "Vereinbarung gegenzeichnen",
	workflows.ActionSubmitConnectionData: "Anbindungsdaten eingeben",
	workflows.ActionConfirmTest:          "Testeinreichung bestätigen",
	workflows.ActionConfirmConnection:    "Anbindung bestätigen",
	workflows.ActionRetryStep:            "Schritt wiederholen",
	workflows.ActionSkipStep:             "Schritt überspringen",
	workflows.ActionCancel:               "Roll-in abbrechen",
}

// eventLabels name the audit log's entries that are not actions.
var eventLabels = map[string]string{
	"start": "Roll-in gestartet", "planned": "Schritte geplant", "blocked": "blockiert", "step-done": "Schritt erledigt",
	"step-not-needed": "Schritt entfällt", "test-rejected": "Testeinreichung abgewiesen", "incident": "Störung",
	"waiting": "wartet", "notice-waiting": "benachrichtigt", "notice-reminder": "erinnert", "notice-escalation": "eskaliert",
	"loop-back": "zurück zu den Anbindungsdaten", "live": "live", "cancelled": "abgebrochen",
}

var stepLabels = map[string]string{
	workflows.StepPrecheck: "Vorprüfung", workflows.StepFrameworkAgreement: "Rahmenvereinbarung",
	workflows.StepCallOff: "Abruf (interöffentliche Vereinbarung)", workflows.StepDPA: "Auftragsverarbeitung",
	workflows.StepCountersign: "Gegenzeichnung", workflows.StepFileAgreement: "Vereinbarung ablegen",
	workflows.StepConnectionData: "Anbindungsdaten", workflows.StepDestination: "FIT-Connect-Zustellpunkt",
	workflows.StepPortalLink: "Portalverlinkung", workflows.StepRouting: "Routing (FIT-Connect)",
	workflows.StepDVDV: "DVDV-Eintrag (XTA/OSCI)", workflows.StepEmailRoute: "E-Mail-Zustellung",
	workflows.StepPayment: "Bezahldienst", workflows.StepTenant: "Mandant beim Anbieter",
	workflows.StepTestSubmission: "Testeinreichung", workflows.StepTestConfirmation: "Bestätigung der Testeinreichung",
	workflows.StepActivationDate: "Stichtag", workflows.StepProductionSwitch: "Produktivschaltung",
	workflows.StepPortalLive: "Portal-Link aktiv", workflows.StepAnnouncement: "Bekanntmachung",
}

var transportLabels = map[domain.Transport]string{
	domain.TransportFITConnect: "FIT-Connect", domain.TransportXTA: "XTA/OSCI", domain.TransportEmail: "E-Mail",
}

// lands names the 16 Länder by their key, the first two digits of every ARS.
var lands = []struct{ Key, Name string }{
	{"01", "Schleswig-Holstein"}, {"02", "Hamburg"}, {"03", "Niedersachsen"}, {"04", "Bremen"},
	{"05", "Nordrhein-Westfalen"}, {"06", "Hessen"}, {"07", "Rheinland-Pfalz"}, {"08", "Baden-Württemberg"},
	{"09", "Bayern"}, {"10", "Saarland"}, {"11", "Berlin"}, {"12", "Brandenburg"},
	{"13", "Mecklenburg-Vorpommern"}, {"14", "Sachsen"}, {"15", "Sachsen-Anhalt"}, {"16", "Thüringen"},
}

func landName(key string) string {
	for _, l := range lands {
		if l.Key == key {
			return l.Name
		}
	}
	return key
}

func label[K comparable](m map[K]string, k K) string {
	if s, ok := m[k]; ok {
		return s
	}
	return fmt.Sprint(k)
}
