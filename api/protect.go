package api

import (
	"context"
	"net/http"
	"time"
)

// securityHeaders go on every response. The server answers only JSON, so a browser that
// is tricked into loading a response anyway must not run, embed, sniff or cache it, nor
// tell the next site where it came from.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
	"X-Content-Type-Options":  "nosniff",
	"Referrer-Policy":         "no-referrer",
	"X-Frame-Options":         "DENY",
	"Cache-Control":           "no-store",
}

// hsts tells browsers to use HTTPS only for a year. It is sent on responses over TLS only:
// over plain HTTP it would be ignored, and an installation that terminates TLS in front of
// Rollin sets it there.
const hsts = "max-age=31536000"

// Protect wraps the handler of an HTTP server (the API's and the pages, or a worker's
// health endpoints) in what every response needs whatever the route: the security
// headers, on 404s and health answers too; the per-client-address limit of c, checked
// before anything is authenticated (see ClientLimits); and the per-token rate limit of l. The API's routes apply the limit
// after authenticating the caller, so that it counts by token name, which an
// unauthenticated caller cannot invent: Protect hands them the buckets in the request
// context, so it works whatever other wrappers sit in between.
func Protect(h http.Handler, l Limits, c ClientLimits) http.Handler {
	return protectWith(limitClients(h, newClientLimiter(c, time.Now)), newLimiter(l, time.Now))
}

// protectWith is Protect with the limiter built by the caller (tests: a fake clock).
func protectWith(h http.Handler, lim *limiter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		for k, v := range securityHeaders {
			hdr.Set(k, v)
		}
		if r.TLS != nil {
			hdr.Set("Strict-Transport-Security", hsts)
		}
		if lim != nil {
			r = r.WithContext(context.WithValue(r.Context(), limiterKey{}, lim))
		}
		h.ServeHTTP(w, r)
	})
}

type limiterKey struct{}

// limiterOf returns the limiter Protect put into the request's context, or nil (no limit).
func limiterOf(ctx context.Context) *limiter {
	lim, _ := ctx.Value(limiterKey{}).(*limiter)
	return lim
}
