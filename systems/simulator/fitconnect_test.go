package simulator_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/systems/fitconnect"
	"github.com/rollin-efa/rollin/systems/simulator"
)

const fcSecret = "client-secret-of-muenster"

var (
	fcKeyOnce sync.Once
	fcKey     fitconnect.JWK
)

// fcJWK returns a 4096-bit encryption key, generated once per test binary.
func fcJWK(t *testing.T) fitconnect.JWK {
	t.Helper()
	fcKeyOnce.Do(func() {
		priv, err := rsa.GenerateKey(rand.Reader, 4096)
		require.NoError(t, err)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sim"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
		require.NoError(t, err)
		cert, err := x509.ParseCertificate(der)
		require.NoError(t, err)
		fcKey, err = fitconnect.NewEncryptionKey([]*x509.Certificate{cert})
		require.NoError(t, err)
	})
	return fcKey
}

type fcClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fcClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fcClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func startFC(t *testing.T) (*simulator.Server, *simulator.FitConnect, *fcClock) {
	t.Helper()
	clk := &fcClock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	srv, fc, err := simulator.StartFitConnect(simulator.Config{},
		simulator.FitConnectConfig{Clients: map[string]string{"muenster": fcSecret, "other": "x"}, TokenTTL: time.Minute, Now: clk.now}, "")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	return srv, fc, clk
}

func tokenCall(t *testing.T, srv *simulator.Server, form url.Values, basicUser, basicPass string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/token", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(basicUser, basicPass)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

func token(t *testing.T, srv *simulator.Server, client, secret string) string {
	t.Helper()
	a := tokenCall(t, srv, url.Values{"grant_type": {"client_credentials"}, "client_id": {client}, "client_secret": {secret}}, "", "")
	require.Equal(t, http.StatusOK, a.status, "body: %s", a.body)
	var out struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
	}
	a.json(t, &out)
	require.Equal(t, "Bearer", out.TokenType)
	require.Equal(t, 60, out.ExpiresIn)
	return out.AccessToken
}

func destinationBody(t *testing.T, mutate func(m map[string]any)) string {
	t.Helper()
	k := fcJWK(t)
	m := map[string]any{
		"name":             "Stadt Münster",
		"callback":         map[string]any{"url": "https://fv.example/cb", "secret": "0123456789abcdef0123456789abcdef"},
		"contact":          map[string]any{"legalName": "Stadt Münster", "address": "Klemensstraße 10", "email": "efa@muenster.de"},
		"replyChannels":    map[string]any{"eMail": map[string]any{"usePgp": false}},
		"metadataVersions": []string{"1.0.0"},
		"services": []any{map[string]any{
			"identifier":        "urn:de:fim:leika:leistung:" + service,
			"submissionSchemas": []any{map[string]any{"schemaUri": "urn:x", "mimeType": "application/json"}},
			"regions":           []string{"urn:de:bund:destatis:bevoelkerungsstatistik:schluessel:rs:" + ars},
		}},
		"encryptionKid": k.Kid,
		"keys":          []any{k},
	}
	if mutate != nil {
		mutate(m)
	}
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return string(b)
}

func TestFitConnectTokenEndpoint(t *testing.T) {
	srv, fc, _ := startFC(t)
	tests := []struct {
		name       string
		form       url.Values
		user, pass string
		status     int
		oauthError string
	}{
		{"body credentials", url.Values{"grant_type": {"client_credentials"}, "client_id": {"muenster"}, "client_secret": {fcSecret}}, "", "", 200, ""},
		{"basic credentials", url.Values{"grant_type": {"client_credentials"}}, "muenster", url.QueryEscape(fcSecret), 200, ""},
		{"wrong secret", url.Values{"grant_type": {"client_credentials"}, "client_id": {"muenster"}, "client_secret": {"nope"}}, "", "", 401, "invalid_client"},
		{"unknown client", url.Values{"grant_type": {"client_credentials"}}, "nobody", "x", 401, "invalid_client"},
		{"wrong grant", url.Values{"grant_type": {"password"}, "client_id": {"muenster"}, "client_secret": {fcSecret}}, "", "", 400, "unsupported_grant_type"},
		{"two authentications", url.Values{"grant_type": {"client_credentials"}, "client_id": {"muenster"}, "client_secret": {fcSecret}}, "muenster", fcSecret, 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tokenCall(t, srv, tt.form, tt.user, tt.pass)
			require.Equal(t, tt.status, a.status, "body: %s", a.body)
			if tt.oauthError != "" {
				var e struct{ Error string }
				a.json(t, &e)
				require.Equal(t, tt.oauthError, e.Error)
				require.NotContains(t, string(a.body), fcSecret)
			}
		})
	}
	require.Equal(t, 2, fc.TokensIssued())
}

func TestFitConnectRequiresValidBearer(t *testing.T) {
	srv, fc, clk := startFC(t)
	tok := token(t, srv, "muenster", fcSecret)
	for _, bad := range []string{"", "not-a-token"} {
		a := authCall(t, http.MethodGet, srv.URL+"/v1/destinations", bad, "", "")
		require.Equal(t, http.StatusUnauthorized, a.status)
		require.Equal(t, "Unauthorized", a.problem(t).Title)
		require.Contains(t, a.header.Get("WWW-Authenticate"), "Bearer")
	}
	require.Equal(t, http.StatusOK, authCall(t, http.MethodGet, srv.URL+"/v1/destinations", tok, "", "").status)
	clk.add(time.Minute) // the token expires
	require.Equal(t, http.StatusUnauthorized, authCall(t, http.MethodGet, srv.URL+"/v1/destinations", tok, "", "").status)
	tok = token(t, srv, "muenster", fcSecret)
	fc.RevokeTokens()
	require.Equal(t, http.StatusUnauthorized, authCall(t, http.MethodGet, srv.URL+"/v1/destinations", tok, "", "").status)
	require.Equal(t, 4, fc.Unauthorized())
	require.Equal(t, http.StatusOK, call(t, http.MethodGet, srv.URL+"/_sim/counters", "", "").status, "control endpoints need no token")
}

func TestFitConnectDestinationIdempotencyAndEffects(t *testing.T) {
	srv, _, _ := startFC(t)
	tok := token(t, srv, "muenster", fcSecret)
	body := destinationBody(t, nil)

	require.Equal(t, http.StatusBadRequest, authCall(t, http.MethodPost, srv.URL+"/v1/destinations", tok, "", body).status)

	first := authCall(t, http.MethodPost, srv.URL+"/v1/destinations", tok, "k1", body)
	require.Equal(t, http.StatusCreated, first.status, "body: %s", first.body)
	var d struct {
		DestinationID string `json:"destinationId"`
		Status        string `json:"status"`
		Callback      map[string]string
	}
	first.json(t, &d)
	require.Equal(t, "active", d.Status)
	require.NotContains(t, string(first.body), "0123456789abcdef0123456789abcdef", "the callback secret is write-only")

	again := authCall(t, http.MethodPost, srv.URL+"/v1/destinations", tok, "k1", body)
	require.Equal(t, http.StatusCreated, again.status)
	require.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
	require.JSONEq(t, string(first.body), string(again.body))

	path := srv.URL + "/v1/destinations/" + d.DestinationID
	update := destinationBody(t, func(m map[string]any) { m["name"] = "Stadt Münster – Bürgeramt"; delete(m, "keys") })
	require.Equal(t, http.StatusOK, authCall(t, http.MethodPut, path, tok, "u1", update).status)
	require.Equal(t, http.StatusOK, authCall(t, http.MethodPut, path, tok, "u1", update).status)

	key, err := json.Marshal(fcJWK(t))
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, authCall(t, http.MethodPost, path+"/keys", tok, "a1", string(key)).status,
		"a key that is already there is 201 too")
	require.Equal(t, http.StatusOK, authCall(t, http.MethodGet, path+"/keys/"+fcJWK(t).Kid, tok, "", "").status)
	require.Equal(t, http.StatusNotFound, authCall(t, http.MethodGet, path+"/keys/unknown-kid", tok, "", "").status)

	require.Equal(t, map[string]int{
		"create-destination " + d.DestinationID: 1,
		"update-destination " + d.DestinationID: 1,
	}, srv.Sim.Counters().Effects)

	other := token(t, srv, "other", "x")
	require.Equal(t, http.StatusNotFound, authCall(t, http.MethodPut, path, other, "u2", update).status, "destinations belong to their client")
	public := authCall(t, http.MethodGet, path, other, "", "")
	require.Equal(t, http.StatusOK, public.status, "a sender reads a destination")
	require.NotContains(t, string(public.body), "fv.example", "but not its callback")
}

func TestFitConnectValidationNamesTheField(t *testing.T) {
	srv, _, _ := startFC(t)
	tok := token(t, srv, "muenster", fcSecret)
	tests := []struct {
		field  string
		status int
		mutate func(m map[string]any)
	}{
		{"name", 422, func(m map[string]any) { m["name"] = "" }},
		{"callback.secret", 422, func(m map[string]any) { m["callback"] = map[string]any{"url": "https://fv.example/cb"} }},
		{"callback.url", 422, func(m map[string]any) {
			m["callback"] = map[string]any{"url": "http://fv.example/cb", "secret": "0123456789abcdef0123456789abcdef"}
		}},
		{"services.regions", 422, func(m map[string]any) {
			m["services"] = []any{map[string]any{"identifier": "urn:de:fim:leika:leistung:" + service,
				"submissionSchemas": []any{map[string]any{"schemaUri": "urn:x", "mimeType": "application/json"}},
				"regions":           []string{ars}}}
		}},
		{"encryptionKid", 422, func(m map[string]any) { m["encryptionKid"] = "some-other-kid" }},
		{"keys[0].alg", 422, func(m map[string]any) {
			k := fcJWK(t)
			k.Alg = "RSA1_5"
			m["keys"] = []any{k}
		}},
		{"unknown field", 400, func(m map[string]any) { m["destinationName"] = "x" }},
	}
	for i, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			a := authCall(t, http.MethodPost, srv.URL+"/v1/destinations", tok, "v"+string(rune('a'+i)), destinationBody(t, tt.mutate))
			require.Equal(t, tt.status, a.status, "body: %s", a.body)
			require.Contains(t, a.problem(t).Detail, strings.TrimPrefix(tt.field, "unknown "))
			require.NotContains(t, string(a.body), "0123456789abcdef0123456789abcdef")
		})
	}
	require.Empty(t, srv.Sim.Counters().Effects)
}

func TestFitConnectRateLimitFault(t *testing.T) {
	srv, _, _ := startFC(t)
	tok := token(t, srv, "muenster", fcSecret)
	srv.Sim.AddFault(simulator.Fault{PathPrefix: "/v1/", Status: http.StatusTooManyRequests, Times: 1,
		Headers: map[string]string{"Retry-After": "3"}})
	a := authCall(t, http.MethodGet, srv.URL+"/v1/destinations", tok, "", "")
	require.Equal(t, http.StatusTooManyRequests, a.status)
	require.Equal(t, "3", a.header.Get("Retry-After"))
	a.problem(t)
	require.Equal(t, http.StatusOK, authCall(t, http.MethodGet, srv.URL+"/v1/destinations", tok, "", "").status)
}
