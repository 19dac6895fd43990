-- Which worker process recorded each audit event (its Temporal identity), so that an
-- operator can tell which process did what when several workers share the task queue.
-- Events written before this migration keep an empty worker.

-- +goose Up
ALTER TABLE audit_events ADD COLUMN worker text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE audit_events DROP COLUMN worker;
