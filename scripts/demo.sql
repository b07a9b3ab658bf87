-- Demo data for queryd: run against the queryd_demo database as role queryd,
--   psql "postgres://queryd:queryd@127.0.0.1:5432/queryd_demo?sslmode=disable" -f scripts/demo.sql
-- (scripts/run.sh does this).
--
-- Creates, when missing:
--   customers  1,000 rows
--   events     1,000,000 rows, one per id; events.user_id joins customers.id
-- Every value is computed from the row's id (Knuth's multiplicative hash
-- 2654435761 and other odd constants, modulo), so every load is identical, on
-- every machine and PostgreSQL version. events.note is NULL in one row in seven.
--
-- Idempotent: a table that already has rows is left as it is, and that check
-- costs milliseconds. Everything is one DO statement, so one transaction under
-- an advisory lock: two loads at once do the work once, and an interrupted
-- load leaves nothing half written. Progress comes back as NOTICE lines.

\set ON_ERROR_STOP on
SET client_min_messages = notice;

DO $demo$
DECLARE
    n bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('queryd scripts/demo.sql'));

    IF to_regclass('customers') IS NULL THEN
        CREATE TABLE customers (
            id         integer     PRIMARY KEY,
            name       text        NOT NULL,
            email      text        NOT NULL,
            country    text        NOT NULL,
            plan       text        NOT NULL,
            created_at timestamptz NOT NULL
        );
        RAISE NOTICE 'demo: table customers created';
    END IF;

    IF to_regclass('events') IS NULL THEN
        CREATE TABLE events (
            id         bigint        PRIMARY KEY,
            user_id    integer       NOT NULL,
            amount     numeric(12,2) NOT NULL,
            category   text          NOT NULL,
            is_active  boolean       NOT NULL,
            event_date date          NOT NULL,
            created_at timestamptz   NOT NULL,
            note       text
        );
        RAISE NOTICE 'demo: table events created';
    END IF;

    IF EXISTS (SELECT 1 FROM customers) THEN
        RAISE NOTICE 'demo: customers already has rows (kept)';
    ELSE
        INSERT INTO customers (id, name, email, country, plan, created_at)
        SELECT g,
               'Customer ' || g,
               'customer' || g || '@example.com',
               (ARRAY['US','GB','DE','FR','NL','SE','ES','IT','JP','BR','IN','CA'])[1 + (g * 2654435761) % 4294967296 / 65536 % 12],
               (ARRAY['free','free','free','team','team','business'])[1 + (g + 104729) * 2246822519 % 4294967296 / 65536 % 6],
               timestamptz '2023-01-01 00:00:00+00'
                   + ((g * 2654435761) % 63072000) * interval '1 second'
        FROM generate_series(1, 1000) AS g;
        GET DIAGNOSTICS n = ROW_COUNT;
        ANALYZE customers;
        RAISE NOTICE 'demo: customers loaded with % rows', n;
    END IF;

    IF EXISTS (SELECT 1 FROM events) THEN
        RAISE NOTICE 'demo: events already has rows (kept)';
    ELSE
        -- h1, h2, h3: three independent pseudo-random numbers in [0, 2^32) per id.
        INSERT INTO events (id, user_id, amount, category, is_active, event_date, created_at, note)
        SELECT id,
               1 + h1 / 4096 % 1000,
               (h2 % 100000 / 100.0)::numeric(12,2),
               (ARRAY['books','electronics','games','garden','grocery',
                      'health','home','music','sports','toys'])[1 + h2 / 1048576 % 10],
               h1 % 5 <> 0,
               (ts AT TIME ZONE 'UTC')::date,
               ts,
               CASE WHEN id % 7 = 0 THEN NULL
                    ELSE 'order ' || id || ' via ' || (ARRAY['web','ios','android','api'])[1 + h3 / 16777216 % 4]
               END
        FROM (
            SELECT id, h1, h2, h3,
                   timestamptz '2025-01-01 00:00:00+00'
                       + (h3 % (730 * 86400)) * interval '1 second' AS ts
            FROM (
                SELECT id,
                       (id * 2654435761) % 4294967296             AS h1,
                       ((id + 104729) * 2246822519) % 4294967296  AS h2,
                       ((id + 15485863) * 3266489917) % 4294967296 AS h3
                FROM generate_series(1::bigint, 1000000) AS id
            ) AS hashed
        ) AS e;
        GET DIAGNOSTICS n = ROW_COUNT;
        ANALYZE events;
        RAISE NOTICE 'demo: events loaded with % rows', n;
    END IF;
END
$demo$;
