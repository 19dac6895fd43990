package fitconnect_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/systems"
	"github.com/rollin-efa/rollin/systems/fitconnect"
	"github.com/rollin-efa/rollin/systems/simulator"
)

const (
	clientID       = "rollin-055150000000"
	clientSecret   = "s3cr3t-client-secret-do-not-leak-7f4a9c"
	callbackSecret = "cb-secret-0123456789abcdef0123456789abcdef"
	leika          = "99050012104000"
	ars            = "055150000000"
	ars2           = "055150000001"
)

// Keys are generated once per test binary: a 4096-bit RSA key takes a second or two.
var (
	keysOnce          sync.Once
	encKey, sigKey    fitconnect.JWK
	encKey2, smallKey fitconnect.JWK
	// encPriv and sigPriv are the private halves of encKey and sigKey: the simulated
	// receiving system decrypts with encPriv; tests sign events with sigPriv.
	encPriv, sigPriv *rsa.PrivateKey
)

func selfSigned(t *testing.T, bits int, cn string) (*x509.Certificate, *rsa.PrivateKey) {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, bits)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return cert, priv
}

func keys(t *testing.T) {
	t.Helper()
	keysOnce.Do(func() {
		var wg sync.WaitGroup
		certs := make([]*x509.Certificate, 4)
		privs := make([]*rsa.PrivateKey, 4)
		for i, bits := range []int{4096, 4096, 4096, 2048} {
			wg.Go(func() { certs[i], privs[i] = selfSigned(t, bits, fmt.Sprintf("key %d", i)) })
		}
		wg.Wait()
		encPriv, sigPriv = privs[0], privs[1]
		var err error
		encKey, err = fitconnect.NewEncryptionKey(certs[:1])
		require.NoError(t, err)
		sigKey, err = fitconnect.NewSignatureKey(certs[1:2])
		require.NoError(t, err)
		encKey2, err = fitconnect.NewEncryptionKey(certs[2:3])
		require.NoError(t, err)
		// NewEncryptionKey refuses a 2048-bit key; build one by hand from a valid one.
		smallKey = encKey
		smallKey.N = base64.RawURLEncoding.EncodeToString(certs[3].PublicKey.(*rsa.PublicKey).N.Bytes())
	})
}

func want() fitconnect.Destination {
	return fitconnect.Destination{
		Name:           "Stadt Münster – Bürgeramt (EfA)",
		CallbackURL:    "https://fv.stadt-muenster.de/fit-connect/callback",
		CallbackSecret: callbackSecret,
		Contact: fitconnect.Contact{LegalName: "Stadt Münster", Address: "Klemensstraße 10, 48143 Münster",
			Phone: "+49 251 4920", Email: "efa@stadt-muenster.de"},
		ReplyChannels:    fitconnect.ReplyChannels{EMail: &fitconnect.EMailChannel{}},
		MetadataVersions: []string{"1.0.0"},
		Services: []fitconnect.Service{{
			LeikaKey: leika, Areas: []string{ars},
			SubmissionSchemas: []fitconnect.SubmissionSchema{{SchemaURI: "urn:xoev-de:fim:schema:S00000000001", MimeType: "application/json"}},
		}},
		EncryptionKey: encKey,
	}
}

// clock is a settable clock shared by the token source and the simulator.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	srv    *simulator.Server
	fc     *simulator.FitConnect
	tokens *fitconnect.TokenSource
	client *fitconnect.Client
	clock  *clock
}

func setup(t *testing.T, style fitconnect.AuthStyle) *env {
	t.Helper()
	keys(t)
	clk := &clock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	srv, fc, err := simulator.StartFitConnect(simulator.Config{}, simulator.FitConnectConfig{
		Clients:  map[string]string{clientID: clientSecret, "other": "other-secret", senderID: senderSecret},
		TokenTTL: 10 * time.Minute, Now: clk.Now, ReceiverKeys: []*rsa.PrivateKey{encPriv},
	}, "")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	ts, err := fitconnect.NewTokenSource(fitconnect.Credentials{
		TokenURL: srv.URL + "/token", ClientID: clientID, ClientSecret: clientSecret,
		AuthStyle: style, Now: clk.Now,
	})
	require.NoError(t, err)
	c, err := fitconnect.New(srv.URL, ts, nil)
	require.NoError(t, err)
	return &env{srv: srv, fc: fc, tokens: ts, client: c, clock: clk}
}

func (e *env) effects() map[string]int { return e.srv.Sim.Counters().Effects }

func requireSystemError(t *testing.T, err error, status int, retryable bool) *systems.Error {
	t.Helper()
	var se *systems.Error
	require.ErrorAs(t, err, &se)
	require.Equal(t, fitconnect.System, se.System)
	require.Equal(t, status, se.Status, "error: %v", err)
	require.Equal(t, retryable, systems.IsRetryable(err), "error: %v", err)
	return se
}

func TestEnsureCreatesThenChangesNothing(t *testing.T) {
	for name, style := range map[string]fitconnect.AuthStyle{"credentials in body": fitconnect.AuthInBody, "basic auth": fitconnect.AuthInHeader} {
		t.Run(name, func(t *testing.T) {
			e := setup(t, style)
			ctx := context.Background()
			d, err := e.client.Ensure(ctx, want())
			require.NoError(t, err)
			require.NotEmpty(t, d.ID)
			require.Equal(t, "active", d.Status)
			require.Equal(t, encKey.Kid, d.EncryptionKey.Kid)
			require.Equal(t, []fitconnect.Service{want().Services[0]}, d.Services)
			require.Equal(t, map[string]int{"create-destination " + d.ID: 1}, e.effects())
			stored, ok := e.fc.CallbackSecret(d.ID)
			require.True(t, ok)
			require.Equal(t, callbackSecret, stored)

			before := e.srv.Sim.Counters()
			again, err := e.client.Ensure(ctx, want())
			require.NoError(t, err)
			require.Equal(t, d, again)
			after := e.srv.Sim.Counters()
			require.Equal(t, before.Effects, after.Effects, "a second Ensure applies nothing")
			require.Equal(t, before.Keys, after.Keys, "a second Ensure sends no mutating request")
			for _, r := range []string{"POST /v1/destinations", "PUT /v1/destinations/{id}", "POST /v1/destinations/{id}/keys"} {
				require.Equal(t, before.Requests[r], after.Requests[r], r)
			}

			// With the known ID instead of the name lookup, too.
			w := want()
			w.ID = d.ID
			_, err = e.client.Ensure(ctx, w)
			require.NoError(t, err)
			require.Equal(t, before.Effects, e.effects())
			require.Equal(t, 1, e.fc.TokensIssued(), "one token for all calls")
		})
	}
}

func TestEnsureUpdatesWhatChanged(t *testing.T) {
	keys(t)
	tests := []struct {
		name    string
		change  func(*fitconnect.Destination)
		effects func(id string) map[string]int
	}{
		{"name (found by ID)", func(d *fitconnect.Destination) { d.Name = "Stadt Münster – Bürgerbüro" }, updated},
		{"callback URL", func(d *fitconnect.Destination) { d.CallbackURL = "https://fv2.stadt-muenster.de/cb" }, updated},
		{"contact", func(d *fitconnect.Destination) { d.Contact.Email = "buergeramt@stadt-muenster.de" }, updated},
		{"reply channels", func(d *fitconnect.Destination) { d.ReplyChannels.DeMail = true }, updated},
		{"metadata versions", func(d *fitconnect.Destination) { d.MetadataVersions = []string{"1.0.0", "1.1.0"} }, updated},
		{"area added", func(d *fitconnect.Destination) { d.Services[0].Areas = []string{ars, ars2} }, updated},
		{"service added", func(d *fitconnect.Destination) {
			d.Services = append(d.Services, fitconnect.Service{LeikaKey: "99050012104001", Areas: []string{ars},
				SubmissionSchemas: d.Services[0].SubmissionSchemas})
		}, updated},
		{"signature key added", func(d *fitconnect.Destination) { d.SignatureKey = &sigKey }, func(id string) map[string]int {
			return map[string]int{"create-destination " + id: 1, "add-key " + id + "/" + sigKey.Kid: 1}
		}},
		{"encryption key rotated", func(d *fitconnect.Destination) { d.EncryptionKey = encKey2 }, func(id string) map[string]int {
			return map[string]int{"create-destination " + id: 1, "add-key " + id + "/" + encKey2.Kid: 1, "update-destination " + id: 1}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, fitconnect.AuthInBody)
			ctx := context.Background()
			d, err := e.client.Ensure(ctx, want())
			require.NoError(t, err)

			w := want()
			w.ID = d.ID
			tt.change(&w)
			got, err := e.client.Ensure(ctx, w)
			require.NoError(t, err)
			require.Equal(t, tt.effects(d.ID), e.effects())
			require.Equal(t, w.Name, got.Name)
			require.Equal(t, w.EncryptionKey.Kid, got.EncryptionKey.Kid)

			// Ensuring the changed destination again changes nothing more.
			_, err = e.client.Ensure(ctx, w)
			require.NoError(t, err)
			require.Equal(t, tt.effects(d.ID), e.effects())
		})
	}
}

func updated(id string) map[string]int {
	return map[string]int{"create-destination " + id: 1, "update-destination " + id: 1}
}

func TestUpdateRotatesCallbackSecret(t *testing.T) {
	e := setup(t, fitconnect.AuthInBody)
	ctx := context.Background()
	d, err := e.client.Ensure(ctx, want())
	require.NoError(t, err)
	w := want()
	w.CallbackSecret = "rotated-secret-0123456789abcdef0123456789"
	_, err = e.client.Update(ctx, "rotate-1", d.ID, w)
	require.NoError(t, err)
	stored, _ := e.fc.CallbackSecret(d.ID)
	require.Equal(t, w.CallbackSecret.Reveal(), stored)
}

func TestTokenCachedAndRefreshedAfterExpiry(t *testing.T) {
	e := setup(t, fitconnect.AuthInBody)
	ctx := context.Background()
	d, err := e.client.Ensure(ctx, want())
	require.NoError(t, err)

	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, err := e.client.Get(ctx, d.ID)
			require.NoError(t, err)
		})
	}
	wg.Wait()
	require.Equal(t, 1, e.fc.TokensIssued(), "one token request for many calls")

	e.clock.Advance(9 * time.Minute) // TTL 10 min, margin 30 s: still valid
	_, err = e.client.Get(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, 1, e.fc.TokensIssued())

	e.clock.Advance(time.Minute) // past TTL minus margin
	_, err = e.client.Get(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, 2, e.fc.TokensIssued(), "expired token replaced")
	require.Zero(t, e.fc.Unauthorized(), "the client refreshed before the server refused")
}

func TestUnauthorizedRefreshesTokenOnce(t *testing.T) {
	e := setup(t, fitconnect.AuthInBody)
	ctx := context.Background()
	d, err := e.client.Ensure(ctx, want())
	require.NoError(t, err)
	require.Equal(t, 1, e.fc.TokensIssued())

	e.fc.RevokeTokens()
	_, err = e.client.Get(ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, 2, e.fc.TokensIssued())
	require.Equal(t, 1, e.fc.Unauthorized())

	// A server that keeps refusing gets exactly one retry, then a permanent error.
	e.srv.Sim.AddFault(simulator.Fault{Method: http.MethodGet, PathPrefix: "/v1/destinations/", Status: http.StatusUnauthorized})
	before := e.srv.Sim.Counters().Requests["GET /v1/destinations/{id}"]
	_, err = e.client.Get(ctx, d.ID)
	requireSystemError(t, err, http.StatusUnauthorized, false)
	require.Equal(t, before+2, e.srv.Sim.Counters().Requests["GET /v1/destinations/{id}"])
	require.Equal(t, 3, e.fc.TokensIssued())
}

func TestRateLimitedIsRetryableWithRetryAfter(t *testing.T) {
	e := setup(t, fitconnect.AuthInBody)
	ctx := context.Background()
	e.srv.Sim.AddFault(simulator.Fault{Method: http.MethodPost, PathPrefix: "/v1/destinations", Status: http.StatusTooManyRequests,
		Times: 1, Headers: map[string]string{"Retry-After": "7"}})
	_, err := e.client.Ensure(ctx, want())
	se := requireSystemError(t, err, http.StatusTooManyRequests, true)
	require.Equal(t, 7*time.Second, se.RetryAfter)
	require.NotNil(t, se.Problem)
	require.Empty(t, e.effects())

	d, err := e.client.Ensure(ctx, want())
	require.NoError(t, err)
	require.Equal(t, map[string]int{"create-destination " + d.ID: 1}, e.effects())
}

func TestLostCreateAnswerCreatesOnce(t *testing.T) {
	e := setup(t, fitconnect.AuthInBody)
	ctx := context.Background()
	e.srv.Sim.AddFault(simulator.Fault{Method: http.MethodPost, PathPrefix: "/v1/destinations", Status: http.StatusBadGateway,
		Times: 1, AfterApply: true})
	_, err := e.client.Ensure(ctx, want())
	requireSystemError(t, err, http.StatusBadGateway, true)
	d, err := e.client.Ensure(ctx, want()) // the activity's retry
	require.NoError(t, err)
	require.Equal(t, map[string]int{"create-destination " + d.ID: 1}, e.effects())
}

func TestEnsureWithUnknownIDDoesNotCreate(t *testing.T) {
	e := setup(t, fitconnect.AuthInBody)
	w := want()
	w.ID = "00000004-0000-4000-8000-0000000000ff"
	_, err := e.client.Ensure(context.Background(), w)
	requireSystemError(t, err, http.StatusNotFound, false)
	require.Empty(t, e.effects())
}

func TestDestinationsBelongToTheirClient(t *testing.T) {
	e := setup(t, fitconnect.AuthInBody)
	ctx := context.Background()
	d, err := e.client.Ensure(ctx, want())
	require.NoError(t, err)
	other, err := fitconnect.NewTokenSource(fitconnect.Credentials{TokenURL: e.srv.URL + "/token",
		ClientID: "other", ClientSecret: "other-secret", Now: e.clock.Now})
	require.NoError(t, err)
	oc, err := fitconnect.New(e.srv.URL, other, nil)
	require.NoError(t, err)
	public, err := oc.Get(ctx, d.ID)
	require.NoError(t, err, "any API client (a sender) reads a destination")
	require.Equal(t, d.EncryptionKey.Kid, public.EncryptionKey.Kid)
	require.Empty(t, public.CallbackURL, "but not its callback")
	changed := want()
	changed.Name = "taken over"
	_, err = oc.Update(ctx, "u-other", d.ID, changed)
	requireSystemError(t, err, http.StatusNotFound, false)
	list, err := oc.List(ctx)
	require.NoError(t, err)
	require.Empty(t, list)
}

func TestBadInputNamesTheField(t *testing.T) {
	keys(t)
	tests := []struct {
		field  string
		change func(*fitconnect.Destination)
	}{
		{"name", func(d *fitconnect.Destination) { d.Name = " " }},
		{"callback.url", func(d *fitconnect.Destination) { d.CallbackURL = "" }},
		{"callback.url", func(d *fitconnect.Destination) { d.CallbackURL = "http://insecure.example/cb" }},
		{"callback.secret", func(d *fitconnect.Destination) { d.CallbackSecret = "" }},
		{"callback.secret", func(d *fitconnect.Destination) { d.CallbackSecret = fitconnect.Secret("short-" + callbackSecret[:10]) }},
		{"contact.legalName", func(d *fitconnect.Destination) { d.Contact.LegalName = "" }},
		{"contact.email", func(d *fitconnect.Destination) { d.Contact.Email = "nobody" }},
		{"replyChannels.eMail.pgpKey", func(d *fitconnect.Destination) { d.ReplyChannels.EMail.UsePGP = true }},
		{"metadataVersions", func(d *fitconnect.Destination) { d.MetadataVersions = nil }},
		{"metadataVersions[0]", func(d *fitconnect.Destination) { d.MetadataVersions = []string{"v1"} }},
		{"services", func(d *fitconnect.Destination) { d.Services = nil }},
		{"services[0].identifier", func(d *fitconnect.Destination) { d.Services[0].LeikaKey = "12345678901234" }},
		{"services[0].regions", func(d *fitconnect.Destination) { d.Services[0].Areas = nil }},
		{"services[0].regions[0]", func(d *fitconnect.Destination) { d.Services[0].Areas = []string{"05515"} }},
		{"services[0].submissionSchemas", func(d *fitconnect.Destination) { d.Services[0].SubmissionSchemas = nil }},
		{"services[0].submissionSchemas[0].mimeType", func(d *fitconnect.Destination) { d.Services[0].SubmissionSchemas[0].MimeType = "json" }},
		{"encryptionKey.n", func(d *fitconnect.Destination) { d.EncryptionKey = smallKey }},
		{"encryptionKey.alg", func(d *fitconnect.Destination) { d.EncryptionKey = sigKey }},
		{"encryptionKey.x5c", func(d *fitconnect.Destination) { d.EncryptionKey.X5C = nil }},
		{"encryptionKey.kid", func(d *fitconnect.Destination) { d.EncryptionKey.Kid = "short" }},
		{"signatureKey.alg", func(d *fitconnect.Destination) { k := encKey2; d.SignatureKey = &k }},
	}
	e := setup(t, fitconnect.AuthInBody)
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			w := want()
			w.Services[0].SubmissionSchemas = append([]fitconnect.SubmissionSchema(nil), w.Services[0].SubmissionSchemas...)
			w.ReplyChannels.EMail = &fitconnect.EMailChannel{}
			tt.change(&w)
			_, err := e.client.Ensure(context.Background(), w)
			requireSystemError(t, err, 0, false)
			require.Contains(t, err.Error(), tt.field+":")
			require.NotContains(t, err.Error(), callbackSecret[:10])
		})
	}
	require.Empty(t, e.srv.Sim.Counters().Requests, "nothing is sent for bad input")
}

func TestSecretsNeverInErrors(t *testing.T) {
	keys(t)
	t.Run("wrong client secret", func(t *testing.T) {
		e := setup(t, fitconnect.AuthInBody)
		ts, err := fitconnect.NewTokenSource(fitconnect.Credentials{TokenURL: e.srv.URL + "/token",
			ClientID: clientID, ClientSecret: clientSecret + "-wrong"})
		require.NoError(t, err)
		_, err = ts.Token(context.Background())
		requireSystemError(t, err, http.StatusUnauthorized, false)
		require.Contains(t, err.Error(), "invalid_client")
		require.NotContains(t, err.Error(), clientSecret)
	})
	t.Run("token endpoint echoes the request", func(t *testing.T) {
		for _, style := range []fitconnect.AuthStyle{fitconnect.AuthInBody, fitconnect.AuthInHeader} {
			echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_ = r.ParseForm()
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = fmt.Fprintf(w, `{"error":"invalid_request","error_description":"got %s %s"}`,
					r.PostForm.Encode(), r.Header.Get("Authorization"))
			}))
			ts, err := fitconnect.NewTokenSource(fitconnect.Credentials{TokenURL: echo.URL,
				ClientID: clientID, ClientSecret: "plain-secret", AuthStyle: style})
			require.NoError(t, err)
			_, err = ts.Token(context.Background())
			echo.Close()
			require.Error(t, err)
			require.Contains(t, err.Error(), "invalid_request")
			require.NotContains(t, err.Error(), "plain-secret")
		}
	})
	t.Run("callback secret echoed in a problem", func(t *testing.T) {
		echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/token" {
				w.Header().Set("Content-Type", "application/json")
				_, _ = fmt.Fprint(w, `{"access_token":"t","token_type":"bearer","expires_in":60}`)
				return
			}
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusUnprocessableEntity)
			_, _ = fmt.Fprintf(w, `{"title":"Invalid","detail":"callback.secret %s is weak"}`, callbackSecret)
		}))
		defer echo.Close()
		ts, err := fitconnect.NewTokenSource(fitconnect.Credentials{TokenURL: echo.URL + "/token", ClientID: clientID, ClientSecret: clientSecret})
		require.NoError(t, err)
		c, err := fitconnect.New(echo.URL, ts, nil)
		require.NoError(t, err)
		_, err = c.Create(context.Background(), "k1", want())
		requireSystemError(t, err, http.StatusUnprocessableEntity, false)
		require.Contains(t, err.Error(), "callback.secret [redacted] is weak")
		require.NotContains(t, err.Error(), callbackSecret)
	})
	t.Run("formatting credentials and destinations", func(t *testing.T) {
		cred := fitconnect.Credentials{TokenURL: "https://auth.example/token", ClientID: clientID, ClientSecret: clientSecret}
		d := want()
		for _, s := range []string{fmt.Sprint(cred), fmt.Sprintf("%+v %#v %q %x", cred, cred, cred.ClientSecret, cred.ClientSecret),
			fmt.Sprintf("%v %+v %#v", d, d, d)} {
			require.NotContains(t, s, clientSecret)
			require.NotContains(t, s, callbackSecret)
		}
	})
}

func TestCredentialsAreChecked(t *testing.T) {
	tests := []struct {
		field string
		cred  fitconnect.Credentials
	}{
		{"tokenURL", fitconnect.Credentials{TokenURL: "auth.example/token", ClientID: "c", ClientSecret: clientSecret}},
		{"tokenURL", fitconnect.Credentials{TokenURL: "https://c:" + clientSecret + "@auth.example/token", ClientID: "c", ClientSecret: clientSecret}},
		{"clientID", fitconnect.Credentials{TokenURL: "https://auth.example/token", ClientSecret: clientSecret}},
		{"clientSecret", fitconnect.Credentials{TokenURL: "https://auth.example/token", ClientID: "c"}},
		{"authStyle", fitconnect.Credentials{TokenURL: "https://auth.example/token", ClientID: "c", ClientSecret: clientSecret, AuthStyle: 7}},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			_, err := fitconnect.NewTokenSource(tt.cred)
			require.ErrorContains(t, err, tt.field+":")
			require.NotContains(t, err.Error(), clientSecret)
		})
	}
}

func TestAddKeyIsIdempotent(t *testing.T) {
	e := setup(t, fitconnect.AuthInBody)
	ctx := context.Background()
	d, err := e.client.Ensure(ctx, want())
	require.NoError(t, err)
	require.NoError(t, e.client.AddKey(ctx, "k-1", d.ID, sigKey))
	require.NoError(t, e.client.AddKey(ctx, "k-2", d.ID, sigKey)) // a new key, same JWK: 201, no effect
	require.Equal(t, 1, e.effects()["add-key "+d.ID+"/"+sigKey.Kid])
	k, found, err := e.client.Key(ctx, d.ID, sigKey.Kid)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, sigKey, k)
}
