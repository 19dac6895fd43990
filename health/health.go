// Package health serves the liveness and readiness endpoints every long-running Rollin
// process has (`rollin serve`, `rollin worker`, `rollin-dev`), so that Kubernetes probes and
// load balancers see one behaviour: /healthz answers while the process runs, /readyz only
// while its dependencies answer and it is not stopping.
package health

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"time"
)

// Checker answers /healthz and /readyz.
type Checker struct {
	ready    func(context.Context) error
	draining atomic.Bool
}

// New returns a checker whose readiness is ready's verdict (nil: ready), asked with a
// 3-second timeout on each probe.
func New(ready func(context.Context) error) *Checker { return &Checker{ready: ready} }

// Register adds GET /healthz and GET /readyz to mux.
func (c *Checker) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		write(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", c.readyz)
}

// Drain makes /readyz answer 503 from now on, while everything else is still served: the
// first step of a graceful stop, so traffic moves elsewhere before the process closes.
func (c *Checker) Drain() { c.draining.Store(true) }

func (c *Checker) readyz(w http.ResponseWriter, r *http.Request) {
	if c.draining.Load() {
		write(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := c.ready(ctx); err != nil {
		write(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "error": err.Error()})
		return
	}
	write(w, http.StatusOK, map[string]string{"status": "ready"})
}

func write(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
