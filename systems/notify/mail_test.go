package notify_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/systems"
	"github.com/rollin-efa/rollin/systems/notify"
	"github.com/rollin-efa/rollin/systems/notify/notifytest"
)

const germanSubject = "Erinnerung: Einzelabruf Wohngeld für Münster wartet – bitte prüfen und unterschreiben (Straße, Größe)"

func reminder() notify.Event {
	return notify.Event{
		ID: "rollin/055150000000/99107023037000/call-off/0/reminder", Kind: "reminder",
		RunID: "rollin/055150000000/99107023037000", ARS: "055150000000", ServiceKey: "99107023037000",
		Step: "call-off", Action: "sign-agreement", Recipient: "municipality",
		Subject: germanSubject,
		Body:    "Der Einzelabruf für Wohngeld wartet seit dem 02.03.2026 auf Ihre Unterschrift.\nBitte unterschreiben Sie ihn im Roll-in-Portal; Rückfragen an die Projektleitung.\n.\nEine Zeile mit Punkt davor.",
		SentAt:  time.Date(2026, 3, 9, 9, 30, 0, 0, time.UTC),
	}
}

func newMailer(t *testing.T, cfg notify.MailerConfig) *notify.Mailer {
	t.Helper()
	if cfg.From == "" {
		cfg.From = "Rollin d-NRW <rollin@d-nrw.example>"
	}
	cfg.Timeout = 5 * time.Second
	m, err := notify.NewMailer(cfg)
	require.NoError(t, err)
	return m
}

// TestMailArrivesAsWritten sends a notice through a real SMTP server and reads it back
// as a mail client would: the envelope, the headers (the subject decoded to its umlauts,
// the Message-ID derived from the event), and the quoted-printable body.
func TestMailArrivesAsWritten(t *testing.T) {
	t.Parallel()
	srv := notifytest.Start(t, notifytest.Options{})
	m := newMailer(t, notify.MailerConfig{Addr: srv.Addr})
	e := reminder()
	d, err := m.Send(t.Context(), []string{"wohngeld@muenster.example", "pm@d-nrw.example", "WOHNGELD@muenster.example"}, e)
	require.NoError(t, err)
	require.Equal(t, []string{"wohngeld@muenster.example", "pm@d-nrw.example"}, d.Accepted, "one copy per address")
	require.Empty(t, d.Refused)

	msgs := srv.Messages()
	require.Equal(t, 1, len(msgs))
	require.Equal(t, "rollin@d-nrw.example", msgs[0].From)
	require.Equal(t, []string{"wohngeld@muenster.example", "pm@d-nrw.example"}, msgs[0].To)
	require.False(t, msgs[0].TLS, "the server offers no STARTTLS; opportunistic on localhost sends anyway")
	for _, line := range strings.Split(string(msgs[0].Data), "\r\n") {
		require.LessOrEqual(t, len(line), 78, "line %q", line)
	}

	msg := msgs[0].Parse(t)
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	require.NoError(t, err)
	require.Equal(t, germanSubject, subject)
	from, err := msg.Header.AddressList("From")
	require.NoError(t, err)
	require.Equal(t, []*mail.Address{{Name: "Rollin d-NRW", Address: "rollin@d-nrw.example"}}, from)
	to, err := msg.Header.AddressList("To")
	require.NoError(t, err)
	require.Len(t, to, 2)
	require.Equal(t, m.MessageID(e.ID), msg.Header.Get("Message-ID"))
	require.Equal(t, d.MessageID, msg.Header.Get("Message-ID"))
	require.Regexp(t, `^<rollin\.[0-9a-f]{32}@d-nrw\.example>$`, d.MessageID)
	date, err := msg.Header.Date()
	require.NoError(t, err)
	require.True(t, e.SentAt.Equal(date))
	require.Equal(t, "text/plain; charset=utf-8", msg.Header.Get("Content-Type"))
	require.Equal(t, "quoted-printable", msg.Header.Get("Content-Transfer-Encoding"))
	require.Equal(t, "auto-generated", msg.Header.Get("Auto-Submitted"))
	require.Equal(t, e.ID, msg.Header.Get("X-Rollin-Event-ID"))

	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	require.NoError(t, err)
	text := strings.ReplaceAll(string(body), "\r\n", "\n")
	require.True(t, strings.HasPrefix(text, e.Body+"\n\n-- \n"), "%q", text)
	require.Contains(t, text, "Roll-in: rollin/055150000000/99107023037000\n")
	require.Contains(t, text, "Leistungsschlüssel: 99107023037000\n")

	// Sent again (a retried activity): the same Message-ID, so it is recognisable.
	d2, err := m.Send(t.Context(), []string{"pm@d-nrw.example"}, e)
	require.NoError(t, err)
	require.Equal(t, d.MessageID, d2.MessageID)
	require.Equal(t, d.MessageID, srv.Messages()[1].Parse(t).Header.Get("Message-ID"))
	other := e
	other.ID += "x"
	require.NotEqual(t, d.MessageID, m.MessageID(other.ID))
}

// TestMailOverSTARTTLSWithAuth: with STARTTLS required the mailer encrypts first and
// only then authenticates.
func TestMailOverSTARTTLSWithAuth(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := notifytest.SelfSigned(t)
	srv := notifytest.Start(t, notifytest.Options{TLS: serverTLS, Users: map[string]string{"rollin": "s3cret"}})
	m := newMailer(t, notify.MailerConfig{Addr: srv.Addr, Username: "rollin", Password: "s3cret",
		StartTLS: notify.StartTLSRequired, TLSConfig: clientTLS})
	_, err := m.Send(t.Context(), []string{"pm@d-nrw.example"}, reminder())
	require.NoError(t, err)
	msgs := srv.Messages()
	require.Equal(t, 1, len(msgs))
	require.True(t, msgs[0].TLS)
	require.Equal(t, "rollin", msgs[0].User)
}

// TestOpportunisticTLSToALocalRelay: a local MTA with a self-signed certificate is
// still used encrypted when no password is at stake; with one, the certificate must
// verify.
func TestOpportunisticTLSToALocalRelay(t *testing.T) {
	t.Parallel()
	serverTLS, _ := notifytest.SelfSigned(t)
	srv := notifytest.Start(t, notifytest.Options{TLS: serverTLS})
	_, err := newMailer(t, notify.MailerConfig{Addr: srv.Addr}).Send(t.Context(), []string{"pm@d-nrw.example"}, reminder())
	require.NoError(t, err)
	require.True(t, srv.Messages()[0].TLS)

	_, err = newMailer(t, notify.MailerConfig{Addr: srv.Addr, Username: "rollin", Password: "s3cret"}).Send(t.Context(), []string{"pm@d-nrw.example"}, reminder())
	require.ErrorContains(t, err, "certificate")
	require.False(t, systems.IsRetryable(err))
}

// TestMailFailuresAreClassified: what heals by itself (a relay that is down, 4xx
// replies) is retryable; what does not (5xx, no STARTTLS where it is required, a wrong
// password, an untrusted certificate, a line break in a header value) is permanent.
func TestMailFailuresAreClassified(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := notifytest.SelfSigned(t)
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		require.NoError(t, l.Close())
		return addr
	}
	type setup struct {
		opts  notifytest.Options
		cfg   notify.MailerConfig
		to    []string
		event func(*notify.Event)
		fail  []int
	}
	tests := map[string]struct {
		setup
		retryable bool
		want      string
	}{
		"relay down":              {setup{cfg: notify.MailerConfig{Addr: closed()}}, true, "connect"},
		"transient DATA failure":  {setup{fail: []int{451}}, true, "451"},
		"permanent DATA failure":  {setup{fail: []int{554}}, false, "554"},
		"transient RCPT failure":  {setup{opts: notifytest.Options{Refuse: map[string]int{"pm@d-nrw.example": 450}}}, true, "450"},
		"every recipient refused": {setup{opts: notifytest.Options{Refuse: map[string]int{"pm@d-nrw.example": 550}}}, false, "refused every recipient"},
		"no STARTTLS offered":     {setup{cfg: notify.MailerConfig{StartTLS: notify.StartTLSRequired}}, false, "offers no STARTTLS"},
		"password in the clear":   {setup{cfg: notify.MailerConfig{Username: "rollin", Password: "s3cret"}}, false, "not sent in the clear"},
		"wrong password": {setup{opts: notifytest.Options{TLS: serverTLS, Users: map[string]string{"rollin": "right"}},
			cfg: notify.MailerConfig{Username: "rollin", Password: "wrong", TLSConfig: clientTLS}}, false, "535"},
		"untrusted certificate": {setup{opts: notifytest.Options{TLS: serverTLS},
			cfg: notify.MailerConfig{StartTLS: notify.StartTLSRequired, TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12}}}, false, "certificate"},
		"subject with a line break":   {setup{event: func(e *notify.Event) { e.Subject = "Erinnerung\r\nBcc: alle@example.org" }}, false, "control character"},
		"recipient with a line break": {setup{to: []string{"pm@d-nrw.example\r\nRCPT TO:<x@example.org>"}}, false, "control character"},
		"no recipient":                {setup{to: []string{}}, false, "no recipient"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := notifytest.Start(t, tc.opts)
			srv.FailData(tc.fail...)
			cfg := tc.cfg
			if cfg.Addr == "" {
				cfg.Addr = srv.Addr
			}
			to := tc.to
			if to == nil {
				to = []string{"pm@d-nrw.example"}
			}
			e := reminder()
			if tc.event != nil {
				tc.event(&e)
			}
			_, err := newMailer(t, cfg).Send(t.Context(), to, e)
			var se *systems.Error
			require.ErrorAs(t, err, &se)
			require.Equal(t, notify.SystemSMTP, se.System)
			require.Equal(t, tc.retryable, se.Retryable, "%v", err)
			require.Equal(t, tc.retryable, systems.IsRetryable(err))
			require.Contains(t, err.Error(), tc.want)
			require.Zero(t, len(srv.Messages()), "nothing was delivered")
		})
	}
}

// TestMailGoesWithoutRefusedRecipients: one unknown mailbox on a list does not keep the
// others uninformed.
func TestMailGoesWithoutRefusedRecipients(t *testing.T) {
	t.Parallel()
	srv := notifytest.Start(t, notifytest.Options{Refuse: map[string]int{"gone@d-nrw.example": 550}})
	d, err := newMailer(t, notify.MailerConfig{Addr: srv.Addr}).Send(t.Context(), []string{"gone@d-nrw.example", "pm@d-nrw.example"}, reminder())
	require.NoError(t, err)
	require.Equal(t, []string{"pm@d-nrw.example"}, d.Accepted)
	require.Equal(t, []string{"gone@d-nrw.example"}, d.Refused)
	require.Equal(t, 1, len(srv.Messages()))
	require.Equal(t, []string{"pm@d-nrw.example"}, srv.Messages()[0].To)
}

// TestMailStopsWithItsContext: a cancelled activity does not wait for the relay, and
// its error is not retryable (the caller gave up).
func TestMailStopsWithItsContext(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	go func() { // accepts and never greets
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err = newMailer(t, notify.MailerConfig{Addr: l.Addr().String()}).Send(ctx, []string{"pm@d-nrw.example"}, reminder())
	require.Error(t, err)
	require.Less(t, time.Since(start), 3*time.Second)
	require.True(t, errors.Is(err, context.Canceled), "%v", err)
	require.False(t, systems.IsRetryable(err))
}

func TestParseStartTLS(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode, addr string
		want       notify.StartTLS
		err        bool
	}{
		{"", "localhost:25", notify.StartTLSOpportunistic, false},
		{"", "127.0.0.1:1025", notify.StartTLSOpportunistic, false},
		{"", "[::1]:25", notify.StartTLSOpportunistic, false},
		{"", "mail.example.org:587", notify.StartTLSRequired, false},
		{"", "10.0.0.5:25", notify.StartTLSRequired, false},
		{"off", "mail.example.org:587", notify.StartTLSOff, false},
		{"Required", "localhost:25", notify.StartTLSRequired, false},
		{"sometimes", "localhost:25", "", true},
		{"", "localhost", "", true},
	}
	for _, tc := range tests {
		got, err := notify.ParseStartTLS(tc.mode, tc.addr)
		if tc.err {
			require.Error(t, err, "%q %q", tc.mode, tc.addr)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tc.want, got, "%q %q", tc.mode, tc.addr)
	}
}

func TestNewMailerRefusesBadConfig(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]notify.MailerConfig{
		"no port":            {Addr: "mail.example.org", From: "rollin@example.org"},
		"port not a number":  {Addr: "mail.example.org:smtp", From: "rollin@example.org"},
		"from not an e-mail": {Addr: "mail.example.org:587", From: "rollin"},
		"from with newline":  {Addr: "mail.example.org:587", From: "rollin@example.org\r\nBcc: x@example.org"},
		"password alone":     {Addr: "mail.example.org:587", From: "rollin@example.org", Password: "p"},
		"auth without TLS":   {Addr: "mail.example.org:587", From: "rollin@example.org", Username: "u", Password: "p", StartTLS: notify.StartTLSOff},
		"unknown mode":       {Addr: "mail.example.org:587", From: "rollin@example.org", StartTLS: "maybe"},
	} {
		_, err := notify.NewMailer(cfg)
		require.Error(t, err, name)
	}
}
