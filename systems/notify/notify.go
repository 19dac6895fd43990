// Package notify tells people about a roll-in outside the municipality's own system: by
// e-mail through an SMTP relay (Mailer) and as a signed JSON webhook (Webhook) that a
// ticket system, chat bridge or the Kommunalvertreter's own CRM can receive. Notices are
// what the workflow sends when a run starts waiting on someone, and at each reminder and
// escalation.
//
// Both senders are one-shot: they never retry on their own, and they report every failure
// as a *systems.Error whose Retryable bit tells the activity (and through it Temporal's
// retry policy) whether to try again. A resend of the same event carries the same
// identity (the e-mail's Message-ID, the webhook's Idempotency-Key and event_id), so a
// receiver can drop the rare duplicate that the activity's at-least-once delivery allows.
package notify

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// The names errors of the two senders carry in systems.Error.System, so that an incident
// says which channel failed.
const (
	SystemSMTP    = "smtp"
	SystemWebhook = "webhook"
)

// Event is one notice about one run, as it leaves Rollin. Its JSON form is the webhook's
// body; the e-mail is written from the same fields, so both channels tell the same story.
type Event struct {
	// ID is the workflow's idempotency key of the notice: the same for every attempt to
	// deliver it, different for every notice, so receivers de-duplicate by it.
	ID string `json:"event_id"`
	// Kind is waiting, reminder or escalation.
	Kind  string `json:"kind"`
	RunID string `json:"run_id"`
	// ARS and ServiceKey identify the municipality and the EfA service of the run.
	ARS        string `json:"ars"`
	ServiceKey string `json:"service_key"`
	// Organisation is the Kommunalvertreter organisation whose run it is (empty: the
	// installation's own), for receivers that route by it.
	Organisation string `json:"organisation,omitempty"`
	// Step and Action name what the run waits for, e.g. call-off and sign-agreement.
	Step   string `json:"step,omitempty"`
	Action string `json:"action,omitempty"`
	// Recipient is the role the notice is for: municipality, pm or operator.
	Recipient string `json:"recipient"`
	// Subject and Body are the German text for people.
	Subject string `json:"subject"`
	Body    string `json:"body"`
	// SentAt is when this delivery attempt was made (a resend has a later one).
	SentAt time.Time `json:"sent_at"`
}

// ErrHeaderInjection is wrapped in errors about a value that would end up in a mail
// header but contains a line break or another control character: such a value could add
// headers or recipients of its own, so it is refused rather than cleaned.
var ErrHeaderInjection = errors.New("control character in a header value")

// checkHeaderValue refuses CR, LF and other control characters in a value bound for a
// header (tabs are fine: they are folding white space).
func checkHeaderValue(what, v string) error {
	if i := strings.IndexFunc(v, func(r rune) bool { return r != '\t' && unicode.IsControl(r) }); i >= 0 {
		return fmt.Errorf("%s: %w at byte %d", what, ErrHeaderInjection, i)
	}
	return nil
}
