-- A run's steps move into the run's row, as a JSON array in plan order. A status read is
-- then one primary-key lookup instead of a join over a dozen step rows, and a transition
-- writes one row instead of deleting and re-inserting every step. Nothing selects single
-- steps: the operators' bulk actions filter on runs.waiting_step.

-- +goose Up
ALTER TABLE runs ADD COLUMN steps jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(steps) = 'array');
UPDATE runs r SET steps = s.steps
FROM (
    SELECT run_id, jsonb_agg(jsonb_build_object(
               'name', name, 'stage', stage, 'state', state, 'attempts', attempts,
               'last_error', last_error, 'updated_at', updated_at) ORDER BY position) AS steps
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
SELECT r.id, e.ord - 1, e.v->>'name', e.v->>'stage', e.v->>'state', (e.v->>'attempts')::int,
       e.v->>'last_error', (e.v->>'updated_at')::timestamptz
FROM runs r, jsonb_array_elements(r.steps) WITH ORDINALITY AS e(v, ord);
ALTER TABLE runs DROP COLUMN steps;
