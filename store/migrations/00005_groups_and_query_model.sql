-- +goose Up
-- Groups grant data sources to their members, fully or view-only. The
-- built-in group "default" holds every user and is granted every new data
-- source in full, as in Redash; admins may narrow it.
CREATE TABLE groups (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL,
    builtin    boolean NOT NULL DEFAULT false, -- "default": cannot be renamed or deleted
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX groups_lower_name_key ON groups (lower(name));

CREATE TABLE group_members (
    group_id   bigint NOT NULL REFERENCES groups ON DELETE CASCADE,
    user_id    bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user_id_idx ON group_members (user_id);

CREATE TABLE data_source_groups (
    data_source_id bigint NOT NULL REFERENCES data_sources ON DELETE CASCADE,
    group_id       bigint NOT NULL REFERENCES groups ON DELETE CASCADE,
    view_only      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (data_source_id, group_id)
);
CREATE INDEX data_source_groups_group_id_idx ON data_source_groups (group_id);

INSERT INTO groups (name, builtin) VALUES ('default', true);
INSERT INTO group_members (group_id, user_id)
    SELECT g.id, u.id FROM groups g, users u WHERE g.builtin;
INSERT INTO data_source_groups (data_source_id, group_id)
    SELECT d.id, g.id FROM data_sources d, groups g WHERE g.builtin;

-- A query's own API key reads that query and its results only. Only its
-- SHA-256 is searched; the key itself is kept sealed with the data-source
-- secret key so that the query's editors can see it again. Queries saved
-- before this migration get a key when one is regenerated.
ALTER TABLE queries
    ADD COLUMN tags                text[] NOT NULL DEFAULT '{}',
    ADD COLUMN is_archived         boolean NOT NULL DEFAULT false,
    ADD COLUMN is_draft            boolean NOT NULL DEFAULT false,
    ADD COLUMN version             integer NOT NULL DEFAULT 1,
    ADD COLUMN api_key_hash        text UNIQUE,
    ADD COLUMN api_key_sealed      bytea,
    ADD COLUMN last_modified_by_id bigint REFERENCES users,
    ADD COLUMN schedule            jsonb,
    ADD COLUMN schedule_failures   integer NOT NULL DEFAULT 0;
CREATE INDEX queries_listing_idx ON queries (created_at DESC, id DESC) WHERE NOT is_archived;
CREATE INDEX queries_tags_idx ON queries USING gin (tags);

-- +goose Down
ALTER TABLE queries
    DROP COLUMN tags, DROP COLUMN is_archived, DROP COLUMN is_draft, DROP COLUMN version,
    DROP COLUMN api_key_hash, DROP COLUMN api_key_sealed, DROP COLUMN last_modified_by_id,
    DROP COLUMN schedule, DROP COLUMN schedule_failures;
DROP TABLE data_source_groups;
DROP TABLE group_members;
DROP TABLE groups;
