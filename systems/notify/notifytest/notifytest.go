// Package notifytest runs a real SMTP server in the test process (emersion/go-smtp on
// 127.0.0.1, a free port), so that tests of e-mail notices exercise the whole SMTP
// dialogue — EHLO, STARTTLS, AUTH, refused recipients, the relay's verdict on DATA —
// instead of a fake that accepts whatever the client does. It records what it received.
package notifytest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one message the server accepted.
type Message struct {
	// From and To are the envelope: MAIL FROM and the accepted RCPT TO addresses.
	From string
	To   []string
	// Data is the message as received (headers and body, CRLF line ends).
	Data []byte
	// TLS says whether the connection was encrypted (STARTTLS) when the message came.
	TLS bool
	// User is the authenticated user, empty without AUTH.
	User string
}

// Parse reads the message's headers and body; failing the test if it is not RFC 5322.
func (m Message) Parse(t testing.TB) *mail.Message {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatalf("notifytest: received message does not parse: %v\n%s", err, m.Data)
	}
	return msg
}

// Options shape the server.
type Options struct {
	// TLS, if set, makes the server offer STARTTLS with this configuration (see
	// SelfSigned).
	TLS *tls.Config
	// Users, if set, are the accounts of AUTH PLAIN, which is then offered (over TLS
	// only) and required before MAIL FROM.
	Users map[string]string
	// Refuse answers RCPT TO for these addresses with the given reply code, e.g. 550
	// (permanent) or 450 (transient).
	Refuse map[string]int
}

// Server is a running SMTP server; its methods are safe for concurrent use.
type Server struct {
	// Addr is where it listens, 127.0.0.1:<port>.
	Addr string

	opts     Options
	mu       sync.Mutex
	messages []Message
	failData []int
}

// Start runs a server until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{opts: opts}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, c: c}, nil
	}))
	srv.Domain = "localhost"
	srv.TLSConfig = opts.TLS
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.MaxMessageBytes = 1 << 20
	srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("notifytest: listen: %v", err)
	}
	s.Addr = l.Addr().String()
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		// Serve registers l with srv only once its goroutine runs: a test that ends
		// before that would leave it accepting for ever, had Close not closed l itself.
		_ = l.Close()
		<-served
	})
	return s
}

// Messages returns the messages accepted so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// FailData makes the next len(codes) messages fail at the end of DATA with these reply
// codes (e.g. 451: a transient failure after the whole message was sent), one each.
func (s *Server) FailData(codes ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failData = append(s.failData, codes...)
}

type session struct {
	s    *Server
	c    *smtp.Conn
	user string
	from string
	to   []string
}

func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.Users == nil {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || ss.s.opts.Users == nil {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, username, password string) error {
		if want, ok := ss.s.opts.Users[username]; !ok || want != password {
			return smtp.ErrAuthFailed
		}
		ss.user = username
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.opts.Users != nil && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if code := ss.s.opts.Refuse[strings.ToLower(to)]; code != 0 {
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 1, 1}, Message: "refused by the test"}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if len(ss.s.failData) > 0 {
		code := ss.s.failData[0]
		ss.s.failData = ss.s.failData[1:]
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 3, 0}, Message: "failed by the test"}
	}
	_, isTLS := ss.c.TLSConnectionState()
	ss.s.messages = append(ss.s.messages, Message{From: ss.from, To: append([]string(nil), ss.to...), Data: data, TLS: isTLS, User: ss.user})
	return nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

// SelfSigned makes a certificate for 127.0.0.1 and localhost: the server's TLS
// configuration and a client configuration that trusts it (and nothing else).
func SelfSigned(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("notifytest: key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "notifytest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("notifytest: certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("notifytest: certificate: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	server = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}}
	client = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	return server, client
}
