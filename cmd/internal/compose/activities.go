package compose

import (
	"fmt"
	"net/http"
	"net/url"
	"os"

	"go.uber.org/zap"

	"github.com/rollin-efa/rollin/activities"
	"github.com/rollin-efa/rollin/config"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/observability"
	"github.com/rollin-efa/rollin/store"
	"github.com/rollin-efa/rollin/systems/fitconnect"
	"github.com/rollin-efa/rollin/systems/municipality"
	"github.com/rollin-efa/rollin/systems/notify"
	"github.com/rollin-efa/rollin/systems/provider"
	"github.com/rollin-efa/rollin/systems/state"
)

// Activities wires the activities to the store, to the three systems at systems.*_url, to
// FIT-Connect through fitconnect.* and to the notifiers of notify.*: the one place where
// the systems' clients are built, for every process that runs a worker (rollin worker,
// rollin-dev, the benchmark). A bad URL, a missing certificate file or a short key is a
// *config.KeyError naming its key. With metrics, each system's client gets its own
// metered transport, so the external-call metrics tell the systems apart; metrics and log
// may be nil.
func Activities(cfg config.Config, st *store.Store, metrics *observability.Metrics, log *zap.Logger) (*activities.Activities, error) {
	a := &activities.Activities{Store: st, TestPoll: cfg.Process.TestPoll, Identity: cfg.Temporal.Identity(), Metrics: metrics, Log: log}
	hc := func(system string) *http.Client {
		return &http.Client{Timeout: cfg.Systems.Timeout, Transport: metrics.Transport(system, nil)}
	}
	var err error
	if a.Provider, err = provider.New(cfg.Systems.ProviderURL, hc(observability.SystemProvider)); err != nil {
		return nil, &config.KeyError{Key: "systems.provider_url", Msg: err.Error()}
	}
	if a.State, err = state.New(cfg.Systems.StateURL, hc(observability.SystemState)); err != nil {
		return nil, &config.KeyError{Key: "systems.state_url", Msg: err.Error()}
	}
	if a.Municipality, err = municipality.New(cfg.Systems.MunicipalityURL, hc(observability.SystemMunicipality)); err != nil {
		return nil, &config.KeyError{Key: "systems.municipality_url", Msg: err.Error()}
	}
	if a.FitConnect, err = fitConnect(cfg.FitConnect, hc(observability.SystemFitConnect)); err != nil {
		return nil, err
	}
	if a.Notifiers, err = Notifiers(cfg.Notify, hc(notify.SystemWebhook)); err != nil {
		return nil, err
	}
	return a, nil
}

// fitConnect builds a token source and client per configured subscriber and reads its
// encryption certificate, so that a missing file or a short key stops the worker at
// start-up with the key named. Without subscribers and sender it returns nil: the
// installation does not connect municipalities by FIT-Connect, and the steps say so.
func fitConnect(cfg config.FitConnect, hc *http.Client) (*activities.FitConnect, error) {
	if len(cfg.Subscribers) == 0 && cfg.Sender.ClientID == "" {
		return nil, nil
	}
	if cfg.SubmissionURL == "" {
		return nil, &config.KeyError{Key: "fitconnect.submission_url", Msg: "required with fitconnect.subscribers or fitconnect.sender (and token_url with it)"}
	}
	fc := &activities.FitConnect{MetadataVersions: cfg.MetadataVersions}
	if cfg.Sender.ClientID != "" {
		var err error
		if fc.Sender, err = fitConnectClient(cfg, "fitconnect.sender", cfg.Sender.ClientID, cfg.Sender.ClientSecret, hc); err != nil {
			return nil, err
		}
	}
	for i, s := range cfg.Subscribers {
		key := fmt.Sprintf("fitconnect.subscribers[%d]", i)
		pemData, err := os.ReadFile(s.EncryptionCertFile)
		if err != nil {
			return nil, &config.KeyError{Key: key + ".encryption_cert_file", Msg: err.Error()}
		}
		jwk, err := fitconnect.ParseEncryptionKey(pemData)
		if err != nil {
			return nil, &config.KeyError{Key: key + ".encryption_cert_file", Msg: err.Error()}
		}
		cl, err := fitConnectClient(cfg, key, s.ClientID, s.ClientSecret, hc)
		if err != nil {
			return nil, err
		}
		fc.Subscribers = append(fc.Subscribers, fitconnect.Subscriber{
			Area: s.ARS, Client: cl, EncryptionKey: jwk, CallbackURL: s.CallbackURL, CallbackSecret: fitconnect.Secret(s.CallbackSecret),
		})
	}
	return fc, nil
}

// fitConnectClient is a Submission API client for one API client (its own token source); key
// names the client's configuration in errors.
func fitConnectClient(cfg config.FitConnect, key, id, secret string, hc *http.Client) (*fitconnect.Client, error) {
	ts, err := fitconnect.NewTokenSource(fitconnect.Credentials{
		TokenURL: cfg.TokenURL, ClientID: id, ClientSecret: fitconnect.Secret(secret), HTTPClient: hc,
	})
	if err != nil {
		return nil, &config.KeyError{Key: key, Msg: err.Error()}
	}
	cl, err := fitconnect.New(cfg.SubmissionURL, ts, hc)
	if err != nil {
		return nil, &config.KeyError{Key: "fitconnect.submission_url", Msg: err.Error()}
	}
	return cl, nil
}

// Notifiers builds the senders of notify.*; nil when neither e-mail nor webhook is
// configured. hc carries the webhook's timeout and metrics.
func Notifiers(cfg config.Notify, hc *http.Client) (*activities.Notifiers, error) {
	if cfg.SMTP.Addr == "" && cfg.Webhook.URL == "" {
		return nil, nil
	}
	n := &activities.Notifiers{PM: cfg.Email.PM, Operator: cfg.Email.Operator,
		Organisations: map[domain.Organisation]activities.RoleAddresses{}}
	for _, o := range cfg.Email.Organisations {
		n.Organisations[domain.Organisation(o.Organisation)] = activities.RoleAddresses{Organisation: o.Organisation, PM: o.PM, Operator: o.Operator}
	}
	for _, m := range cfg.Email.Municipalities {
		n.Municipalities = append(n.Municipalities, activities.MunicipalityAddress{ARSPrefix: m.ARSPrefix, Address: m.Address})
	}
	var err error
	if s := cfg.SMTP; s.Addr != "" {
		n.Mailer, err = notify.NewMailer(notify.MailerConfig{Addr: s.Addr, From: s.From, Username: s.Username, Password: s.Password,
			StartTLS: notify.StartTLS(s.StartTLS), Timeout: s.Timeout})
		if err != nil {
			return nil, &config.KeyError{Key: "notify.smtp", Msg: err.Error()}
		}
	}
	if w := cfg.Webhook; w.URL != "" {
		if n.Webhook, err = notify.NewWebhook(w.URL, []byte(w.Secret), hc); err != nil {
			return nil, &config.KeyError{Key: "notify.webhook.url", Msg: err.Error()}
		}
		if u, err := url.Parse(w.URL); err == nil {
			n.WebhookHost = u.Host
		}
	}
	return n, nil
}
