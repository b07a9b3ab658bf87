-- +goose Up
-- A visualization shows one saved query's result (a table, a chart…); its
-- options are the client's, stored as given.
CREATE TABLE visualizations (
    id          bigserial PRIMARY KEY,
    query_id    bigint NOT NULL REFERENCES queries ON DELETE CASCADE,
    type        text NOT NULL,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    options     jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX visualizations_query_id_idx ON visualizations (query_id);

-- A dashboard lays out widgets. Its slug, derived from its name, is unique
-- when it is given out, but older rows may share one: lookups by slug prefer
-- the newest dashboard that is not archived. A shared dashboard has an API
-- key that reads it and runs its widgets' safe queries; only the key's
-- SHA-256 is searched, and the key itself is kept sealed, as a query's is.
CREATE TABLE dashboards (
    id                        bigserial PRIMARY KEY,
    slug                      text NOT NULL,
    name                      text NOT NULL,
    user_id                   bigint NOT NULL REFERENCES users,
    layout                    jsonb NOT NULL DEFAULT '[]',
    options                   jsonb NOT NULL DEFAULT '{}',
    dashboard_filters_enabled boolean NOT NULL DEFAULT false,
    tags                      text[] NOT NULL DEFAULT '{}',
    is_archived               boolean NOT NULL DEFAULT false,
    is_draft                  boolean NOT NULL DEFAULT true,
    version                   integer NOT NULL DEFAULT 1,
    api_key_hash              text UNIQUE,
    api_key_sealed            bytea,
    refresh_schedule          jsonb,
    refresh_failures          integer NOT NULL DEFAULT 0,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dashboards_slug_idx ON dashboards (slug);
CREATE INDEX dashboards_user_id_idx ON dashboards (user_id);
CREATE INDEX dashboards_listing_idx ON dashboards (created_at DESC, id DESC) WHERE NOT is_archived;
CREATE INDEX dashboards_tags_idx ON dashboards USING gin (tags);

-- A widget shows a visualization, or a text (visualization_id NULL), on a
-- dashboard.
CREATE TABLE widgets (
    id               bigserial PRIMARY KEY,
    dashboard_id     bigint NOT NULL REFERENCES dashboards ON DELETE CASCADE,
    visualization_id bigint REFERENCES visualizations ON DELETE CASCADE,
    text             text NOT NULL DEFAULT '',
    width            integer NOT NULL DEFAULT 1,
    options          jsonb NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX widgets_dashboard_id_idx ON widgets (dashboard_id);
CREATE INDEX widgets_visualization_id_idx ON widgets (visualization_id);

-- +goose Down
DROP TABLE widgets;
DROP TABLE dashboards;
DROP TABLE visualizations;
