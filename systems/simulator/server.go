package simulator

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// shutdownGrace is how long Close lets in-flight requests finish before cutting them off.
const shutdownGrace = 2 * time.Second

// Server is a simulator listening on a real TCP socket, so that clients are exercised
// with real connections, timeouts and connection errors (unlike an in-process handler).
type Server struct {
	// URL is the base URL to give the client, e.g. http://127.0.0.1:40123.
	URL string
	// Sim is the simulator behind the server, for faults and counters.
	Sim *Sim

	srv       *http.Server
	served    chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Start serves a new simulator of kind on addr ("" means 127.0.0.1 on a free port) and
// returns once it accepts connections.
func Start(kind Kind, cfg Config, addr string) (*Server, error) {
	if !kind.Valid() {
		return nil, fmt.Errorf("start simulator: unknown kind %q (want provider, state or municipality)", kind)
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("start %s simulator: %w", kind, err)
	}
	sim := New(kind, cfg)
	s := &Server{
		URL:    "http://" + ln.Addr().String(),
		Sim:    sim,
		srv:    &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second},
		served: make(chan struct{}),
	}
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(ln) // returns http.ErrServerClosed after Close
	}()
	return s, nil
}

// Close stops the server: requests waiting out the simulated latency fail at once,
// others get a short grace period. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.Sim.stop()
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			// The grace period ran out; cutting the remaining connections is what a
			// simulator's Close is for, so only a failure to do that is reported.
			if err := s.srv.Close(); err != nil {
				s.closeErr = fmt.Errorf("close %s simulator: %w", s.Sim.kind, err)
			}
		}
		<-s.served
	})
	return s.closeErr
}
