-- The Land/Kreis hierarchy from the Destatis Kreis list, for filters and for choosing a
-- campaign's Kreis; and an index for the operators' bulk actions, which select runs by the
-- step they wait on (the step with the incident).

-- +goose Up
-- kreise has no foreign key from municipalities on purpose: the Kreis list and the
-- Gemeindeverzeichnis are published separately and may be loaded in either order.
CREATE TABLE kreise (
    key        text PRIMARY KEY CHECK (key ~ '^[0-9]{5}$'),
    name       text        NOT NULL,
    type       text        NOT NULL DEFAULT '',
    land       text        NOT NULL CHECK (land ~ '^[0-9]{2}$' AND land = left(key, 2)),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX kreise_land_key ON kreise (land, key);

CREATE INDEX runs_waiting_step_id ON runs (waiting_step, id);

-- +goose Down
DROP INDEX runs_waiting_step_id;
DROP TABLE kreise;
