package simulator

import (
	"net/http"

	"github.com/rollin-efa/rollin/systems"
)

// Wire and state types of the provider simulator.

type tenantIn struct {
	ARS           string `json:"ars"`
	ServiceKey    string `json:"serviceKey"`
	Name          string `json:"name"`
	Fachverfahren string `json:"fachverfahren"`
	Transport     string `json:"transport"`
}

type tenant struct {
	tenantIn
	ID     string `json:"id"`
	Status string `json:"status"` // test, production
}

type testSubmissionIn struct {
	TenantID      string `json:"tenantId"`
	ARS           string `json:"ars"`
	ServiceKey    string `json:"serviceKey"`
	Transport     string `json:"transport"`
	DestinationID string `json:"destinationId"`
}

type submission struct {
	ID       string           `json:"id"`
	TenantID string           `json:"tenantId"`
	State    string           `json:"state"`
	Problem  *systems.Problem `json:"problem,omitempty"`

	polls     int
	rejection *systems.Problem
}

func (s *Sim) createTenant(_ *http.Request, body []byte) reply {
	var in tenantIn
	if rep, ok := decodeBody(body, &in); !ok {
		return rep
	}
	if msg := firstInvalid(
		checkARS("ars", in.ARS),
		checkServiceKey("serviceKey", in.ServiceKey),
		required("name", in.Name),
		required("fachverfahren", in.Fachverfahren),
		checkTransport("transport", in.Transport),
	); msg != "" {
		return invalid(msg)
	}
	t := &tenant{tenantIn: in, ID: s.newID(), Status: "test"}
	s.tenants[t.ID] = t
	s.markTenant(t)
	s.effect("create-tenant", in.ARS+"/"+in.ServiceKey)
	return reply{status: http.StatusCreated, body: t}
}

func (s *Sim) switchToProduction(r *http.Request, _ []byte) reply {
	id := r.PathValue("id")
	t, ok := s.tenants[id]
	if !ok {
		return notFound("tenant", id)
	}
	t.Status = "production"
	s.markTenant(t)
	s.effect("switch-to-production", t.ARS+"/"+t.ServiceKey)
	return reply{status: http.StatusOK, body: t}
}

func (s *Sim) sendTestSubmission(_ *http.Request, body []byte) reply {
	var in testSubmissionIn
	if rep, ok := decodeBody(body, &in); !ok {
		return rep
	}
	msg := firstInvalid(
		required("tenantId", in.TenantID),
		checkARS("ars", in.ARS),
		checkServiceKey("serviceKey", in.ServiceKey),
		checkTransport("transport", in.Transport),
	)
	if msg == "" && in.Transport == "fit-connect" {
		msg = required("destinationId", in.DestinationID)
	}
	if msg != "" {
		return invalid(msg)
	}
	t, ok := s.tenants[in.TenantID]
	if !ok {
		return notFound("tenant", in.TenantID)
	}
	if t.ARS != in.ARS || t.ServiceKey != in.ServiceKey {
		return invalid("tenantId: tenant " + t.ID + " belongs to " + t.ARS + "/" + t.ServiceKey +
			", not " + in.ARS + "/" + in.ServiceKey)
	}
	sub := &submission{ID: s.newID(), TenantID: t.ID, State: "submitted"}
	if p, ok := s.rejections[in.ARS]; ok {
		sub.rejection = &p
	}
	s.submissions[sub.ID] = sub
	s.markSubmission(sub)
	s.effect("send-test-submission", in.ARS+"/"+in.ServiceKey)
	return reply{status: http.StatusCreated, body: sub}
}

// getTestSubmission moves the submission along at each GET: in flight for TestPolls
// GETs (submitted, then forwarded), then accepted, or rejected with its problem.
func (s *Sim) getTestSubmission(r *http.Request, _ []byte) reply {
	id := r.PathValue("id")
	sub, ok := s.submissions[id]
	if !ok {
		return notFound("test submission", id)
	}
	sub.polls++
	s.markSubmission(sub)
	switch {
	case sub.State == "accepted" || sub.State == "rejected":
	case sub.polls > s.cfg.TestPolls && sub.rejection != nil:
		sub.State, sub.Problem = "rejected", sub.rejection
	case sub.polls > s.cfg.TestPolls:
		sub.State = "accepted"
	case sub.polls > 1:
		sub.State = "forwarded"
	}
	return reply{status: http.StatusOK, body: *sub}
}
