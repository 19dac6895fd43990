package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/store"
	"github.com/rollin-efa/rollin/systems"
	"github.com/rollin-efa/rollin/systems/municipality"
	"github.com/rollin-efa/rollin/systems/notify"
	"github.com/rollin-efa/rollin/workflows"
)

// The channels a notice goes out on besides the municipality's system, as the store
// records them.
const (
	ChannelEmail   = "email"
	ChannelWebhook = "webhook"
)

// Notifiers send the notices by e-mail and webhook, besides the municipality's system.
// Either sender may be nil (that channel is off); Activities.Notifiers is nil when both
// are.
type Notifiers struct {
	Mailer  *notify.Mailer
	Webhook *notify.Webhook
	// WebhookHost names the webhook's receiver in logs and in the record of what was
	// sent (not the whole URL, which may carry a token in its path).
	WebhookHost string
	// PM and Operator receive the notices for their roles, unless the run's organisation
	// has its own addresses in Organisations.
	PM, Operator  []string
	Organisations map[domain.Organisation]RoleAddresses
	// Municipalities are the fallback addresses of municipalities whose run has no
	// contact e-mail yet, by ARS prefix; the longest matching prefix wins.
	Municipalities []MunicipalityAddress
}

// RoleAddresses are an organisation's own addresses for its project managers and
// operators (notify.email.organisations).
type RoleAddresses struct {
	Organisation string
	PM, Operator []string
}

// MunicipalityAddress is the address for the municipalities under an ARS prefix: "05" a
// Land, "05370" a Kreis, twelve digits one municipality.
type MunicipalityAddress struct {
	ARSPrefix, Address string
}

// recipients are the addresses a notice is mailed to, by the role it is for, and where
// they came from (for the log). A municipality is written to at the questionnaire's
// contact address once the run has one, else at the configured address of the longest
// matching ARS prefix.
func (n *Notifiers) recipients(in workflows.CallInput) ([]string, string) {
	org, own := n.Organisations[in.Organisation]
	switch in.Notice.Recipient {
	case domain.RolePM:
		if own {
			return org.PM, "notify.email.organisations " + org.Organisation
		}
		return n.PM, "notify.email.pm"
	case domain.RoleOperator:
		if own {
			return org.Operator, "notify.email.organisations " + org.Organisation
		}
		return n.Operator, "notify.email.operator"
	case domain.RoleMunicipality:
		if c := in.Connection; c != nil && c.ContactEmail != "" {
			return []string{c.ContactEmail}, "contact_email"
		}
		ars := string(in.Context.Municipality.ARS)
		var best *MunicipalityAddress
		for i, m := range n.Municipalities {
			if strings.HasPrefix(ars, m.ARSPrefix) && (best == nil || len(m.ARSPrefix) > len(best.ARSPrefix)) {
				best = &n.Municipalities[i]
			}
		}
		if best != nil {
			return []string{best.Address}, "notify.email.municipalities " + best.ARSPrefix
		}
	}
	return nil, ""
}

// Notify tells a person that a run waits for them, reminds them, or escalates to the
// project manager: through the municipality's system (not for operators) and, where
// configured, by e-mail and webhook. Every channel is tried even when another fails, and each is idempotent
// on its own: the municipality's system by the idempotency key, e-mail and webhook by
// the store's record of what went out (checked before sending, written after), so a
// retry after a partial failure repeats only what failed. A crash between sending and
// recording leaves one duplicate possible, with the same Message-ID or Idempotency-Key
// for the receiver to drop.
func (a *Activities) Notify(ctx context.Context, in workflows.CallInput) (workflows.CallResult, error) {
	if in.Notice == nil {
		return workflows.CallResult{}, classify(ctx, fmt.Errorf("notify: no notice: %w", store.ErrInvalid))
	}
	n := in.Notice
	var errs []error
	// The municipality's system tells its staff and the project manager; operators are
	// the Kommunalvertreter's own team, reached by e-mail and webhook only.
	if n.Recipient != domain.RoleOperator {
		err := a.Municipality.Notify(ctx, in.IdempotencyKey, municipality.Notification{
			ARS: string(in.Context.Municipality.ARS), ServiceKey: string(in.Context.Service.Key),
			Recipient: string(n.Recipient), Kind: n.Kind, Action: n.Action, Step: n.Step,
			Subject: n.Subject, Body: n.Body,
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	if a.Notifiers != nil {
		log := a.callLogger(ctx, in).With(zap.String("notice", n.Kind), zap.String("recipient", string(n.Recipient)),
			zap.String("idempotency_key", in.IdempotencyKey))
		ev := notify.Event{
			ID: in.IdempotencyKey, Kind: n.Kind, RunID: in.RunID, ARS: string(in.Context.Municipality.ARS),
			ServiceKey: string(in.Context.Service.Key), Organisation: string(in.Organisation), Step: n.Step, Action: n.Action, Recipient: string(n.Recipient),
			Subject: n.Subject, Body: n.Body, SentAt: time.Now(),
		}
		if a.Notifiers.Mailer != nil {
			errs = append(errs, a.mailNotice(ctx, log, in, ev))
		}
		if a.Notifiers.Webhook != nil {
			errs = append(errs, a.deliverOnce(ctx, log, in, ChannelWebhook, func() (string, error) {
				if err := a.Notifiers.Webhook.Send(ctx, ev); err != nil {
					return "", err
				}
				log.Info("notice posted to the webhook", zap.String("webhook", a.Notifiers.WebhookHost))
				return a.Notifiers.WebhookHost, nil
			}))
		}
	}
	if err := deliveryError(errs); err != nil {
		return workflows.CallResult{}, classify(ctx, err)
	}
	return done(ctx, "")
}

// mailNotice mails the notice to the addresses of its recipient's role, once.
func (a *Activities) mailNotice(ctx context.Context, log *zap.Logger, in workflows.CallInput, ev notify.Event) error {
	to, source := a.Notifiers.recipients(in)
	if len(to) == 0 {
		msg := "no e-mail address for the notice's recipient: no mail sent"
		if in.Notice.Recipient == domain.RoleMunicipality {
			msg = "no e-mail address for the municipality (no contact_email in its questionnaire yet, no notify.email.municipalities prefix matches its ARS): no mail sent"
		}
		log.Warn(msg)
		return nil
	}
	return a.deliverOnce(ctx, log, in, ChannelEmail, func() (string, error) {
		d, err := a.Notifiers.Mailer.Send(ctx, to, ev)
		if err != nil {
			return "", err
		}
		if len(d.Refused) > 0 {
			log.Warn("the relay refused recipients of the notice; it went to the others", zap.Strings("refused", d.Refused))
		}
		log.Info("notice mailed", zap.String("message_id", d.MessageID), zap.Strings("to", d.Accepted), zap.String("addresses_from", source))
		return strings.Join(d.Accepted, ", "), nil
	})
}

// deliverOnce sends the notice on channel unless the store says it went out there
// already, and records it after sending. When the record cannot be written the notice
// still counts as delivered (failing the activity would only make its retry send it
// again); the window that leaves — a retry for another channel's failure before the
// store is back — is logged.
func (a *Activities) deliverOnce(ctx context.Context, log *zap.Logger, in workflows.CallInput, channel string, send func() (string, error)) error {
	sent, err := a.Store.NotificationSent(ctx, in.IdempotencyKey, channel)
	if err != nil {
		return err
	}
	if sent {
		log.Debug("notice went out before, not sent again", zap.String("channel", channel))
		return nil
	}
	detail, err := send()
	if err != nil {
		return err
	}
	err = a.Store.RecordNotification(ctx, store.SentNotification{Key: in.IdempotencyKey, Channel: channel, RunID: in.RunID,
		Detail: detail, SentAt: time.Now()})
	if err != nil {
		log.Error("notice sent but not recorded: a retry of the activity would send it again (with the same Message-ID or Idempotency-Key)",
			zap.String("channel", channel), zap.Error(err))
	}
	return nil
}

// deliveryError combines the failed channels of one notice so that classify reads it
// right: retryable when any channel's failure is (the retry repeats only what failed;
// the longest Retry-After asked for counts), permanent when none is.
func deliveryError(errs []error) error {
	errs = slices.DeleteFunc(errs, func(err error) bool { return err == nil })
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	retry, wait := false, time.Duration(0)
	for _, err := range errs {
		var se *systems.Error
		switch {
		case errors.As(err, &se):
			if se.Retryable {
				retry, wait = true, max(wait, se.RetryAfter)
			}
		case !errors.Is(err, store.ErrInvalid) && !errors.Is(err, store.ErrNotFound):
			retry = true // e.g. the database, as classify treats it
		}
	}
	joined := channelErrors(errs)
	if retry {
		return &systems.Error{System: "notify", Op: "deliver notice", Retryable: true, RetryAfter: wait, Err: joined}
	}
	return joined
}

// channelErrors are the failures of several channels, on one line for the incident.
type channelErrors []error

func (e channelErrors) Error() string {
	parts := make([]string, len(e))
	for i, err := range e {
		parts[i] = err.Error()
	}
	return strings.Join(parts, "; ")
}

func (e channelErrors) Unwrap() []error { return e }
