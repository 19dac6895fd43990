// Package devsim wires the simulated systems of a development installation (`rollin-dev`)
// and of the benchmarks: it starts a simulator for every system whose URL is not
// configured, and its Autopilot plays the people of every roll-in through the starter —
// the same role checks, validation and Updates as the people it stands in for — with the
// workflow's own action names and types. It sits beside the front ends (it calls the
// starter), so neither the starter nor the simulators need to know about each other or
// about package workflows.
package devsim

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/rollin-efa/rollin/config"
	"github.com/rollin-efa/rollin/systems/fitconnect"
	"github.com/rollin-efa/rollin/systems/simulator"
)

// Systems are the simulators started for the systems the configuration left unset.
type Systems struct {
	// Servers are the started simulators: FIT-Connect, then provider, state,
	// municipality.
	Servers []*simulator.Server
	// Municipality is the municipality simulator, nil when systems.municipality_url
	// points at a real system.
	Municipality *simulator.Server
	autopilot    *Autopilot
}

// StateDir is where `rollin-dev` and `rollin-dev simulators` keep the simulators' state: in
// data_dir, beside Temporal's, so that a restart on the same data_dir continues the runs
// Temporal kept with the tenants, links, destinations and submissions they refer to.
func StateDir(cfg config.Config) string { return filepath.Join(cfg.DataDir, "simulators") }

// Start starts a simulator for every system whose URL is not configured, listening on
// its simulators.*_addr (a free port when empty), and points the configuration at it; on
// error nothing is left running. Each simulator continues the state kept in stateDir
// (see simulator.Config.StateDir); "" keeps it in memory. The FIT-Connect simulator
// admits the API clients of fitconnect.subscribers (see AddDevClients for `rollin-dev`).
func Start(cfg *config.Config, stateDir string) (*Systems, error) {
	simCfg := simulator.Config{Latency: cfg.Simulators.Latency, ErrorRate: cfg.Simulators.ErrorRate, RoutingLag: cfg.Simulators.RoutingLag,
		StateDir: stateDir}
	s := &Systems{}
	if cfg.FitConnect.SubmissionURL == "" {
		if err := s.startFitConnect(cfg, simCfg); err != nil {
			return nil, err
		}
	}
	for _, sys := range []struct {
		kind simulator.Kind
		url  *string
		addr string
	}{
		{simulator.Provider, &cfg.Systems.ProviderURL, cfg.Simulators.ProviderAddr},
		{simulator.State, &cfg.Systems.StateURL, cfg.Simulators.StateAddr},
		{simulator.Municipality, &cfg.Systems.MunicipalityURL, cfg.Simulators.MunicipalityAddr},
	} {
		if *sys.url != "" {
			continue
		}
		srv, err := simulator.Start(sys.kind, simCfg, sys.addr)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("start %s simulator: %w", sys.kind, err)
		}
		*sys.url = srv.URL
		s.Servers = append(s.Servers, srv)
		if sys.kind == simulator.Municipality {
			s.Municipality = srv
		}
	}
	return s, nil
}

func (s *Systems) startFitConnect(cfg *config.Config, simCfg simulator.Config) error {
	clients := map[string]string{}
	for _, sub := range cfg.FitConnect.Subscribers {
		clients[sub.ClientID] = sub.ClientSecret
	}
	if cfg.FitConnect.Sender.ClientID != "" {
		clients[cfg.FitConnect.Sender.ClientID] = cfg.FitConnect.Sender.ClientSecret
	}
	var receiverKeys []*rsa.PrivateKey
	for i, file := range cfg.Simulators.FitConnectReceiverKeys {
		key, err := readPrivateKey(file)
		if err != nil {
			return &config.KeyError{Key: fmt.Sprintf("simulators.fitconnect_receiver_keys[%d]", i), Msg: err.Error()}
		}
		receiverKeys = append(receiverKeys, key)
	}
	srv, _, err := simulator.StartFitConnect(simCfg, simulator.FitConnectConfig{Clients: clients, ReceiverKeys: receiverKeys},
		cfg.Simulators.FitConnectAddr)
	if err != nil {
		return fmt.Errorf("start %s simulator: %w", simulator.FitConnectKind, err)
	}
	s.Servers = append(s.Servers, srv)
	cfg.FitConnect.SubmissionURL, cfg.FitConnect.TokenURL = srv.URL, srv.URL+"/token"
	return nil
}

// AddDevClients gives a development installation whose FIT-Connect is the simulator
// (fitconnect.submission_url empty) the API clients it did not configure: a sender for
// the test submissions, and one subscriber for every municipality with a random client
// secret and callback secret and a self-signed 4096-bit encryption certificate kept in
// data_dir (made on first use, since making one takes seconds), whose private key the
// simulated receiving system gets to decrypt with. Call it before Start, which admits the
// clients. The simulator accepts the certificate; FIT-Connect's production environment
// would not.
func AddDevClients(cfg *config.Config) error {
	if cfg.FitConnect.SubmissionURL != "" {
		return nil
	}
	if cfg.FitConnect.Sender.ClientID == "" {
		cfg.FitConnect.Sender = config.Sender{ClientID: "rollin-dev-sender", ClientSecret: randomSecret()}
	}
	if len(cfg.FitConnect.Subscribers) > 0 {
		return nil
	}
	dir := filepath.Join(cfg.DataDir, "fit-connect-dev")
	certFile, err := devCertificate(dir)
	if err != nil {
		return fmt.Errorf("development FIT-Connect subscriber: %w", err)
	}
	cfg.FitConnect.Subscribers = []config.Subscriber{{
		ClientID: "rollin-dev", ClientSecret: randomSecret(), EncryptionCertFile: certFile,
		CallbackURL: "https://localhost/fit-connect/callback", CallbackSecret: randomSecret(),
	}}
	cfg.Simulators.FitConnectReceiverKeys = append(cfg.Simulators.FitConnectReceiverKeys, filepath.Join(dir, devKeyFile))
	return nil
}

// devKeyFile is the development certificate's private key, next to it.
const devKeyFile = "encryption-key.pem"

// readPrivateKey reads an RSA private key from a PEM file (PKCS #1 or PKCS #8).
func readPrivateKey(file string) (*rsa.PrivateKey, error) {
	data, err := os.ReadFile(file) // #nosec G304 -- the file is named in Rollin's own configuration
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", file)
	}
	if key, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return key, nil
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: not an RSA private key: %w", file, err)
	}
	rsaKey, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: want an RSA private key, got %T", file, key)
	}
	return rsaKey, nil
}

// devCertificate returns the development encryption certificate in dir, making it (and
// its private key, both 0600) when it is not there yet.
func devCertificate(dir string) (string, error) {
	certFile := filepath.Join(dir, "encryption-cert.pem")
	if _, err := os.Stat(certFile); !errors.Is(err, fs.ErrNotExist) {
		return certFile, err
	}
	certPEM, keyPEM, err := fitconnect.SelfSignedCertificate("Rollin development receiving system", fitconnect.MinRSABits)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	// The key first, so that a certificate on disk always has its key.
	if err := os.WriteFile(filepath.Join(dir, devKeyFile), keyPEM, 0o600); err != nil {
		return "", err
	}
	return certFile, os.WriteFile(certFile, certPEM, 0o600)
}

// randomSecret is 32 random bytes, base64url: 43 characters.
func randomSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// StartAutopilot attaches an autopilot to the municipality simulator when cfg enables it:
// every run waiting on a person is answered through svc after cfg.Delay. Runs that
// already wait on a person — their notices went out before this process started — are
// taken on from the read model, so a restarted `rollin-dev` carries its campaigns on. It
// returns the autopilot (nil when not enabled); Close stops it.
func (s *Systems) StartAutopilot(ctx context.Context, cfg config.Autopilot, svc Starter, log *zap.Logger) (*Autopilot, error) {
	if !cfg.Enabled {
		return nil, nil
	}
	if s.Municipality == nil {
		return nil, &config.KeyError{Key: "simulators.autopilot.enabled",
			Msg: "the autopilot plays the municipality simulator; systems.municipality_url points at a real system"}
	}
	if log == nil {
		log = zap.NewNop()
	}
	a := NewAutopilot(AutopilotConfig{
		Enabled: true, Delay: cfg.Delay, TestFailureRate: cfg.TestFailureRate,
	}, svc, log)
	s.autopilot = a
	s.Municipality.Sim.SetListener(a)
	n, err := a.Resume(ctx)
	if err != nil {
		return a, err
	}
	if n > 0 {
		log.Info("autopilot: took on runs already waiting", zap.Int("runs", n))
	}
	return a, nil
}

// Close stops the autopilot (before the starter it uses goes away) and the simulators.
func (s *Systems) Close() {
	if s.autopilot != nil {
		s.Municipality.Sim.SetListener(nil)
		s.autopilot.Stop()
	}
	for _, srv := range s.Servers {
		_ = srv.Close()
	}
}
