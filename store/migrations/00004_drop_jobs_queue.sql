-- +goose Up
-- Databases migrated by an early build of 00001 have a jobs.queue column
-- that nothing sets; the worker derives the queue from the job kind.
ALTER TABLE jobs DROP COLUMN IF EXISTS queue;

-- +goose Down
-- Nothing to restore: the column was never used.
SELECT 1;
