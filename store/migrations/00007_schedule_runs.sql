-- +goose Up
-- One row per scheduled run of a query or a dashboard, claimed by the
-- scheduler before it submits the run. The primary key makes a due run fire
-- once: a second scheduler (a split brain, or one whose lock was lost)
-- claiming the same (kind, object_id, due_at) inserts nothing. started_at is
-- when the run was claimed, the "last run" the next due time counts from.
-- job_id is the job that ran it (NULL until submitted, or if submission
-- failed: error then says why).
CREATE TABLE schedule_runs (
    kind       text NOT NULL CHECK (kind IN ('query', 'dashboard')),
    object_id  bigint NOT NULL,
    due_at     timestamptz NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    job_id     text REFERENCES jobs ON DELETE SET NULL,
    error      text NOT NULL DEFAULT '',
    PRIMARY KEY (kind, object_id, due_at)
);
-- The last run of an object.
CREATE INDEX schedule_runs_last_idx ON schedule_runs (kind, object_id, started_at DESC);
-- The runs a job serves, looked up when any job ends.
CREATE INDEX schedule_runs_job_id_idx ON schedule_runs (job_id) WHERE job_id IS NOT NULL;
-- The queries the scheduler looks at, every tick.
CREATE INDEX queries_scheduled_idx ON queries (id) WHERE schedule IS NOT NULL AND NOT is_archived;

-- +goose Down
DROP INDEX queries_scheduled_idx;
DROP TABLE schedule_runs;
