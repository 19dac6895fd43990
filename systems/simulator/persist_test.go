package simulator_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/systems/simulator"
)

// restart is how a test brings a simulator with a state directory back: after a clean
// Close, or after a crash — the state directory as the kernel holds it while the process
// still runs (unsynced writes included), with a torn record at the end, as a kill -9
// during a write leaves it.
type restart struct {
	name  string
	again func(t *testing.T, srv *simulator.Server, dir string, kind simulator.Kind) string
}

var restarts = []restart{
	{"closed", func(t *testing.T, srv *simulator.Server, dir string, _ simulator.Kind) string {
		require.NoError(t, srv.Close())
		return dir
	}},
	{"crashed", func(t *testing.T, srv *simulator.Server, dir string, kind simulator.Kind) string {
		t.Cleanup(func() { _ = srv.Close() }) // the "crashed" one still holds dir's lock
		raw, err := os.ReadFile(filepath.Join(dir, simulator.JournalFile(kind)))
		require.NoError(t, err)
		copyDir := t.TempDir()
		torn := append(raw, 0, 0, 1, 0, 0xde, 0xad, 0xbe, 0xef, '[', '{') // a record cut off mid-write
		require.NoError(t, os.WriteFile(filepath.Join(copyDir, simulator.JournalFile(kind)), torn, 0o600))
		return copyDir
	}},
}

// exchange is one request to a simulator and the status it must get.
type exchange struct {
	method, path, key, body string
	status                  int
}

func (e exchange) do(t *testing.T, srv *simulator.Server, tok string) answer {
	t.Helper()
	a := authCall(t, e.method, srv.URL+e.path, tok, e.key, e.body)
	require.Equal(t, e.status, a.status, "%s %s: %s", e.method, e.path, a.body)
	return a
}

// TestStateSurvivesRestart drives each simulator through its effects with a state
// directory, restarts it (cleanly, or from a crash image with a torn last record), and
// requires that everything it answered before is still there: the objects the next call
// refers to, the counters, the idempotency keys (a retried call is a repeat, not a new
// effect), and new IDs that do not collide with old ones.
func TestStateSurvivesRestart(t *testing.T) {
	t.Parallel()
	link := `{"ars":"055150000000","serviceKey":"99050012104000","orgUnitId":"ou-1","destinationId":"00000004-0000-4000-8000-000000000001","transport":"fit-connect"}`
	notice := `{"ars":"055150000000","serviceKey":"99050012104000","recipient":"municipality","kind":"waiting","subject":"s","body":"b","action":"sign-agreement","step":"framework-agreement"}`
	agreement := `{"ars":"055150000000","kind":"framework","signedBy":"a","countersignedBy":"b"}`
	tests := []struct {
		kind   simulator.Kind
		cfg    simulator.Config
		before []exchange
		// after runs on the restarted simulator; {id} is the ID the first exchange
		// created, {sub} the second's.
		after []exchange
	}{
		{kind: simulator.Provider, cfg: simulator.Config{TestPolls: 1},
			before: []exchange{
				{"POST", "/v1/tenants", "t1", tenantBody, 201},
				{"POST", "/v1/test-submissions", "s1", `{"tenantId":"{id}","ars":"055150000000","serviceKey":"99050012104000","transport":"fit-connect","destinationId":"d"}`, 201},
				{"GET", "/v1/test-submissions/{sub}", "", "", 200},
			},
			after: []exchange{
				{"GET", "/v1/test-submissions/{sub}", "", "", 200}, // the second GET: accepted
				{"POST", "/v1/tenants/{id}/production", "p1", "", 200},
			}},
		{kind: simulator.State, cfg: simulator.Config{RoutingLag: 1},
			before: []exchange{
				{"POST", "/pvog/v1/links", "l1", link, 201},
				{"POST", "/pvog/v1/links", "l2", strings.Replace(link, "99050012104000", "99050012104001", 1), 201},
				{"GET", "/routes?leikaKey=99050012104000&ars=055150000000", "", "", 200}, // lag 1 → 0: still empty
			},
			after: []exchange{
				{"GET", "/routes?leikaKey=99050012104000&ars=055150000000", "", "", 200}, // the route shows
				{"POST", "/pvog/v1/links/{id}/activate", "a1", "", 200},
				{"POST", "/dvdv/v1/entries", "d1", `{"ars":"055150000000","serviceKey":"99050012104000","orgKey":"dvd:055150000000"}`, 201},
			}},
		{kind: simulator.Municipality,
			before: []exchange{
				{"POST", "/v1/notifications", "n1", notice, 202},
				{"POST", "/v1/agreements", "f1", agreement, 201},
			},
			after: []exchange{
				{"POST", "/v1/notifications", "n2", strings.Replace(notice, `"waiting"`, `"reminder"`, 1), 202},
			}},
	}
	for _, tt := range tests {
		for _, rs := range restarts {
			t.Run(string(tt.kind)+"/"+rs.name, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				cfg := tt.cfg
				cfg.StateDir = dir
				srv, err := simulator.Start(tt.kind, cfg, "")
				require.NoError(t, err)
				ids := map[string]string{}
				fill := func(s string) string {
					return strings.NewReplacer("{id}", ids["{id}"], "{sub}", ids["{sub}"]).Replace(s)
				}
				var answers []answer
				for i, e := range tt.before {
					e.path, e.body = fill(e.path), fill(e.body)
					a := e.do(t, srv, "")
					answers = append(answers, a)
					var created struct{ ID string }
					_ = json.Unmarshal(a.body, &created)
					ids[[]string{"{id}", "{sub}", "{x}"}[i]] = created.ID
				}
				before := srv.Sim.Counters()

				cfg.StateDir = rs.again(t, srv, dir, tt.kind)
				srv2, err := simulator.Start(tt.kind, cfg, "")
				require.NoError(t, err)
				t.Cleanup(func() { require.NoError(t, srv2.Close()) })
				require.Equal(t, before.Effects, srv2.Sim.Counters().Effects)
				require.Equal(t, before.Keys, srv2.Sim.Counters().Keys)

				// Every mutating call again, with its key: the stored answer, no new effect.
				for i, e := range tt.before {
					if e.key == "" {
						continue
					}
					e.path, e.body = fill(e.path), fill(e.body)
					a := e.do(t, srv2, "")
					require.Equal(t, "true", a.header.Get("Idempotent-Replayed"), "%s %s", e.method, e.path)
					require.JSONEq(t, string(answers[i].body), string(a.body))
				}
				require.Equal(t, before.Effects, srv2.Sim.Counters().Effects, "repeats after the restart applied nothing")
				for _, e := range tt.after {
					e.path, e.body = fill(e.path), fill(e.body)
					a := e.do(t, srv2, "")
					var created struct{ ID, State string }
					_ = json.Unmarshal(a.body, &created)
					if a.status == http.StatusCreated {
						require.NotContains(t, ids, created.ID, "IDs continue after the restart")
						require.NotEqual(t, ids["{id}"], created.ID)
						require.NotEqual(t, ids["{sub}"], created.ID)
					}
					if tt.kind == simulator.Provider && e.method == http.MethodGet {
						require.Equal(t, "accepted", created.State, "the polls before the restart counted")
					}
					if tt.kind == simulator.State && e.method == http.MethodGet {
						var routes struct{ TotalCount int }
						require.NoError(t, json.Unmarshal(a.body, &routes))
						require.Equal(t, 1, routes.TotalCount, "the routing lag went on where it was")
					}
				}
				after := srv2.Sim.Counters()
				for effect, n := range after.Effects {
					require.Equal(t, 1, n, effect)
				}
				first := tt.before[0].method + " " + tt.before[0].path
				since := 0 // the repeats and the calls after the restart
				for _, e := range append(slices.Clone(tt.before), tt.after...) {
					if e.method+" "+e.path == first {
						since++
					}
				}
				require.Equal(t, before.Requests[first]+since, after.Requests[first], "request counters continue")
			})
		}
	}
}

// TestFitConnectStateSurvivesRestart restarts the FIT-Connect simulator in the middle of
// a test submission: the token issued before still works, the destination and the
// submission are found, a repeated announce is a repeat, and the events signed before
// and after the restart verify against the keys the simulator publishes after it.
func TestFitConnectStateSurvivesRestart(t *testing.T) {
	t.Parallel()
	for _, rs := range restarts {
		t.Run(rs.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := simulator.Config{StateDir: dir, TestPolls: 1}
			fcCfg := simulator.FitConnectConfig{Clients: map[string]string{"muenster": fcSecret}, TokenTTL: time.Minute}
			srv, _, err := simulator.StartFitConnect(cfg, fcCfg, "")
			require.NoError(t, err)
			tok := token(t, srv, "muenster", fcSecret)
			created := exchange{"POST", "/v1/destinations", "c1", destinationBody(t, nil), 201}.do(t, srv, tok)
			var dest struct{ DestinationID string }
			created.json(t, &dest)
			announce := exchange{"POST", "/v1/submissions", "a1", `{"destinationId":"` + dest.DestinationID +
				`","announcedAttachments":[],"serviceType":{"name":"Wohngeld","identifier":"urn:de:fim:leika:leistung:` + service + `"}}`, 201}
			var ref struct{ SubmissionID, CaseID string }
			announce.do(t, srv, tok).json(t, &ref)
			jwe := fakeJWE(fcJWK(t).Kid)
			exchange{"PUT", "/v1/submissions/" + ref.SubmissionID, "p1", `{"encryptedMetadata":"` + jwe + `","encryptedData":"` + jwe + `"}`, 202}.do(t, srv, tok)
			exchange{"GET", "/v1/cases/" + ref.CaseID + "/events", "", "", 200}.do(t, srv, tok) // one read: not decided yet
			jwksBefore := exchange{"GET", "/.well-known/jwks.json", "", "", 200}.do(t, srv, "")
			before := srv.Sim.Counters()

			cfg.StateDir = rs.again(t, srv, dir, simulator.FitConnectKind)
			srv2, fc2, err := simulator.StartFitConnect(cfg, fcCfg, "")
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, srv2.Close()) })
			require.Equal(t, before.Effects, srv2.Sim.Counters().Effects)
			require.Equal(t, 1, fc2.TokensIssued())

			exchange{"GET", "/v1/destinations/" + dest.DestinationID, "", "", 200}.do(t, srv2, tok) // the old token
			again := announce.do(t, srv2, tok)
			require.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
			secret, ok := fc2.CallbackSecret(dest.DestinationID)
			require.True(t, ok)
			require.Equal(t, "0123456789abcdef0123456789abcdef", secret)
			jwks := exchange{"GET", "/.well-known/jwks.json", "", "", 200}.do(t, srv2, "")
			require.JSONEq(t, string(jwksBefore.body), string(jwks.body), "the same service key after the restart")

			var log struct{ EventLog []string }
			exchange{"GET", "/v1/cases/" + ref.CaseID + "/events", "", "", 200}.do(t, srv2, tok).json(t, &log) // the second read decides
			require.Len(t, log.EventLog, 3, "create, submit, accept")
			var keys jose.JSONWebKeySet
			jwks.json(t, &keys)
			for i, set := range log.EventLog {
				obj, err := jose.ParseSigned(set, []jose.SignatureAlgorithm{jose.PS512})
				require.NoError(t, err)
				kid := obj.Signatures[0].Header.KeyID
				var key jose.JSONWebKey
				if found := keys.Key(kid); len(found) > 0 {
					key = found[0]
				} else { // the receiving system's key, published among the destination's
					exchange{"GET", "/v1/destinations/" + dest.DestinationID + "/keys/" + kid, "", "", 200}.do(t, srv2, tok).json(t, &key)
				}
				_, err = obj.Verify(key)
				require.NoError(t, err, "event %d", i)
			}
			effects := srv2.Sim.Counters().Effects
			require.Equal(t, map[string]int{"create-destination " + dest.DestinationID: 1,
				"announce-submission " + ref.SubmissionID: 1, "submit-submission " + ref.SubmissionID: 1}, effects)
		})
	}
}

// fakeJWE is a compact JWE whose header the submission service accepts (the simulator
// without the receiver's key cannot look further).
func fakeJWE(kid string) string {
	h, _ := json.Marshal(map[string]string{"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": kid})
	e := base64.RawURLEncoding
	return e.EncodeToString(h) + "." + e.EncodeToString([]byte("k")) + "." + e.EncodeToString([]byte("iv")) + "." +
		e.EncodeToString([]byte("c")) + "." + e.EncodeToString([]byte("tag"))
}

// TestStateDirIsExclusive keeps a second process (here: a second simulator) off state
// that one already writes, and lets it in once that one closed.
func TestStateDirIsExclusive(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first, err := simulator.Start(simulator.Provider, simulator.Config{StateDir: dir}, "")
	require.NoError(t, err)
	_, err = simulator.Start(simulator.Provider, simulator.Config{StateDir: dir}, "")
	require.ErrorContains(t, err, "in use by another process")
	other, err := simulator.Start(simulator.State, simulator.Config{StateDir: dir}, "")
	require.NoError(t, err, "each kind has its own journal")
	require.NoError(t, other.Close())
	require.NoError(t, first.Close())
	again, err := simulator.Start(simulator.Provider, simulator.Config{StateDir: dir}, "")
	require.NoError(t, err)
	require.NoError(t, again.Close())
	require.Panics(t, func() { simulator.New(simulator.Provider, simulator.Config{StateDir: dir}) }, "New is in memory only")
}

// TestJournalSpeed measures what durability costs: concurrent clients create tenants in
// memory and with a state directory, where each answer waits for its fsync. It reports
// the rates; the bound only catches a journal that stopped sharing its syncs.
func TestJournalSpeed(t *testing.T) {
	const clients, each = 16, 40
	for _, tc := range []struct {
		name string
		dir  func(t *testing.T) string
	}{
		{"memory", func(*testing.T) string { return "" }},
		{"journal", func(t *testing.T) string { return t.TempDir() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := simulator.Start(simulator.Provider, simulator.Config{StateDir: tc.dir(t)}, "")
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, srv.Close()) })
			began := time.Now()
			errs := make(chan error, clients)
			for c := range clients {
				go func() { errs <- createTenants(t, srv.URL, c, each) }()
			}
			for range clients {
				require.NoError(t, <-errs)
			}
			took := time.Since(began)
			t.Logf("%s: %d creates by %d clients in %s: %.0f/s", tc.name, clients*each, clients,
				took.Round(time.Millisecond), float64(clients*each)/took.Seconds())
			require.Less(t, took, 30*time.Second)
			require.Len(t, srv.Sim.Counters().Effects, 1)
			require.Equal(t, clients*each, srv.Sim.Counters().Effects["create-tenant "+ars+"/"+service])
		})
	}
}

// createTenants creates n tenants with keys of client c.
func createTenants(t *testing.T, url string, c, n int) error {
	for i := range n {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/v1/tenants", strings.NewReader(tenantBody))
		if err != nil {
			return err
		}
		req.Header.Set("Idempotency-Key", fmt.Sprintf("k-%d-%d", c, i))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
	}
	return nil
}
