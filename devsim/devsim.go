// Package devsim wires the simulated systems of a development installation (`rollin dev`)
// and of the benchmarks: it starts a simulator for every system whose URL is not
// configured and lets the municipality simulator's autopilot act through the starter —
// the same role checks, validation and Updates as the people it stands in for. It sits
// beside the front ends (it calls the starter), so neither the starter nor the simulators
// need to know about each other.
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
	"strconv"

	"go.uber.org/zap"

	"github.com/rollin-efa/rollin/config"
	"github.com/rollin-efa/rollin/domain"
	"github.com/rollin-efa/rollin/starter"
	"github.com/rollin-efa/rollin/store"
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
	autopilot    *simulator.Autopilot
}

// StateDir is where `rollin dev` and `rollin simulators` keep the simulators' state: in
// data_dir, beside Temporal's, so that a restart on the same data_dir continues the runs
// Temporal kept with the tenants, links, destinations and submissions they refer to.
func StateDir(cfg config.Config) string { return filepath.Join(cfg.DataDir, "simulators") }

// Start starts a simulator for every system whose URL is not configured, listening on
// its simulators.*_addr (a free port when empty), and points the configuration at it; on
// error nothing is left running. Each simulator continues the state kept in stateDir
// (see simulator.Config.StateDir); "" keeps it in memory. The FIT-Connect simulator
// admits the API clients of fitconnect.subscribers (see AddDevClients for `rollin dev`).
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
// every waiting notice is answered through svc
// after cfg.Delay. Runs that already wait on a person — their notices went out before
// this process started — are fed to it from the read model, so a restarted `rollin dev`
// carries its campaigns on. It returns the autopilot (nil when not enabled); Close stops it.
func (s *Systems) StartAutopilot(ctx context.Context, cfg config.Autopilot, svc *starter.Service, log *zap.Logger) (*simulator.Autopilot, error) {
	if !cfg.Enabled {
		return nil, nil
	}
	if s.Municipality == nil {
		return nil, &config.KeyError{Key: "simulators.autopilot.enabled",
			Msg: "the autopilot plays the municipality simulator; systems.municipality_url points at a real system"}
	}
	a := simulator.NewAutopilot(simulator.AutopilotConfig{
		Enabled: true, Delay: cfg.Delay, TestFailureRate: cfg.TestFailureRate,
	}, Actor{Starter: svc}, ServiceLookup(svc), log)
	s.autopilot = a
	s.Municipality.Sim.SetAutopilot(a)
	n, err := Resume(ctx, a, svc)
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
		s.Municipality.Sim.SetAutopilot(nil)
		s.autopilot.Stop()
	}
	for _, srv := range s.Servers {
		_ = srv.Close()
	}
}

// Principal is who the autopilot acts as in the audit log.
const Principal = "autopilot"

// Actor makes the autopilot act through the starter. It implements simulator.Actor.
type Actor struct {
	Starter *starter.Service
}

// Act sends one action as the role the step waits for. Errors the starter classifies as
// unavailable (Temporal or PostgreSQL did not answer) are retryable, and so is "not now"
// while the run is not final: a notice can arrive a moment before the workflow has
// recorded the wait it announces — notices go out from inside a workflow task, and when a
// worker dies before that task is recorded, the next worker records it seconds later
// without sending the notice again (same idempotency key). A person would try again, so
// the autopilot does. Other refusals (bad data, a finished run) are final.
func (a Actor) Act(ctx context.Context, act simulator.AutopilotAction) error {
	// The autopilot stands in for the people of every organisation.
	p := starter.Principal{Name: Principal, Role: domain.Role(act.Role), AllOrganisations: true}
	if p.Role == domain.RoleMunicipality {
		p.ARS = domain.ARS(act.ARS)
	}
	_, err := a.Starter.Act(ctx, p, act.ARS, act.Service, starter.Action{
		Name: act.Action, ID: act.ActionID, Step: act.Step, Data: act.Data,
	})
	switch starter.KindOf(err) {
	case starter.KindUnavailable:
		return simulator.MarkRetryable(err)
	case starter.KindConflict:
		all := starter.Principal{Name: Principal, Role: domain.RoleOperator, AllOrganisations: true}
		if st, serr := a.Starter.Status(ctx, all, act.ARS, act.Service); serr == nil && !st.State.Final() {
			return simulator.MarkRetryable(err)
		}
	}
	return err
}

// ServiceLookup reads Steckbriefe through the starter, for the questionnaire.
func ServiceLookup(svc *starter.Service) simulator.ServiceLookup {
	return func(ctx context.Context, key string) (domain.Service, error) {
		s, err := svc.Service(ctx, starter.Principal{Name: Principal, Role: domain.RolePM, AllOrganisations: true}, key)
		if starter.KindOf(err) == starter.KindUnavailable {
			return s, simulator.MarkRetryable(err)
		}
		return s, err
	}
}

// Resume hands every run that waits on a person to a, as the notice it would have
// received, and returns how many it handed over. The notice key is the run's ID and its
// seq, so resuming twice at the same state acts once.
func Resume(ctx context.Context, a *simulator.Autopilot, svc *starter.Service) (int, error) {
	p := starter.Principal{Name: Principal, Role: domain.RoleOperator, AllOrganisations: true}
	f := store.RunFilter{State: string(domain.RunWaiting), Limit: 1000}
	n := 0
	for {
		runs, next, err := svc.List(ctx, p, f)
		if err != nil {
			return n, fmt.Errorf("autopilot: list waiting runs: %w", err)
		}
		for _, r := range runs {
			if r.WaitingFor == nil {
				continue
			}
			if a.Handle(simulator.AutopilotNotice{
				Key: "resume/" + r.ID + "/" + strconv.FormatInt(r.Seq, 10), ARS: string(r.ARS), Service: string(r.Service),
				Recipient: string(r.WaitingFor.Role), Kind: "waiting", Action: r.WaitingFor.Action, Step: r.WaitingFor.Step,
			}) {
				n++
			}
		}
		if next == "" {
			return n, nil
		}
		f.Cursor = next
	}
}
