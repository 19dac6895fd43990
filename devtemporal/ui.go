package devtemporal

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	"github.com/temporalio/ui-server/v2/server/server_options"
)

// UIConfig says where Temporal's Web UI listens and which Temporal it shows.
type UIConfig struct {
	// Addr is host:port to listen on, e.g. 127.0.0.1:8233 (Temporal's usual UI port).
	Addr string
	// Frontend is the Temporal frontend's host:port.
	Frontend string
	// Namespace is the namespace the UI opens with.
	Namespace string
}

// UI is Temporal's own Web UI (github.com/temporalio/ui-server), for operators who want
// the engine's view of a roll-in — its event history, pending activities and timers —
// beside Rollin's API. Like the rest of this package it is for development: it has no
// authentication and talks to the frontend without TLS.
type UI struct {
	// URL is where the UI answers.
	URL string
	srv *uiserver.Server
	err chan error
}

// StartUI serves the Web UI at cfg.Addr and returns once it answers its health check.
func StartUI(ctx context.Context, cfg UIConfig) (*UI, error) {
	host, portText, err := net.SplitHostPort(cfg.Addr)
	port, perr := strconv.Atoi(portText)
	if err != nil || perr != nil || port <= 0 || port > 65535 {
		return nil, fmt.Errorf("temporal UI: address %q: want host:port with a port", cfg.Addr)
	}
	srv := uiserver.NewServer(server_options.WithConfigProvider(&uiconfig.Config{
		Host: host, Port: port, TemporalGRPCAddress: cfg.Frontend, DefaultNamespace: cfg.Namespace,
		EnableUI: true, HideLogs: true,
		// Served over plain HTTP on the developer's machine: the CSRF cookie must not
		// ask for TLS, or the browser drops it and every action fails.
		CORS: uiconfig.CORS{CookieInsecure: true},
		// No RefreshInterval: the configuration never changes, and a refresh goroutine
		// would log every interval and outlive Stop.
	}))
	ui := &UI{URL: "http://" + net.JoinHostPort(host, portText), srv: srv, err: make(chan error, 1)}
	go func() { ui.err <- srv.Start() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-ui.err:
			return nil, fmt.Errorf("temporal UI on %s: %w", cfg.Addr, err)
		case <-ctx.Done():
			srv.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if resp, err := http.Get(ui.URL + "/healthz"); err == nil { // #nosec G107 -- our own UI's address
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return ui, nil
			}
		}
		if time.Now().After(deadline) {
			srv.Stop()
			return nil, errors.New("temporal UI: no answer on " + cfg.Addr + " within 10 s")
		}
	}
}

// Stop closes the UI's listener and connections.
func (u *UI) Stop() { u.srv.Stop() }
