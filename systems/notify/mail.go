package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rollin-efa/rollin/systems"
)

// StartTLS says whether the mailer upgrades its connection to the relay with STARTTLS.
type StartTLS string

// The STARTTLS modes. Required refuses to send over a connection that is not encrypted
// or whose certificate does not verify (the safe choice for a relay across a network).
// Opportunistic encrypts when the relay offers it and otherwise sends in the clear, for
// a local MTA, which often has a self-signed certificate or none: without credentials it
// accepts an unverified certificate, since that is no worse than the clear text it would
// accept anyway; with credentials the certificate must verify. Off never encrypts (for
// test relays and MTAs on the same host only).
const (
	StartTLSRequired      StartTLS = "required"
	StartTLSOpportunistic StartTLS = "opportunistic"
	StartTLSOff           StartTLS = "off"
)

// DefaultMailTimeout bounds one delivery (connect, dialogue, data) when the configuration
// sets none. It is well inside the notify activity's 30 s, so a hung relay fails the
// attempt retryably instead of timing out the whole activity.
const DefaultMailTimeout = 10 * time.Second

// ParseStartTLS reads the configured mode for the relay at addr. An empty mode is the
// default: opportunistic for a relay on the loopback interface (localhost, 127.0.0.0/8,
// ::1 — a local MTA that relays onwards itself, where the connection never leaves the
// machine), required for any other host, so that a relay across the network is never
// used in the clear by accident.
func ParseStartTLS(mode, addr string) (StartTLS, error) {
	switch m := StartTLS(strings.ToLower(strings.TrimSpace(mode))); m {
	case StartTLSRequired, StartTLSOpportunistic, StartTLSOff:
		return m, nil
	case "":
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return "", fmt.Errorf("smtp address %q: %w", addr, err)
		}
		if isLoopback(host) {
			return StartTLSOpportunistic, nil
		}
		return StartTLSRequired, nil
	default:
		return "", fmt.Errorf("starttls %q: want required, opportunistic or off", mode)
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// MailerConfig is what a Mailer needs to reach its relay.
type MailerConfig struct {
	// Addr is the relay's host:port, e.g. mail.example.org:587.
	Addr string
	// From is the sender, a bare address or "Name <address>"; its domain also names the
	// Message-IDs.
	From string
	// Username and Password, if set, authenticate with AUTH PLAIN — only ever over an
	// encrypted connection, so that the password never crosses the network in the clear.
	Username string
	Password string
	// StartTLS is the mode; empty means ParseStartTLS's default for Addr.
	StartTLS StartTLS
	// Timeout bounds one delivery; zero means DefaultMailTimeout.
	Timeout time.Duration
	// TLSConfig verifies the relay's certificate; nil means the system roots with the
	// host of Addr as server name. Tests give their own roots here.
	TLSConfig *tls.Config
	// HelloName is the name sent with EHLO; empty means this machine's host name (or
	// localhost if it has none usable), since some relays refuse an EHLO without one.
	HelloName string
}

// Mailer sends notices by e-mail through one SMTP relay, one connection per message. It
// is safe for concurrent use.
type Mailer struct {
	addr, host         string
	from               *mail.Address
	domain             string
	username, password string
	mode               StartTLS
	timeout            time.Duration
	tlsConfig          *tls.Config
	hello              string
}

// NewMailer checks cfg and returns a mailer for it. Every check that can be made without
// the relay is made here, so that a bad configuration stops the worker at start-up and
// not at the first notice.
func NewMailer(cfg MailerConfig) (*Mailer, error) {
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil || host == "" {
		return nil, fmt.Errorf("smtp address %q: want host:port", cfg.Addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("smtp address %q: %q is not a port", cfg.Addr, port)
	}
	if err := checkHeaderValue("from", cfg.From); err != nil {
		return nil, err
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("from %q: %w", cfg.From, err)
	}
	mode := cfg.StartTLS
	if mode, err = ParseStartTLS(string(mode), cfg.Addr); err != nil {
		return nil, err
	}
	switch {
	case cfg.Password != "" && cfg.Username == "":
		return nil, errors.New("a password needs its username")
	case cfg.Username != "" && mode == StartTLSOff:
		return nil, errors.New("username and password are only sent over TLS, and starttls is off")
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultMailTimeout
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLSConfig != nil {
		tc = cfg.TLSConfig.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = host
	}
	hello := cfg.HelloName
	if hello == "" {
		hello = localName()
	}
	return &Mailer{
		addr: cfg.Addr, host: host, from: from, domain: from.Address[strings.LastIndexByte(from.Address, '@')+1:],
		username: cfg.Username, password: cfg.Password, mode: mode, timeout: timeout, tlsConfig: tc, hello: hello,
	}, nil
}

var hostName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$`)

// localName is this machine's host name if it is one that EHLO may carry.
func localName() string {
	if h, err := os.Hostname(); err == nil && len(h) <= 253 && hostName.MatchString(h) {
		return h
	}
	return "localhost"
}

// MessageID is the Message-ID of the mail for the event eventID: derived from the
// event's idempotency key alone, so a resend after a failed attempt carries the same ID
// and a receiving mail system or person can recognise it as the same message.
func (m *Mailer) MessageID(eventID string) string {
	sum := sha256.Sum256([]byte(eventID))
	return "<rollin." + hex.EncodeToString(sum[:16]) + "@" + m.domain + ">"
}

// Delivery is what the relay made of a message.
type Delivery struct {
	MessageID string
	// Accepted are the recipients the relay took the message for; Refused those it
	// refused permanently (5xx on RCPT TO, e.g. an unknown mailbox), which the message
	// went without — one bad address in a list must not keep the others uninformed.
	Accepted, Refused []string
}

// Send delivers e to the recipients to as one message. It fails with a *systems.Error:
// retryable for transient conditions (connection problems, timeouts, 4xx replies) — then
// nothing was delivered and the same call may be repeated — permanent for what will not
// heal by itself (5xx replies, a relay without the required STARTTLS, a bad certificate,
// an address or subject with a line break, no recipient accepted).
func (m *Mailer) Send(ctx context.Context, to []string, e Event) (Delivery, error) {
	d := Delivery{MessageID: m.MessageID(e.ID)}
	rcpts, err := parseRecipients(to)
	if err != nil {
		return d, m.permanent(err)
	}
	msg, err := m.compose(rcpts, e, d.MessageID)
	if err != nil {
		return d, m.permanent(err)
	}
	err = m.session(ctx, func(c *smtp.Client) error {
		if err := c.Mail(m.from.Address); err != nil {
			return m.replyError(ctx, "MAIL FROM", err)
		}
		for _, r := range rcpts {
			err := c.Rcpt(r.Address)
			var tp *textproto.Error
			switch {
			case err == nil:
				d.Accepted = append(d.Accepted, r.Address)
			case errors.As(err, &tp) && tp.Code >= 500:
				d.Refused = append(d.Refused, r.Address)
			default:
				return m.replyError(ctx, "RCPT TO "+r.Address, err)
			}
		}
		if len(d.Accepted) == 0 {
			return m.permanent(fmt.Errorf("the relay refused every recipient (%s)", strings.Join(d.Refused, ", ")))
		}
		w, err := c.Data()
		if err != nil {
			return m.replyError(ctx, "DATA", err)
		}
		if _, err := w.Write(msg); err != nil {
			return m.replyError(ctx, "message", err)
		}
		if err := w.Close(); err != nil { // the relay's verdict on the message
			return m.replyError(ctx, "end of data", err)
		}
		return nil
	})
	if err != nil {
		d.Accepted = nil
		return d, err
	}
	return d, nil
}

// session opens a connection, greets, encrypts and authenticates as configured, runs
// fn, and says goodbye. The whole dialogue is bounded by the timeout and by ctx.
func (m *Mailer) session(ctx context.Context, fn func(*smtp.Client) error) error {
	dialer := net.Dialer{Timeout: m.timeout}
	conn, err := dialer.DialContext(ctx, "tcp", m.addr)
	if err != nil {
		return m.replyError(ctx, "connect to "+m.addr, err)
	}
	defer conn.Close()
	deadline := time.Now().Add(m.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return m.replyError(ctx, "set deadline", err)
	}
	// A cancelled activity must not wait for the relay: an expired deadline wakes every
	// blocked read and write at once.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, m.host)
	if err != nil {
		return m.replyError(ctx, "greeting", err)
	}
	defer c.Close()
	if err := c.Hello(m.hello); err != nil {
		return m.replyError(ctx, "EHLO", err)
	}
	encrypted := false
	if offered, _ := c.Extension("STARTTLS"); offered && m.mode != StartTLSOff {
		tc := m.tlsConfig
		if m.mode == StartTLSOpportunistic && m.username == "" {
			tc = tc.Clone()
			// #nosec G402 -- opportunistic mode without credentials would send in the clear if the relay offered no TLS; an unverified certificate still hides the message from passive listeners, and nothing secret is sent.
			tc.InsecureSkipVerify = true
		}
		if err := c.StartTLS(tc); err != nil {
			return m.replyError(ctx, "STARTTLS", err)
		}
		encrypted = true
	} else if m.mode == StartTLSRequired {
		return m.permanent(fmt.Errorf("%s offers no STARTTLS and notify.smtp.starttls is required", m.addr))
	}
	if m.username != "" {
		if !encrypted {
			return m.permanent(fmt.Errorf("%s offers no STARTTLS: the password is not sent in the clear", m.addr))
		}
		if ok, _ := c.Extension("AUTH"); !ok {
			return m.permanent(fmt.Errorf("%s offers no AUTH, but a username is configured", m.addr))
		}
		if err := c.Auth(smtp.PlainAuth("", m.username, m.password, m.host)); err != nil {
			return m.replyError(ctx, "AUTH PLAIN", err)
		}
	}
	if err := fn(c); err != nil {
		return err
	}
	// The message is delivered once the relay accepted its data; a failed goodbye must
	// not make the caller send it again.
	_ = c.Quit()
	return nil
}

func (m *Mailer) permanent(err error) *systems.Error {
	var se *systems.Error
	if errors.As(err, &se) {
		return se
	}
	return &systems.Error{System: SystemSMTP, Op: "send mail", Err: err}
}

// replyError classifies a failed step of the dialogue: the caller's context first (when
// it is done, the caller gave up, whatever the connection reported), then the relay's
// reply code (4xx transient, 5xx permanent), certificate errors (configuration, does not
// heal), and everything else — refused or reset connections, our own timeout — as
// transient.
func (m *Mailer) replyError(ctx context.Context, stage string, err error) *systems.Error {
	var se *systems.Error
	if errors.As(err, &se) {
		return se
	}
	e := &systems.Error{System: SystemSMTP, Op: "send mail", Err: fmt.Errorf("%s: %w", stage, err)}
	var (
		tp   *textproto.Error
		cert *tls.CertificateVerificationError
	)
	switch {
	case ctx.Err() != nil:
		if !errors.Is(err, ctx.Err()) {
			e.Err = fmt.Errorf("%s: %w (%w)", stage, ctx.Err(), err)
		}
	case errors.As(err, &tp):
		e.Retryable = tp.Code >= 400 && tp.Code < 500
	case errors.As(err, &cert):
	default:
		e.Retryable = true
	}
	return e
}

// parseRecipients parses and de-duplicates the recipients (the municipality's contact
// may also be on a list).
func parseRecipients(to []string) ([]*mail.Address, error) {
	var out []*mail.Address
	seen := map[string]bool{}
	for _, s := range to {
		if err := checkHeaderValue("recipient", s); err != nil {
			return nil, err
		}
		a, err := mail.ParseAddress(s)
		if err != nil {
			return nil, fmt.Errorf("recipient %q: %w", s, err)
		}
		if key := strings.ToLower(a.Address); !seen[key] {
			seen[key] = true
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no recipient")
	}
	return out, nil
}

// compose writes the message (RFC 5322, MIME): UTF-8 text, the subject as RFC 2047
// encoded words, the body quoted-printable, so that umlauts pass any relay, including
// those without 8BITMIME. It is marked Auto-Submitted, so that vacation responders do
// not answer it.
func (m *Mailer) compose(to []*mail.Address, e Event, messageID string) ([]byte, error) {
	for what, v := range map[string]string{"subject": e.Subject, "event id": e.ID, "run id": e.RunID} {
		if err := checkHeaderValue(what, v); err != nil {
			return nil, err
		}
	}
	for what, v := range map[string]string{"event id": e.ID, "run id": e.RunID} {
		if !isPrintableASCII(v) {
			return nil, fmt.Errorf("%s %q: want printable ASCII", what, v)
		}
	}
	if !utf8.ValidString(e.Subject) || !utf8.ValidString(e.Body) {
		return nil, errors.New("subject or body is not UTF-8")
	}
	if e.ID == "" {
		return nil, errors.New("event id is empty: the message could not be recognised when sent again")
	}
	sent := e.SentAt
	if sent.IsZero() {
		sent = time.Now()
	}
	addrs := make([]string, len(to))
	for i, a := range to {
		addrs[i] = a.String()
	}
	var b bytes.Buffer
	header := func(name, value string) { b.WriteString(fold(name+": "+value) + "\r\n") }
	header("Date", sent.Format(time.RFC1123Z))
	header("From", m.from.String())
	header("To", strings.Join(addrs, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", e.Subject))
	header("Message-ID", messageID)
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	header("Auto-Submitted", "auto-generated")
	header("X-Rollin-Event-ID", e.ID)
	if e.RunID != "" {
		header("X-Rollin-Run", e.RunID)
	}
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(mailBody(e))); err != nil {
		return nil, fmt.Errorf("encode body: %w", err)
	}
	if err := qp.Close(); err != nil {
		return nil, fmt.Errorf("encode body: %w", err)
	}
	b.WriteString("\r\n")
	return b.Bytes(), nil
}

// mailBody is the notice's text and, below it, what identifies the run, so that a
// recipient can find it in Rollin without the webhook's fields.
func mailBody(e Event) string {
	var b strings.Builder
	b.WriteString(strings.ReplaceAll(strings.TrimRight(e.Body, "\r\n"), "\r\n", "\n"))
	b.WriteString("\n\n-- \n")
	for _, f := range [][2]string{{"Roll-in", e.RunID}, {"Schritt", e.Step}, {"Aktion", e.Action},
		{"Leistungsschlüssel", e.ServiceKey}, {"ARS", e.ARS}} {
		if f[1] != "" {
			fmt.Fprintf(&b, "%s: %s\n", f[0], f[1])
		}
	}
	b.WriteString("Diese Nachricht hat Rollin automatisch versandt.\n")
	return b.String()
}

// fold breaks a header line at spaces so that its lines stay near 78 characters
// (RFC 5322 2.2.3); the space that starts each continuation line belongs to the value.
func fold(line string) string {
	const width = 76
	if len(line) <= width {
		return line
	}
	words := strings.Split(line, " ")
	var b strings.Builder
	n, text := 0, false // the current line's length, and whether it has more than blanks
	for i, w := range words {
		if i > 0 {
			// A line of blanks only is not allowed, so a break needs text before it.
			if n+1+len(w) > width && text {
				b.WriteString("\r\n")
				n, text = 0, false
			}
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
		text = text || w != ""
	}
	return b.String()
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
