-- The notices that went out by e-mail or webhook, one row per notice and channel, keyed
-- by the workflow's idempotency key of the notice. The notify activity looks here before
-- it sends and records after, so a retried activity (after a partial failure: the mail
-- went, the webhook did not) sends each notice once per channel. A crash between sending
-- and recording can still repeat one delivery; it carries the same Message-ID or
-- Idempotency-Key, so the receiver can drop it. detail says to whom (the accepted
-- recipients, the webhook's host), for an operator asking who was told.

-- +goose Up
CREATE TABLE notifications_sent (
    idempotency_key text NOT NULL,
    channel         text NOT NULL CHECK (channel ~ '^[a-z][a-z0-9-]*$'),
    run_id          text NOT NULL,
    detail          text NOT NULL DEFAULT '',
    sent_at         timestamptz NOT NULL,
    PRIMARY KEY (idempotency_key, channel)
);
CREATE INDEX notifications_sent_run ON notifications_sent (run_id, sent_at);

-- +goose Down
DROP TABLE notifications_sent;
