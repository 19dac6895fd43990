package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// SentNotification is a notice that went out on one channel (e-mail, webhook).
type SentNotification struct {
	// Key is the workflow's idempotency key of the notice.
	Key string
	// Channel is how it went out, e.g. "email" or "webhook".
	Channel string
	RunID   string
	// Detail says to whom: the recipients that accepted the mail, the webhook's host.
	Detail string
	SentAt time.Time
}

// NotificationSent reports whether the notice key went out on channel already, so that a
// retried notify activity skips the channels it delivered on before it failed.
func (s *Store) NotificationSent(ctx context.Context, key, channel string) (bool, error) {
	var sent bool
	if err := s.pool.QueryRow(ctx, notificationSentSQL, key, channel).Scan(&sent); err != nil {
		return false, fmt.Errorf("store: notification %s on %s sent?: %w", key, channel, err)
	}
	return sent, nil
}

// RecordNotification notes that n went out. Recording it again changes nothing.
func (s *Store) RecordNotification(ctx context.Context, n SentNotification) error {
	switch {
	case n.Key == "":
		return fmt.Errorf("store: record notification: key is empty: %w", ErrInvalid)
	case n.Channel == "":
		return fmt.Errorf("store: record notification %s: channel is empty: %w", n.Key, ErrInvalid)
	case n.SentAt.IsZero():
		return fmt.Errorf("store: record notification %s: sending time is zero: %w", n.Key, ErrInvalid)
	}
	if _, err := s.pool.Exec(ctx, recordNotificationSQL, n.Key, n.Channel, n.RunID, n.Detail, n.SentAt); err != nil {
		return fmt.Errorf("store: record notification %s on %s: %w", n.Key, n.Channel, err)
	}
	return nil
}

// Notifications lists what went out for a run, oldest first: who was told what, for an
// operator or a test.
func (s *Store) Notifications(ctx context.Context, runID string) ([]SentNotification, error) {
	rows, err := s.pool.Query(ctx, notificationsSQL, runID)
	if err != nil {
		return nil, fmt.Errorf("store: notifications of %s: %w", runID, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (SentNotification, error) {
		var n SentNotification
		err := row.Scan(&n.Key, &n.Channel, &n.RunID, &n.Detail, &n.SentAt)
		n.SentAt = n.SentAt.UTC()
		return n, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: notifications of %s: %w", runID, err)
	}
	return out, nil
}
