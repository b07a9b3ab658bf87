-- +goose Up
-- The warehouse's own id of the statement a job runs (a Snowflake query id, a
-- BigQuery job id, a PostgreSQL backend), so that a cancel can reach it from
-- any process, even after its worker died.
ALTER TABLE jobs ADD COLUMN warehouse_query_id text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE jobs DROP COLUMN warehouse_query_id;
