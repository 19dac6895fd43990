package api

import (
	"net/http"

	"github.com/rollin-efa/rollin/starter"
)

func (s *Server) campaignRoutes() {
	s.route("POST /api/v1/campaigns", s.startCampaign)
	s.route("GET /api/v1/campaigns/{id}", s.getCampaign)
	s.route("POST /api/v1/campaigns/{id}/actions", s.actOnCampaign)
}

func (s *Server) startCampaign(w http.ResponseWriter, r *http.Request, p starter.Principal) error {
	var req starter.CampaignRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	progress, created, err := s.starter.StartCampaign(r.Context(), p, req)
	if err != nil {
		return err
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	writeJSON(w, code, progress)
	return nil
}

func (s *Server) getCampaign(w http.ResponseWriter, r *http.Request, p starter.Principal) error {
	progress, err := s.starter.Campaign(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, progress)
	return nil
}

type campaignAction struct {
	Action string `json:"action"`
	Reason string `json:"reason"`
}

func (s *Server) actOnCampaign(w http.ResponseWriter, r *http.Request, p starter.Principal) error {
	var a campaignAction
	if err := decode(r, &a); err != nil {
		return err
	}
	progress, err := s.starter.ActOnCampaign(r.Context(), p, r.PathValue("id"), a.Action, a.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, progress)
	return nil
}
