-- Rollin's schema: the service catalogue (EfA-Steckbriefe), the municipality register with
-- what Rollin knows of each municipality, and the read model of roll-in runs with its
-- append-only audit log. Keys are checked here as well as in Go so that rows written by
-- hand (psql, a repair script) cannot break the readers.

-- +goose Up
CREATE TABLE services (
    key                   text PRIMARY KEY CHECK (key ~ '^99[0-9]{12}$'),
    name                  text        NOT NULL,
    provider              text        NOT NULL,
    fachverfahren         text[]      NOT NULL DEFAULT '{}',
    transports            text[]      NOT NULL DEFAULT '{}',
    payment_required      boolean     NOT NULL DEFAULT false,
    user_account_required boolean     NOT NULL DEFAULT false,
    dpa_required          boolean     NOT NULL DEFAULT false,
    lands                 text[]      NOT NULL DEFAULT '{}',
    activation_dates      timestamptz[] NOT NULL DEFAULT '{}',
    costs                 text        NOT NULL DEFAULT '',
    contacts              jsonb       NOT NULL DEFAULT '[]',
    updated_at            timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE municipalities (
    ars        text PRIMARY KEY CHECK (ars ~ '^[0-9]{12}$'),
    ags        text        NOT NULL CHECK (ags ~ '^[0-9]{8}$'),
    name       text        NOT NULL,
    land       text        NOT NULL CHECK (land ~ '^[0-9]{2}$'),
    kreis      text        NOT NULL CHECK (kreis ~ '^[0-9]{5}$'),
    kreis_name text        NOT NULL DEFAULT '',
    population integer     NOT NULL DEFAULT 0 CHECK (population >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- Filters by Land or Kreis page in ARS order.
CREATE INDEX municipalities_land_ars ON municipalities (land, ars);
CREATE INDEX municipalities_kreis_ars ON municipalities (kreis, ars);

CREATE TABLE municipality_profiles (
    ars           text PRIMARY KEY REFERENCES municipalities (ars) ON DELETE CASCADE,
    fachverfahren text[]      NOT NULL DEFAULT '{}',
    transports    text[]      NOT NULL DEFAULT '{}',
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE framework_agreements (
    ars         text PRIMARY KEY REFERENCES municipalities (ars),
    signed_by   text        NOT NULL,
    signed_at   timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

-- runs is a projection of workflow state. It has no foreign keys to the register or the
-- catalogue on purpose: a projection must never fail because reference data was reloaded.
CREATE TABLE runs (
    id             text PRIMARY KEY,
    ars            text        NOT NULL,
    service        text        NOT NULL,
    land           text        NOT NULL,
    kreis          text        NOT NULL,
    state          text        NOT NULL,
    stage          text        NOT NULL,
    waiting_action text,
    waiting_role   text,
    waiting_step   text,
    waiting_note   text,
    reason         text        NOT NULL DEFAULT '',
    seq            bigint      NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
-- One index per filter, each ending in id so a filtered page is an index range scan in
-- keyset order.
CREATE INDEX runs_state_id   ON runs (state, id);
CREATE INDEX runs_stage_id   ON runs (stage, id);
CREATE INDEX runs_service_id ON runs (service, id);
CREATE INDEX runs_land_id    ON runs (land, id);
CREATE INDEX runs_kreis_id   ON runs (kreis, id);
CREATE INDEX runs_ars_id     ON runs (ars, id);

CREATE TABLE run_steps (
    run_id     text        NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    position   integer     NOT NULL,
    name       text        NOT NULL,
    stage      text        NOT NULL,
    state      text        NOT NULL,
    attempts   integer     NOT NULL DEFAULT 0,
    last_error text        NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (run_id, position)
);

CREATE TABLE audit_events (
    run_id text        NOT NULL REFERENCES runs (id),
    seq    bigint      NOT NULL,
    at     timestamptz NOT NULL,
    actor  text        NOT NULL,
    role   text        NOT NULL,
    action text        NOT NULL,
    step   text        NOT NULL DEFAULT '',
    reason text        NOT NULL DEFAULT '',
    detail text        NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, seq)
);

-- The audit log is evidence: refuse every change to a written event, whoever tries.
-- +goose StatementBegin
CREATE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER audit_events_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- +goose Down
DROP TABLE audit_events;
DROP FUNCTION audit_events_append_only();
DROP TABLE run_steps;
DROP TABLE runs;
DROP TABLE framework_agreements;
DROP TABLE municipality_profiles;
DROP TABLE municipalities;
DROP TABLE services;
