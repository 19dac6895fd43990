package api

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ClientLimits bounds how fast one client address may send requests of any kind, before
// anyone is authenticated: sign-in attempts, requests with wrong bearer tokens and page
// loads, which the per-token Limits cannot count. The address is the connection's remote
// address (behind a proxy: the proxy's); an IPv6 address counts by its /64, which one
// client usually holds whole.
type ClientLimits struct {
	// PerSecond is the sustained rate per client address; 0 (or less) turns the limit off.
	PerSecond float64
	// Burst is how many requests an address may send at once; less than 1 counts as 1.
	Burst int
}

// maxClients bounds the buckets kept at once (about 100 bytes each), however many
// addresses send requests.
const maxClients = 1 << 16

// clientLimiter holds a token bucket per client address. A bucket idle for as long as it
// takes to refill is full again, the same as a new one, so it is dropped without anyone
// noticing; only when maxClients addresses were all active within that time are the
// least recently seen dropped early (they start over with a full burst).
type clientLimiter struct {
	limits ClientLimits
	now    func() time.Time
	// idle is how long a bucket takes to refill from empty.
	idle time.Duration

	mu        sync.Mutex
	buckets   map[string]*clientBucket
	lastSweep time.Time
}

type clientBucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// newClientLimiter returns nil when l turns limiting off.
func newClientLimiter(l ClientLimits, now func() time.Time) *clientLimiter {
	if !(l.PerSecond > 0) {
		return nil
	}
	l.Burst = max(l.Burst, 1)
	idle := time.Duration(float64(l.Burst) / l.PerSecond * float64(time.Second))
	return &clientLimiter{limits: l, now: now, idle: max(idle, time.Second), buckets: map[string]*clientBucket{}, lastSweep: now()}
}

// clientKey is the address a request counts against: the remote IP, an IPv6 one by its
// /64.
func clientKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return ip.String()
	}
	p, _ := ip.WithZone("").Prefix(64) // 64 bits of an IPv6 address always form a prefix
	return p.String()
}

// allow takes a request from key's bucket, or says how long until there is one.
func (l *clientLimiter) allow(key string) (time.Duration, bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		l.makeRoom(now)
		b = &clientBucket{lim: rate.NewLimiter(rate.Limit(l.limits.PerSecond), l.limits.Burst)}
		l.buckets[key] = b
	}
	b.seen = now
	if b.lim.AllowN(now, 1) {
		return 0, true
	}
	missing := 1 - b.lim.TokensAt(now)
	return time.Duration(missing / l.limits.PerSecond * float64(time.Second)), false
}

// makeRoom drops the buckets that are full again, at most once per idle period, and,
// when maxClients are still kept, the least recently seen half.
func (l *clientLimiter) makeRoom(now time.Time) {
	if now.Sub(l.lastSweep) >= l.idle || len(l.buckets) >= maxClients {
		for k, b := range l.buckets {
			if now.Sub(b.seen) >= l.idle {
				delete(l.buckets, k)
			}
		}
		l.lastSweep = now
	}
	if len(l.buckets) < maxClients {
		return
	}
	type entry struct {
		key  string
		seen time.Time
	}
	all := make([]entry, 0, len(l.buckets))
	for k, b := range l.buckets {
		all = append(all, entry{k, b.seen})
	}
	slices.SortFunc(all, func(a, b entry) int { return a.seen.Compare(b.seen) })
	for _, e := range all[:len(all)/2] {
		delete(l.buckets, e.key)
	}
}

// size is how many buckets are kept (tests).
func (l *clientLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// limitClients refuses a client address's requests beyond lim with 429 and Retry-After,
// before h authenticates anything. The health endpoints are exempt: load balancers and
// probes ask them often, from one address.
func limitClients(h http.Handler, lim *clientLimiter) http.Handler {
	if lim == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			h.ServeHTTP(w, r)
			return
		}
		key := clientKey(r.RemoteAddr)
		wait, ok := lim.allow(key)
		if ok {
			h.ServeHTTP(w, r)
			return
		}
		secs := max(int(math.Ceil(wait.Seconds())), 1)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		if strings.HasPrefix(r.URL.Path, "/api/") {
			writeError(w, http.StatusTooManyRequests, fmt.Sprintf(
				"too many requests from %s: limit %g per second, burst %d; retry after %d s",
				key, lim.limits.PerSecond, lim.limits.Burst, secs))
			return
		}
		// The pages: a short German answer, as plain text (no page is rendered for it).
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusTooManyRequests)
		unit := "Sekunden"
		if secs == 1 {
			unit = "Sekunde"
		}
		fmt.Fprintf(w, "Zu viele Anfragen von Ihrer Adresse. Bitte versuchen Sie es in %d %s erneut.\n", secs, unit)
	})
}
