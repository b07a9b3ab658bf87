-- +goose Up
-- A saved query's options, Redash's shape: {"parameters": [definition, …], …}.
-- The API validates the parameter definitions on write; other keys are kept
-- as given.
ALTER TABLE queries ADD COLUMN options jsonb NOT NULL DEFAULT '{"parameters": []}';

-- +goose Down
ALTER TABLE queries DROP COLUMN options;
