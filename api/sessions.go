package api

import (
	"context"
	"net/http"

	"go.uber.org/zap"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/starter"
	"github.com/rollin-efa/rollin/textrule"
)

// SessionEnder ends web sessions: *store.Store, whose session table every replica shares.
type SessionEnder interface {
	EndSessions(ctx context.Context, name string, org *domain.Organisation) (int64, error)
}

// EndSessionsIn lets operators end the web sessions kept in st (DELETE
// /api/v1/sessions/{name}): a leaked or replaced token's sessions, a person's who left.
// Without it the route answers 503.
func (s *Server) EndSessionsIn(st SessionEnder) { s.sessions = st }

// endedSessions is the answer of DELETE /api/v1/sessions/{name}.
type endedSessions struct {
	Name  string `json:"name"`
	Ended int64  `json:"ended"`
}

// endSessions ends every web session signed in under a name: a token's (auth.tokens
// name) or a person's from the identity provider. An operator of an organisation ends
// only that organisation's sessions; municipalities belong to no organisation, so their
// sessions are ended by the operators of the installation's own organisation (the empty
// one), who run the installation. The API token itself stays valid: to lock a token
// out, remove it from auth.tokens (which ends its sessions too).
func (s *Server) endSessions(w http.ResponseWriter, r *http.Request, p starter.Principal) error {
	if !starter.MayEndSessions(p) {
		return &starter.Error{Kind: starter.KindForbidden, Msg: "only operators may end sessions"}
	}
	if s.sessions == nil {
		return &starter.Error{Kind: starter.KindUnavailable, Msg: "this server keeps no sessions"}
	}
	name := r.PathValue("name")
	if err := textrule.Line("name", name, textrule.MaxName); err != nil {
		return &starter.Error{Kind: starter.KindInvalid, Msg: err.Error()}
	}
	var org *domain.Organisation
	if !p.AllOrganisations {
		org = &p.Organisation
	}
	n, err := s.sessions.EndSessions(r.Context(), name, org)
	if err != nil {
		s.log.Error("end sessions", zap.String("name", name), zap.Error(err))
		return &starter.Error{Kind: starter.KindUnavailable, Msg: "the session store did not answer"}
	}
	s.log.Info("sessions ended", zap.String("name", name), zap.Int64("ended", n), zap.String("by", p.Name))
	writeJSON(w, http.StatusOK, endedSessions{Name: name, Ended: n})
	return nil
}
