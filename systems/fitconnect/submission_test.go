package fitconnect_test

import (
	"encoding/json"
	"net/http"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/systems"
	"github.com/rollin-efa/rollin/systems/fitconnect"
)

const (
	senderID     = "rollin-test-sender"
	senderSecret = "sender-secret-0123456789abcdef-do-not-leak"
)

// submissionEnv is a destination made by the subscriber and a sender client for it.
type submissionEnv struct {
	*env
	dest   fitconnect.Destination
	sender *fitconnect.Client
}

func setupSubmission(t *testing.T) submissionEnv {
	t.Helper()
	e := setup(t, fitconnect.AuthInBody)
	d, err := e.client.Ensure(t.Context(), want())
	require.NoError(t, err)
	ts, err := fitconnect.NewTokenSource(fitconnect.Credentials{TokenURL: e.srv.URL + "/token",
		ClientID: senderID, ClientSecret: senderSecret, Now: e.clock.Now})
	require.NoError(t, err)
	sender, err := fitconnect.New(e.srv.URL, ts, nil)
	require.NoError(t, err)
	return submissionEnv{env: e, dest: d, sender: sender}
}

func (e submissionEnv) test() fitconnect.TestSubmission {
	return fitconnect.TestSubmission{DestinationID: e.dest.ID, ServiceName: "Bürgeramt", LeikaKey: leika,
		Data: []byte(`{"rollinTest":true,"ars":"` + ars + `"}`)}
}

// submit announces and submits e's test submission under the run's keys.
func (e submissionEnv) submit(t *testing.T, run string) fitconnect.Sent {
	t.Helper()
	sent, err := e.sender.Prepare(t.Context(), run+"/announce", e.test())
	require.NoError(t, err)
	require.NoError(t, e.sender.Submit(t.Context(), run+"/submit", sent))
	return sent
}

// follow reads the event log until the receiving system decided, at most ten times.
func follow(t *testing.T, c *fitconnect.Client, s fitconnect.Sent) fitconnect.Verdict {
	t.Helper()
	for range 10 {
		v, err := c.Verdict(t.Context(), s)
		require.NoError(t, err)
		if v.Final {
			return v
		}
	}
	t.Fatal("no verdict after ten reads of the event log")
	return fitconnect.Verdict{}
}

func TestTestSubmissionIsAcceptedAndRepeatsNothing(t *testing.T) {
	e := setupSubmission(t)
	ctx := t.Context()
	sent, err := e.sender.Prepare(ctx, "run-1/announce", e.test())
	require.NoError(t, err)
	require.Equal(t, e.dest.ID, sent.DestinationID)

	v, err := e.sender.Verdict(ctx, sent)
	require.NoError(t, err)
	require.False(t, v.Submitted, "announced, not submitted")
	require.Equal(t, []string{fitconnect.EventCreate}, v.Events)

	require.NoError(t, e.sender.Submit(ctx, "run-1/submit", sent))
	// A retry after a lost answer sends the same bytes under the same key: applied once.
	require.NoError(t, e.sender.Submit(ctx, "run-1/submit", sent))
	again, err := e.sender.Prepare(ctx, "run-1/announce", e.test())
	require.NoError(t, err)
	require.Equal(t, sent.SubmissionID, again.SubmissionID, "the same announcement key names the same submission")

	v = follow(t, e.sender, sent)
	require.True(t, v.Accepted, "problems: %s", v.Problem())
	require.Equal(t, []string{fitconnect.EventCreate, fitconnect.EventSubmit, fitconnect.EventAccept}, v.Events)
	effects := e.effects()
	for _, op := range []string{"announce-submission", "submit-submission"} {
		require.Equal(t, 1, effects[op+" "+sent.SubmissionID], op)
	}
}

func TestTestSubmissionRejectedNamesTheProblem(t *testing.T) {
	e := setupSubmission(t)
	e.srv.Sim.RejectTests(ars, systems.Problem{Title: "Fachverfahren", Detail: "Mandant 0815 unbekannt"})
	sent := e.submit(t, "run-2")
	v := follow(t, e.sender, sent)
	require.False(t, v.Accepted)
	require.Equal(t, fitconnect.EventReject, v.Events[len(v.Events)-1])
	require.Contains(t, v.Problem(), "Mandant 0815 unbekannt")
}

func TestReceivingSystemChecksWhatItDecrypts(t *testing.T) {
	e := setupSubmission(t)
	sent, err := e.sender.Prepare(t.Context(), "run-3/announce", e.test())
	require.NoError(t, err)
	// Data that does not match the metadata's hash: encrypted right, but not what the
	// metadata announced.
	other, _, err := fitconnect.Encrypt(encKey, "application/json", []byte(`{"something":"else"}`))
	require.NoError(t, err)
	sent.EncryptedData = other
	require.NoError(t, e.sender.Submit(t.Context(), "run-3/submit", sent))
	v := follow(t, e.sender, sent)
	require.False(t, v.Accepted)
	require.Contains(t, v.Problem(), "contentStructure.data.hash")
}

func TestAcceptanceOfOtherContentIsNoAcceptance(t *testing.T) {
	e := setupSubmission(t)
	sent := e.submit(t, "run-4")
	require.True(t, follow(t, e.sender, sent).Accepted)

	// The same event log read by a sender that believes it sent other data: the tags the
	// receiving system quotes do not match.
	mixed := sent
	var err error
	mixed.EncryptedData, _, err = fitconnect.Encrypt(encKey, "application/json", e.test().Data)
	require.NoError(t, err)
	v, err := e.sender.Verdict(t.Context(), mixed)
	require.NoError(t, err)
	require.True(t, v.Final)
	require.False(t, v.Accepted)
	require.Contains(t, v.Problem(), "authentication tags differ")
}

func TestEventLogOfAnotherSubmissionIsAnError(t *testing.T) {
	e := setupSubmission(t)
	a, err := e.sender.Prepare(t.Context(), "run-5/announce", e.test())
	require.NoError(t, err)
	b, err := e.sender.Prepare(t.Context(), "run-6/announce", e.test())
	require.NoError(t, err)
	a.CaseID = b.CaseID // a's ID with b's case: b's events are not about a
	_, err = e.sender.Verdict(t.Context(), a)
	require.ErrorContains(t, err, "not about this submission")
}

func TestPrepareChecksTheDestinationFirst(t *testing.T) {
	e := setupSubmission(t)
	bad := e.test()
	bad.LeikaKey = "99999999999999"
	_, err := e.sender.Prepare(t.Context(), "run-7/announce", bad)
	require.ErrorContains(t, err, "does not offer LeiKa 99999999999999")
	require.Empty(t, e.effects()["announce-submission"], "nothing announced")

	bad = e.test()
	bad.DestinationID = "00000000-0000-4000-8000-000000000000"
	_, err = e.sender.Prepare(t.Context(), "run-8/announce", bad)
	requireSystemError(t, err, http.StatusNotFound, false)
}

// sign makes a SET signed by priv under kid, with header type typ.
func sign(t *testing.T, kid, typ string, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.PS512, Key: jose.JSONWebKey{Key: sigPriv, KeyID: kid}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	require.NoError(t, err)
	payload, err := json.Marshal(claims)
	require.NoError(t, err)
	obj, err := signer.Sign(payload)
	require.NoError(t, err)
	s, err := obj.CompactSerialize()
	require.NoError(t, err)
	return s
}

func TestVerifySETChecksSignatureKeyAndType(t *testing.T) {
	keys(t)
	claims := map[string]any{"iss": "d", "sub": "submission:s", "txn": "case:c", "iat": 1, "jti": "j",
		"events": map[string]any{fitconnect.EventAccept: map[string]any{}}}
	good := sign(t, sigKey.Kid, "secevent+jwt", claims)
	set, err := fitconnect.VerifySET(good, sigKey)
	require.NoError(t, err)
	uri, _, err := set.Event()
	require.NoError(t, err)
	require.Equal(t, fitconnect.EventAccept, uri)

	// Another key under the same kid: the signature does not verify.
	impostor := encKey
	impostor.Alg, impostor.Kid = fitconnect.AlgSignature, sigKey.Kid
	_, err = fitconnect.VerifySET(good, impostor)
	require.ErrorContains(t, err, "signature does not verify")

	_, err = fitconnect.VerifySET(sign(t, sigKey.Kid, "JWT", claims), sigKey)
	require.ErrorContains(t, err, "typ: want secevent+jwt")

	_, err = fitconnect.VerifySET(good, encKey)
	require.ErrorContains(t, err, "alg: want PS512")

	tampered := []byte(good)
	tampered[len(tampered)/2] ^= 1
	_, err = fitconnect.VerifySET(string(tampered), sigKey)
	require.Error(t, err)
}

func TestEncryptRefusesAKeyNotForEncryption(t *testing.T) {
	keys(t)
	_, _, err := fitconnect.Encrypt(sigKey, "application/json", []byte(`{}`))
	require.ErrorContains(t, err, "alg: want RSA-OAEP-256")
	_, _, err = fitconnect.Encrypt(smallKey, "application/json", []byte(`{}`))
	require.ErrorContains(t, err, "at least 4096 bits")
}
