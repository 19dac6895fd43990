package simulator

import (
	"net/http"

	"github.com/rollin-efa/rollin/systems/municipality"
)

// Wire types of the municipality simulator.

type agreementIn struct {
	ARS             string `json:"ars"`
	ServiceKey      string `json:"serviceKey"`
	Kind            string `json:"kind"`
	SignedBy        string `json:"signedBy"`
	CountersignedBy string `json:"countersignedBy"`
}

type notificationIn struct {
	ARS        string `json:"ars"`
	ServiceKey string `json:"serviceKey"`
	Recipient  string `json:"recipient"`
	Kind       string `json:"kind"`
	Subject    string `json:"subject"`
	Body       string `json:"body"`
	Action     string `json:"action,omitempty"`
	Step       string `json:"step,omitempty"`
}

func (s *Sim) fileAgreement(_ *http.Request, body []byte) reply {
	var in agreementIn
	if rep, ok := decodeBody(body, &in); !ok {
		return rep
	}
	msg := firstInvalid(
		checkARS("ars", in.ARS),
		checkOneOf("kind", in.Kind, "framework", "call-off", "dpa"),
		required("signedBy", in.SignedBy),
		required("countersignedBy", in.CountersignedBy),
	)
	if msg == "" && in.Kind != "framework" {
		msg = checkServiceKey("serviceKey", in.ServiceKey)
	}
	if msg != "" {
		return invalid(msg)
	}
	// The framework agreement covers all services of the municipality.
	subject := in.ARS
	if in.Kind != "framework" {
		subject += "/" + in.ServiceKey
	}
	s.effect("file-agreement "+in.Kind, subject)
	return reply{status: http.StatusCreated, body: created{ID: s.newID()}}
}

func (s *Sim) notify(r *http.Request, body []byte) reply {
	var in notificationIn
	if rep, ok := decodeBody(body, &in); !ok {
		return rep
	}
	msg := firstInvalid(
		checkARS("ars", in.ARS),
		checkServiceKey("serviceKey", in.ServiceKey),
		checkOneOf("recipient", in.Recipient, municipality.RecipientMunicipality, municipality.RecipientPM),
		checkOneOf("kind", in.Kind, municipality.NoticeWaiting, municipality.NoticeReminder, municipality.NoticeEscalation,
			municipality.NoticeAnnouncement),
		required("subject", in.Subject),
		required("body", in.Body),
	)
	if msg == "" && in.Kind == municipality.NoticeWaiting {
		// A waiting notice tells the person what to do: the action and the step.
		msg = firstInvalid(required("action", in.Action), required("step", in.Step))
	}
	if msg == "" && in.Action != "" {
		msg = checkOneOf("action", in.Action, municipality.ActionSignAgreement, municipality.ActionCountersignAgreement,
			municipality.ActionSubmitConnectionData, municipality.ActionConfirmTest)
	}
	if msg == "" && in.Kind == municipality.NoticeWaiting && municipality.TakenBy(in.Action) != in.Recipient {
		msg = "recipient: " + in.Action + " is taken by " + municipality.TakenBy(in.Action) + ", got " + quote(in.Recipient)
	}
	if msg == "" && in.Step != "" {
		msg = checkStep("step", in.Step)
	}
	if msg != "" {
		return invalid(msg)
	}
	op := "notify " + in.Recipient + " " + in.Kind
	if in.Step != "" {
		op += " " + in.Step
	}
	s.effect(op, in.ARS+"/"+in.ServiceKey)
	// Only a new notification gets here (a replayed key answers the stored reply), so the
	// listener hears each notice once.
	s.takeNotice(Notice{
		Key: r.Header.Get("Idempotency-Key"), ARS: in.ARS, Service: in.ServiceKey,
		Recipient: in.Recipient, Kind: in.Kind, Action: in.Action, Step: in.Step,
	})
	// 202: the message is queued for delivery, as a mail gateway would answer.
	return reply{status: http.StatusAccepted, body: created{ID: s.newID()}}
}
