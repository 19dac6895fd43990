-- The signed-in sessions of the web pages, one row per sign-in, shared by every `rollin
-- serve` replica on the database. The cookie carries a random session ID (and an HMAC
-- over it); only the ID's SHA-256 is kept here, so a copy of the table signs nobody in.
-- Sign-out deletes the row, an operator deletes all rows of a name (a token, a person
-- signed in by OpenID Connect), and a row past expires_at counts as gone and is deleted
-- at the next sign-in.

-- +goose Up
CREATE TABLE sessions (
    id_hash      bytea PRIMARY KEY CHECK (length(id_hash) = 32),
    name         text NOT NULL,
    role         text NOT NULL CHECK (role IN ('pm', 'operator', 'municipality')),
    ars          text NOT NULL DEFAULT '',
    organisation text NOT NULL DEFAULT '',
    via          text NOT NULL CHECK (via IN ('token', 'oidc')),
    token        text NOT NULL DEFAULT '',
    csrf         text NOT NULL CHECK (csrf <> ''),
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);
CREATE INDEX sessions_name ON sessions (name);

-- +goose Down
DROP TABLE sessions;
