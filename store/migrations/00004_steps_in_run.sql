-- A run's steps move into the run's row, as parallel arrays in plan order (element i of
-- each array is step i). A status read is then one primary-key lookup instead of a join
-- over a dozen step rows, decoded from PostgreSQL's binary array format, and a transition
-- writes one row instead of deleting and re-inserting every step. Nothing selects single
-- steps: the operators' bulk actions filter on runs.waiting_step.

-- +goose Up
ALTER TABLE runs
    ADD COLUMN step_names    text[]        NOT NULL DEFAULT '{}',
    ADD COLUMN step_stages   text[]        NOT NULL DEFAULT '{}',
    ADD COLUMN step_states   text[]        NOT NULL DEFAULT '{}',
    ADD COLUMN step_attempts integer[]     NOT NULL DEFAULT '{}',
    ADD COLUMN step_errors   text[]        NOT NULL DEFAULT '{}',
    ADD COLUMN step_updated  timestamptz[] NOT NULL DEFAULT '{}',
    ADD CONSTRAINT runs_steps_aligned CHECK (
        cardinality(step_stages) = cardinality(step_names) AND
        cardinality(step_states) = cardinality(step_names) AND
        cardinality(step_attempts) = cardinality(step_names) AND
        cardinality(step_errors) = cardinality(step_names) AND
        cardinality(step_updated) = cardinality(step_names));
UPDATE runs r SET
    step_names = s.names, step_stages = s.stages, step_states = s.states,
    step_attempts = s.attempts, step_errors = s.errors, step_updated = s.updated
FROM (
    SELECT run_id,
           array_agg(name ORDER BY position)       AS names,
           array_agg(stage ORDER BY position)      AS stages,
           array_agg(state ORDER BY position)      AS states,
           array_agg(attempts ORDER BY position)   AS attempts,
           array_agg(last_error ORDER BY position) AS errors,
           array_agg(updated_at ORDER BY position) AS updated
    FROM run_steps GROUP BY run_id
) s
WHERE s.run_id = r.id;
DROP TABLE run_steps;

-- +goose Down
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
INSERT INTO run_steps (run_id, position, name, stage, state, attempts, last_error, updated_at)
SELECT r.id, s.ord - 1, s.name, s.stage, s.state, s.attempts, s.last_error, s.updated_at
FROM runs r, unnest(r.step_names, r.step_stages, r.step_states, r.step_attempts, r.step_errors, r.step_updated)
    WITH ORDINALITY AS s(name, stage, state, attempts, last_error, updated_at, ord);
ALTER TABLE runs DROP CONSTRAINT runs_steps_aligned,
    DROP COLUMN step_names, DROP COLUMN step_stages, DROP COLUMN step_states,
    DROP COLUMN step_attempts, DROP COLUMN step_errors, DROP COLUMN step_updated;
