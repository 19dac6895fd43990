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
	addr      string
	mu        sync.Mutex
	ln        net.Listener // nil while Down
	serving   sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Start serves a new simulator of kind on addr ("" means 127.0.0.1 on a free port) and
// returns once it accepts connections. With cfg.StateDir it continues the state kept
// there (see Open).
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
	sim, err := Open(kind, cfg)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	s := &Server{
		URL:  "http://" + ln.Addr().String(),
		Sim:  sim,
		srv:  &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second},
		addr: ln.Addr().String(),
	}
	s.serve(ln)
	return s, nil
}

func (s *Server) serve(ln net.Listener) {
	s.ln = ln
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		_ = s.srv.Serve(ln) // returns when ln is closed (Down) or the server is (Close)
	}()
}

// Down makes the system unreachable, as a crashed or unplugged one is: it stops accepting
// connections, so clients get "connection refused", and drops idle keep-alive
// connections; requests already in flight finish. The simulator keeps its state
// (idempotency keys, counters), as a real system that comes back keeps its database.
func (s *Server) Down() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	s.srv.SetKeepAlivesEnabled(false) // also closes the idle connections
	err := s.ln.Close()
	s.ln = nil
	if err != nil {
		return fmt.Errorf("take %s simulator down: %w", s.Sim.kind, err)
	}
	return nil
}

// Up accepts connections again on the same address after Down.
func (s *Server) Up() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("bring %s simulator up on %s: %w", s.Sim.kind, s.addr, err)
	}
	s.srv.SetKeepAlivesEnabled(true)
	s.serve(ln)
	return nil
}

// Close stops the server: requests waiting out the simulated latency fail at once,
// others get a short grace period; then the simulator's state directory is released.
// It is safe to call more than once.
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
		s.serving.Wait()
		if err := s.Sim.Close(); err != nil && s.closeErr == nil {
			s.closeErr = err
		}
	})
	return s.closeErr
}
