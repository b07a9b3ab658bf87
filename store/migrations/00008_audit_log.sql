-- +goose Up
-- The audit log: every execution (at the job's end) and every change made
-- through the API or the CLI, refused attempts included. No foreign keys: a
-- row outlives the user, data source or query it names. It never holds a
-- request body, an API key, a password or data source options.
CREATE TABLE audit_log (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    actor_kind      text NOT NULL
                    CHECK (actor_kind IN ('user', 'query_key', 'dashboard_key', 'scheduler', 'cli')),
    actor_user_id   bigint,          -- the user, when one acted
    actor_object_id bigint,          -- the query or dashboard of a key
    action          text NOT NULL,   -- 'execute', 'POST /api/queries/:id', 'queryd users create'
    object_type     text NOT NULL DEFAULT '',
    object_id       text NOT NULL DEFAULT '',
    data_source_id  bigint,
    query_hash      text NOT NULL DEFAULT '',
    job_id          text NOT NULL DEFAULT '',
    outcome         text NOT NULL DEFAULT '',
    duration_ms     bigint,          -- executions: finished - started; NULL if never started
    details         jsonb NOT NULL DEFAULT '{}',
    request_id      text NOT NULL DEFAULT ''
);
-- Listing by time window; paging walks the primary key.
CREATE INDEX audit_log_at_id_idx ON audit_log (at, id);

-- +goose Down
DROP TABLE audit_log;
