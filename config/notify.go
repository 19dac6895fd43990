package config

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Notify configures the notices Rollin sends besides the one to the municipality's
// system — when a run starts waiting on someone, and at each reminder and escalation — by
// e-mail and as a signed webhook. Both are off until configured: an empty smtp.addr sends
// no e-mail, an empty webhook.url no webhook.
type Notify struct {
	SMTP    NotifySMTP    `mapstructure:"smtp"`
	Webhook NotifyWebhook `mapstructure:"webhook"`
	Email   NotifyEmail   `mapstructure:"email"`
}

// NotifySMTP is the relay e-mail notices go through. Rollin hands each message to it and
// leaves delivery (queueing, bounces) to it, as applications usually do.
type NotifySMTP struct {
	// Addr is the relay's host:port, e.g. mail.example.org:587; empty: no e-mail.
	Addr string `mapstructure:"addr"`
	// From is the sender, a bare address or "Name <address>"; its domain also names the
	// messages' Message-IDs.
	From string `mapstructure:"from"`
	// Username and Password authenticate with AUTH PLAIN, which is only ever sent over
	// TLS. The password is a secret: keep it in ROLLIN_NOTIFY_SMTP_PASSWORD.
	Username string `mapstructure:"username"`
	Password string `mapstructure:"password" yaml:"password,omitempty"`
	// StartTLS is required (encrypt with a verified certificate, or do not send),
	// opportunistic (encrypt when offered, else send in the clear; without credentials an
	// unverified certificate is accepted) or off. Empty is opportunistic for a relay on
	// localhost or a loopback address (a local MTA, often with a self-signed certificate;
	// the connection does not leave the machine) and required for any other host.
	StartTLS string `mapstructure:"starttls"`
	// Timeout bounds one message's delivery to the relay.
	Timeout time.Duration `mapstructure:"timeout"`
}

// NotifyWebhook is where every notice is also posted as JSON, signed with an HMAC, for
// systems that track roll-ins (a ticket system, a chat bridge).
type NotifyWebhook struct {
	// URL is http(s), without user info; empty: no webhook.
	URL string `mapstructure:"url"`
	// Secret keys the HMAC-SHA256 signature (at least 32 bytes); the receiver checks it
	// with notify.Verify. A secret: keep it in ROLLIN_NOTIFY_WEBHOOK_SECRET.
	Secret string `mapstructure:"secret" yaml:"secret,omitempty"`
}

// NotifyEmail says who gets a notice by e-mail, by the role it is for: project managers
// (countersignatures, escalations), operators (connection tasks), and municipalities.
type NotifyEmail struct {
	PM       []string `mapstructure:"pm"`
	Operator []string `mapstructure:"operator"`
	// Municipalities are fallback addresses for notices to a municipality whose run has
	// no contact e-mail yet (the questionnaire's contact_email, which takes precedence):
	// before the questionnaire, the signatures are what a run waits for, so a Land's or
	// Kreis's roll-in desk is named here. The longest matching ARS prefix wins; without
	// one the municipality gets no e-mail.
	Municipalities []MunicipalityEmail `mapstructure:"municipalities"`
	// Organisations give the project managers and operators of one Kommunalvertreter
	// organisation (several share an installation) their own addresses: the notices of
	// that organisation's runs go there instead of to PM and Operator, which then serve
	// the installation's own runs and organisations without an entry.
	Organisations []OrganisationEmail `mapstructure:"organisations"`
}

// OrganisationEmail is who gets an organisation's notices for project managers and
// operators.
type OrganisationEmail struct {
	Organisation string   `mapstructure:"organisation"`
	PM           []string `mapstructure:"pm"`
	Operator     []string `mapstructure:"operator"`
}

// MunicipalityEmail is the address for the municipalities under an ARS prefix: "05" a
// Land, "05370" a Kreis, twelve digits one municipality.
type MunicipalityEmail struct {
	ARSPrefix string `mapstructure:"ars_prefix"`
	Address   string `mapstructure:"address"`
}

var notifyARSPrefix = regexp.MustCompile(`^[0-9]{2,12}$`)

func (n Notify) validate() error {
	s := n.SMTP
	if s.Addr != "" {
		host, port, err := net.SplitHostPort(s.Addr)
		if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			return &KeyError{"notify.smtp.addr", fmt.Sprintf("%q is not host:port (e.g. mail.example.org:587)", s.Addr)}
		}
		if err := checkBareAddress(s.From, true); err != nil {
			return &KeyError{"notify.smtp.from", err.Error()}
		}
	}
	switch {
	case s.Password != "" && s.Username == "":
		return &KeyError{"notify.smtp.username", "a password needs its username"}
	case s.Timeout <= 0:
		return &KeyError{"notify.smtp.timeout", "must be positive"}
	}
	w := n.Webhook
	if w.URL != "" {
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return &KeyError{"notify.webhook.url", fmt.Sprintf("%q is not an http(s) URL without user info", w.URL)}
		}
		if w.Secret == "" {
			return &KeyError{"notify.webhook.secret", "required with notify.webhook.url: it signs the webhook's deliveries"}
		}
	}
	for key, list := range map[string][]string{"notify.email.pm": n.Email.PM, "notify.email.operator": n.Email.Operator} {
		for i, a := range list {
			if err := checkBareAddress(a, false); err != nil {
				return &KeyError{fmt.Sprintf("%s[%d]", key, i), err.Error()}
			}
		}
	}
	orgs := map[string]bool{}
	for i, o := range n.Email.Organisations {
		key := fmt.Sprintf("notify.email.organisations[%d]", i)
		if o.Organisation == "" || orgs[o.Organisation] {
			return &KeyError{key + ".organisation", fmt.Sprintf("%q: want an organisation of the tokens (e.g. d-nrw), once", o.Organisation)}
		}
		orgs[o.Organisation] = true
		for role, list := range map[string][]string{"pm": o.PM, "operator": o.Operator} {
			for j, a := range list {
				if err := checkBareAddress(a, false); err != nil {
					return &KeyError{fmt.Sprintf("%s.%s[%d]", key, role, j), err.Error()}
				}
			}
		}
	}
	seen := map[string]bool{}
	for i, m := range n.Email.Municipalities {
		key := fmt.Sprintf("notify.email.municipalities[%d]", i)
		switch {
		// One digit is no Land; an unquoted 05 in YAML arrives as "5".
		case !notifyARSPrefix.MatchString(m.ARSPrefix) || m.ARSPrefix[:2] < "01" || m.ARSPrefix[:2] > "16":
			return &KeyError{key + ".ars_prefix", fmt.Sprintf("%q: want 2 to 12 digits starting with a Land key 01–16 (quote it in YAML, or the leading zero is lost)", m.ARSPrefix)}
		case seen[m.ARSPrefix]:
			return &KeyError{key + ".ars_prefix", fmt.Sprintf("%q appears earlier already", m.ARSPrefix)}
		}
		if err := checkBareAddress(m.Address, false); err != nil {
			return &KeyError{key + ".address", err.Error()}
		}
		seen[m.ARSPrefix] = true
	}
	return nil
}

// checkBareAddress accepts an e-mail address; with named, also "Name <address>". Line
// breaks are refused outright: the value goes into mail headers.
func checkBareAddress(s string, named bool) error {
	if strings.ContainsAny(s, "\r\n") {
		return fmt.Errorf("%q contains a line break", s)
	}
	a, err := mail.ParseAddress(s)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not an e-mail address", s)
	case !named && a.Address != strings.TrimSpace(s):
		return fmt.Errorf("%q: want a bare address like pm@example.org", s)
	}
	return nil
}
