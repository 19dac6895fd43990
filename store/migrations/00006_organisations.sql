-- Several Kommunalvertreter organisations in one installation: runs, campaigns and
-- services belong to one (empty: the installation's own, which is what every row written
-- before this migration belongs to). Project managers and operators list runs of their
-- organisation, hence the index.

-- +goose Up
ALTER TABLE services  ADD COLUMN organisation text NOT NULL DEFAULT ''
    CHECK (organisation ~ '^([a-z0-9][a-z0-9-]{0,39})?$');
ALTER TABLE runs      ADD COLUMN organisation text NOT NULL DEFAULT ''
    CHECK (organisation ~ '^([a-z0-9][a-z0-9-]{0,39})?$');
ALTER TABLE campaigns ADD COLUMN organisation text NOT NULL DEFAULT ''
    CHECK (organisation ~ '^([a-z0-9][a-z0-9-]{0,39})?$');
CREATE INDEX runs_organisation_id ON runs (organisation, id);

-- +goose Down
DROP INDEX runs_organisation_id;
ALTER TABLE campaigns DROP COLUMN organisation;
ALTER TABLE runs      DROP COLUMN organisation;
ALTER TABLE services  DROP COLUMN organisation;
