-- The data schemas of a service's submissions, from its Steckbrief: the destination step
-- lists them in each municipality's FIT-Connect destination. A JSON array of
-- {"schema_uri", "mime_type"}; services stored before keep an empty list until their
-- Steckbrief is imported again.

-- +goose Up
ALTER TABLE services ADD COLUMN submission_schemas jsonb NOT NULL DEFAULT '[]'
    CHECK (jsonb_typeof(submission_schemas) = 'array');

-- +goose Down
ALTER TABLE services DROP COLUMN submission_schemas;
