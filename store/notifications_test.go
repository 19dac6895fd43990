package store_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rollin-efa/rollin/store"
)

// TestNotificationsAreRecordedOncePerChannel: a notice sent on one channel is known as
// sent there only; recording it twice keeps the first record.
func TestNotificationsAreRecordedOncePerChannel(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const run = "rollin/055150000000/99107023037000"
	key := run + "/call-off/0/reminder"
	sent, err := b.store.NotificationSent(b.ctx, key, "email")
	require.NoError(t, err)
	require.False(t, sent)

	first := store.SentNotification{Key: key, Channel: "email", RunID: run, Detail: "wohngeld@muenster.example", SentAt: ts(0)}
	require.NoError(t, b.store.RecordNotification(b.ctx, first))
	again := first
	again.SentAt, again.Detail = ts(5), "someone else"
	require.NoError(t, b.store.RecordNotification(b.ctx, again))

	sent, err = b.store.NotificationSent(b.ctx, key, "email")
	require.NoError(t, err)
	require.True(t, sent)
	sent, err = b.store.NotificationSent(b.ctx, key, "webhook")
	require.NoError(t, err)
	require.False(t, sent, "the webhook is a channel of its own")

	hook := store.SentNotification{Key: key, Channel: "webhook", RunID: run, Detail: "hooks.example.org", SentAt: ts(1)}
	require.NoError(t, b.store.RecordNotification(b.ctx, hook))
	got, err := b.store.Notifications(b.ctx, run)
	require.NoError(t, err)
	require.Equal(t, []store.SentNotification{first, hook}, got)
	none, err := b.store.Notifications(b.ctx, "rollin/051110000000/99107023037000")
	require.NoError(t, err)
	require.Empty(t, none)

	for _, bad := range []store.SentNotification{{Channel: "email", SentAt: ts(0)}, {Key: key, SentAt: ts(0)}, {Key: key, Channel: "email"}} {
		require.True(t, errors.Is(b.store.RecordNotification(b.ctx, bad), store.ErrInvalid), "%+v", bad)
	}
}
