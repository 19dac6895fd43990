package notify_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/systems"
	"github.com/rollin-efa/rollin/systems/notify"
)

var secret = []byte("0123456789abcdef0123456789abcdef-webhook")

// delivery is one request a test receiver got.
type delivery struct {
	header http.Header
	body   []byte
	err    error // what Verify said
}

// receiver is an httptest server that verifies each delivery with Verify, as a real
// receiver would, records it and answers status.
func receiver(t *testing.T, status int) (*httptest.Server, func() []delivery) {
	t.Helper()
	var (
		mu  sync.Mutex
		got []delivery
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body) // a short body fails Verify
		mu.Lock()
		got = append(got, delivery{header: r.Header.Clone(), body: body, err: notify.Verify(secret, r.Header, body, time.Minute, time.Now())})
		mu.Unlock()
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []delivery {
		mu.Lock()
		defer mu.Unlock()
		return append([]delivery(nil), got...)
	}
}

// TestWebhookIsSignedAndVerifies: the receiver's Verify accepts the delivery; its body
// is the event, its Idempotency-Key the event's ID; a changed body, another secret, an
// old or a future timestamp are refused.
func TestWebhookIsSignedAndVerifies(t *testing.T) {
	t.Parallel()
	srv, got := receiver(t, http.StatusNoContent)
	w, err := notify.NewWebhook(srv.URL+"/hooks/rollin", secret, nil)
	require.NoError(t, err)
	e := reminder()
	e.SentAt = time.Now()
	require.NoError(t, w.Send(t.Context(), e))

	ds := got()
	require.Len(t, ds, 1)
	d := ds[0]
	require.NoError(t, d.err)
	require.Equal(t, e.ID, d.header.Get("Idempotency-Key"))
	require.Equal(t, "application/json", d.header.Get("Content-Type"))
	require.Equal(t, strconv.FormatInt(e.SentAt.Unix(), 10), d.header.Get(notify.TimestampHeader))
	require.Regexp(t, `^sha256=[0-9a-f]{64}$`, d.header.Get(notify.SignatureHeader))

	var body map[string]any
	require.NoError(t, json.Unmarshal(d.body, &body))
	require.Equal(t, map[string]any{
		"event_id": e.ID, "kind": "reminder", "run_id": e.RunID, "ars": "055150000000", "service_key": "99107023037000",
		"step": "call-off", "action": "sign-agreement", "recipient": "municipality", "subject": germanSubject, "body": e.Body,
		"sent_at": e.SentAt.UTC().Truncate(time.Second).Format(time.RFC3339),
	}, body)

	now := time.Now()
	tampered := append([]byte(nil), d.body...)
	tampered[len(tampered)-3] ^= 1
	stale := d.header.Clone()
	stale.Set(notify.TimestampHeader, strconv.FormatInt(now.Add(-time.Hour).Unix(), 10))
	stale.Set(notify.SignatureHeader, notify.Sign(secret, now.Add(-time.Hour).Unix(), d.body))
	future := d.header.Clone()
	future.Set(notify.TimestampHeader, strconv.FormatInt(now.Add(time.Hour).Unix(), 10))
	future.Set(notify.SignatureHeader, notify.Sign(secret, now.Add(time.Hour).Unix(), d.body))
	moved := d.header.Clone() // a new timestamp under the old signature
	moved.Set(notify.TimestampHeader, strconv.FormatInt(now.Unix()+1, 10))
	noSig := d.header.Clone()
	noSig.Del(notify.SignatureHeader)
	for name, tc := range map[string]struct {
		secret []byte
		header http.Header
		body   []byte
		want   error
	}{
		"tampered body":       {secret, d.header, tampered, notify.ErrBadSignature},
		"other secret":        {[]byte("another-secret-another-secret-0000"), d.header, d.body, notify.ErrBadSignature},
		"timestamp moved":     {secret, moved, d.body, notify.ErrBadSignature},
		"no signature":        {secret, noSig, d.body, notify.ErrBadSignature},
		"an hour old":         {secret, stale, d.body, notify.ErrStale},
		"an hour in advance":  {secret, future, d.body, notify.ErrStale},
		"the delivery itself": {secret, d.header, d.body, nil},
	} {
		err := notify.Verify(tc.secret, tc.header, tc.body, time.Minute, now)
		if tc.want == nil {
			require.NoError(t, err, name)
			continue
		}
		require.True(t, errors.Is(err, tc.want), "%s: %v", name, err)
	}
}

// TestWebhookStatusClassification: 2xx is delivered; 408, 429 and 5xx are worth another
// attempt (with the receiver's Retry-After); every other answer, a redirect included,
// is permanent.
func TestWebhookStatusClassification(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status     int
		delivered  bool
		retryable  bool
		retryAfter time.Duration
	}{
		{http.StatusOK, true, false, 0},
		{http.StatusAccepted, true, false, 0},
		{http.StatusNoContent, true, false, 0},
		{http.StatusMovedPermanently, false, false, 0},
		{http.StatusBadRequest, false, false, 0},
		{http.StatusUnauthorized, false, false, 0},
		{http.StatusNotFound, false, false, 0},
		{http.StatusGone, false, false, 0},
		{http.StatusUnprocessableEntity, false, false, 0},
		{http.StatusRequestTimeout, false, true, 0},
		{http.StatusTooManyRequests, false, true, 7 * time.Second},
		{http.StatusInternalServerError, false, true, 0},
		{http.StatusBadGateway, false, true, 0},
		{http.StatusServiceUnavailable, false, true, 7 * time.Second},
	}
	for _, tc := range tests {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			t.Parallel()
			srv, got := receiver(t, tc.status)
			w, err := notify.NewWebhook(srv.URL, secret, &http.Client{Timeout: 5 * time.Second})
			require.NoError(t, err)
			err = w.Send(t.Context(), reminder())
			require.Len(t, got(), 1, "one request, no redirect followed")
			if tc.delivered {
				require.NoError(t, err)
				return
			}
			var se *systems.Error
			require.ErrorAs(t, err, &se)
			require.Equal(t, notify.SystemWebhook, se.System)
			require.Equal(t, tc.status, se.Status)
			require.Equal(t, tc.retryable, se.Retryable)
			require.Equal(t, tc.retryAfter, se.RetryAfter)
		})
	}
}

func TestWebhookReceiverDown(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	w, err := notify.NewWebhook(url, secret, nil)
	require.NoError(t, err)
	err = w.Send(t.Context(), reminder())
	require.Error(t, err)
	require.True(t, systems.IsRetryable(err), "%v", err)
}

func TestNewWebhookRefusesBadConfig(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		url    string
		secret []byte
	}{
		"not http":     {"ftp://hooks.example.org/rollin", secret},
		"no host":      {"https:///rollin", secret},
		"user info":    {"https://user:pw@hooks.example.org/rollin", secret},
		"short secret": {"https://hooks.example.org/rollin", []byte("too-short")},
	} {
		_, err := notify.NewWebhook(tc.url, tc.secret, nil)
		require.Error(t, err, name)
	}
}
