-- +goose Up
-- Campaigns roll one service out to many municipalities. The campaign workflow writes its
-- own progress here; the states of its roll-ins are counted from runs via campaign_runs.
CREATE TABLE campaigns (
    id          text PRIMARY KEY,
    service     text NOT NULL,
    selector    text NOT NULL,
    state       text NOT NULL,
    total       integer NOT NULL,
    started     integer NOT NULL,
    existing    integer NOT NULL,
    failed      integer NOT NULL,
    reason      text NOT NULL DEFAULT '',
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    seq         bigint NOT NULL
);

-- The roll-ins a campaign covers; a run may belong to several overlapping campaigns.
CREATE TABLE campaign_runs (
    campaign_id text NOT NULL REFERENCES campaigns (id),
    run_id      text NOT NULL,
    PRIMARY KEY (campaign_id, run_id)
);

-- +goose Down
DROP TABLE campaign_runs;
DROP TABLE campaigns;
