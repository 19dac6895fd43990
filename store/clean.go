package store

import (
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/textrule"
)

// maxStoredText bounds a free-text column of the read model as the last line of defence:
// the front ends refuse longer input and external text is cut shorter, so only a bug gets
// here. It is generous, so that nothing legitimate is cut.
const maxStoredText = 8 * textrule.MaxReason

// cleanText makes a string one PostgreSQL takes as text: without NUL, control characters
// and invalid UTF-8, and bounded. The workflows write their transitions until the write
// succeeds; a write the database refuses for its content would be retried for ever and
// keep the run from recording anything after it, so the content is cleaned instead.
func cleanText(s string) string { return textrule.Clean(s, maxStoredText) }

// cleanSnapshot applies cleanText to every free-text string of a snapshot. Keys (ID, ARS,
// service) are checked by ApplySnapshot and left as they are.
func cleanSnapshot(snap domain.RunSnapshot) domain.RunSnapshot {
	st := snap.Status
	st.Reason = cleanText(st.Reason)
	if w := st.WaitingFor; w != nil {
		c := *w
		c.Action, c.Step, c.Note = cleanText(c.Action), cleanText(c.Step), cleanText(c.Note)
		c.Role = domain.Role(cleanText(string(c.Role)))
		st.WaitingFor = &c
	}
	if st.Steps != nil {
		steps := make([]domain.StepStatus, len(st.Steps))
		for i, s := range st.Steps {
			s.Name, s.LastError = cleanText(s.Name), cleanText(s.LastError)
			steps[i] = s
		}
		st.Steps = steps
	}
	var events []domain.AuditEvent
	if snap.Events != nil {
		events = make([]domain.AuditEvent, len(snap.Events))
		for i, e := range snap.Events {
			e.Actor, e.Action, e.Step = cleanText(e.Actor), cleanText(e.Action), cleanText(e.Step)
			e.Reason, e.Detail, e.Worker = cleanText(e.Reason), cleanText(e.Detail), cleanText(e.Worker)
			e.Role = domain.Role(cleanText(string(e.Role)))
			events[i] = e
		}
	}
	return domain.RunSnapshot{Status: st, Events: events}
}

// cleanCampaign applies cleanText to a campaign's free-text strings.
func cleanCampaign(c domain.Campaign) domain.Campaign {
	c.Selector, c.Reason, c.CreatedBy = cleanText(c.Selector), cleanText(c.Reason), cleanText(c.CreatedBy)
	return c
}
