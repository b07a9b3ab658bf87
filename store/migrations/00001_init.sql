-- +goose Up
CREATE TABLE users (
    id          bigserial PRIMARY KEY,
    email       text NOT NULL,
    name        text NOT NULL,
    is_admin    boolean NOT NULL DEFAULT false,
    disabled_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_lower_email_key ON users (lower(email));

CREATE TABLE api_keys (
    id         bigserial PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    key_hash   text NOT NULL UNIQUE, -- sha256 hex of the key; the key itself is never stored
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_keys_user_id_idx ON api_keys (user_id);

CREATE TABLE data_sources (
    id             bigserial PRIMARY KEY,
    name           text NOT NULL UNIQUE,
    type           text NOT NULL,
    options_sealed bytea NOT NULL, -- AES-256-GCM of the options JSON, nonce first
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE query_results (
    id             bigserial PRIMARY KEY,
    data_source_id bigint NOT NULL REFERENCES data_sources ON DELETE CASCADE,
    query_hash     text NOT NULL,
    query          text NOT NULL,
    columns        jsonb NOT NULL DEFAULT '[]',
    row_count      bigint NOT NULL DEFAULT 0,
    bytes          bigint NOT NULL DEFAULT 0,
    runtime        double precision NOT NULL DEFAULT 0,
    retrieved_at   timestamptz NOT NULL DEFAULT now(),
    storage_key    text NOT NULL DEFAULT '',
    checksum       text NOT NULL DEFAULT ''
);
CREATE INDEX query_results_latest_idx ON query_results (data_source_id, query_hash, retrieved_at DESC);

CREATE TABLE queries (
    id                   bigserial PRIMARY KEY,
    name                 text NOT NULL,
    description          text NOT NULL DEFAULT '',
    query                text NOT NULL,
    query_hash           text NOT NULL,
    data_source_id       bigint REFERENCES data_sources ON DELETE SET NULL,
    user_id              bigint NOT NULL REFERENCES users,
    latest_query_data_id bigint REFERENCES query_results ON DELETE SET NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX queries_data_source_id_query_hash_idx ON queries (data_source_id, query_hash);

CREATE TABLE jobs (
    id               text PRIMARY KEY,
    kind             text NOT NULL,
    status           smallint NOT NULL CHECK (status BETWEEN 1 AND 5),
    data_source_id   bigint NOT NULL REFERENCES data_sources ON DELETE CASCADE,
    query_id         bigint REFERENCES queries ON DELETE SET NULL,
    query_hash       text NOT NULL,
    query_text       text NOT NULL,
    user_id          bigint NOT NULL REFERENCES users,
    error            text NOT NULL DEFAULT '',
    query_result_id  bigint REFERENCES query_results ON DELETE SET NULL,
    attempts         integer NOT NULL DEFAULT 0,
    cancel_requested boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    heartbeat_at     timestamptz
);
-- At most one query job in flight (pending or started) per (data source, query hash).
CREATE UNIQUE INDEX jobs_query_in_flight_key ON jobs (data_source_id, query_hash)
    WHERE kind = 'query' AND status IN (1, 2);
CREATE INDEX jobs_in_flight_idx ON jobs (status, updated_at) WHERE status IN (1, 2);

-- +goose Down
DROP TABLE jobs;
DROP TABLE queries;
DROP TABLE query_results;
DROP TABLE data_sources;
DROP TABLE api_keys;
DROP TABLE users;
