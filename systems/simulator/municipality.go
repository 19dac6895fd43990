package simulator

import (
	"net/http"
	"strings"

	"github.com/rollin-efa/rollin/domain"
)

// Wire and state types of the municipality simulator. The destination follows the
// subset of FIT-Connect's destination that Rollin sends.

type destinationIn struct {
	Name    string `json:"name"`
	Contact struct {
		Email string `json:"email"`
	} `json:"contact"`
	Callback *struct {
		URL string `json:"url"`
	} `json:"callback,omitempty"`
	Services []struct {
		Identifier string   `json:"identifier"`
		Regions    []string `json:"regions"`
	} `json:"services"`
}

type destination struct {
	DestinationID string `json:"destinationId"`
	Status        string `json:"status"`
}

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

func (s *Sim) createDestination(_ *http.Request, body []byte) reply {
	var in destinationIn
	if rep, ok := decodeBody(body, &in); !ok {
		return rep
	}
	msg := firstInvalid(required("name", in.Name), required("contact.email", in.Contact.Email))
	if msg == "" && !strings.Contains(in.Contact.Email, "@") {
		msg = "contact.email: want an e-mail address, got " + quote(in.Contact.Email)
	}
	if msg == "" && in.Callback != nil {
		msg = checkURL("callback.url", in.Callback.URL)
	}
	if msg == "" && len(in.Services) == 0 {
		msg = "services: at least one service is required"
	}
	var subjects []string
	for _, svc := range in.Services {
		if msg != "" {
			break
		}
		key, ok := strings.CutPrefix(svc.Identifier, domain.ServiceURNPrefix)
		if !ok {
			msg = "services.identifier: want " + domain.ServiceURNPrefix + "<Leistungsschlüssel>, got " + quote(svc.Identifier)
			break
		}
		if msg = checkServiceKey("services.identifier", key); msg != "" {
			break
		}
		if len(svc.Regions) == 0 {
			msg = "services.regions: at least one region is required"
			break
		}
		for _, region := range svc.Regions {
			ars, ok := strings.CutPrefix(region, domain.AreaURNPrefix)
			if !ok {
				msg = "services.regions: want " + domain.AreaURNPrefix + "<ARS>, got " + quote(region)
				break
			}
			if msg = checkARS("services.regions", ars); msg != "" {
				break
			}
			subjects = append(subjects, ars+"/"+key)
		}
	}
	if msg != "" {
		return invalid(msg)
	}
	d := &destination{DestinationID: s.newID(), Status: "active"}
	s.destinations[d.DestinationID] = d
	for _, subj := range subjects {
		s.effect("create-destination", subj)
	}
	return reply{status: http.StatusCreated, body: d}
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
		checkOneOf("recipient", in.Recipient, "municipality", "pm"),
		checkOneOf("kind", in.Kind, "waiting", "reminder", "escalation", "announcement"),
		required("subject", in.Subject),
		required("body", in.Body),
	)
	if msg == "" && in.Kind == "waiting" {
		// A waiting notice tells the person what to do: the action and the step.
		msg = firstInvalid(required("action", in.Action), required("step", in.Step))
	}
	if msg == "" && in.Action != "" {
		msg = checkOneOf("action", in.Action, autopilotSign, autopilotCountersign, autopilotConnection, autopilotConfirmTest)
	}
	if msg == "" && in.Kind == "waiting" && autopilotRoles[in.Action] != in.Recipient {
		msg = "recipient: " + in.Action + " is taken by " + autopilotRoles[in.Action] + ", got " + quote(in.Recipient)
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
	// autopilot sees each notice once. Handle only queues it: the answer does not wait.
	if s.autopilot != nil {
		s.autopilot.Handle(AutopilotNotice{
			Key: r.Header.Get("Idempotency-Key"), ARS: in.ARS, Service: in.ServiceKey,
			Recipient: in.Recipient, Kind: in.Kind, Action: in.Action, Step: in.Step,
		})
	}
	// 202: the message is queued for delivery, as a mail gateway would answer.
	return reply{status: http.StatusAccepted, body: created{ID: s.newID()}}
}
