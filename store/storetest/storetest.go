// Package storetest gives tests a migrated store.Store of their own on the
// test PostgreSQL: each call to New gets a fresh schema, dropped at cleanup,
// so tests may run in parallel.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/queryd/queryd/store"
)

// SecretKey is the QUERYD_SECRET_KEY of stores made by New.
const SecretKey = "test-secret-key-0123456789abcdef0123456789"

const defaultURL = "postgres://queryd:queryd@127.0.0.1:5432/queryd_test?sslmode=disable"

// DatabaseURL returns QUERYD_TEST_DATABASE_URL or the default
// "postgres://queryd:queryd@127.0.0.1:5432/queryd_test?sslmode=disable".
func DatabaseURL() string {
	if u := os.Getenv("QUERYD_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return defaultURL
}

// New creates a fresh schema "t_<random>" in the test database and returns a
// migrated *store.Store whose connections use it, together with a URL of the
// database scoped to that schema (search_path) for other pools or processes
// of the test. The store is closed and the schema dropped at cleanup.
//
// If PostgreSQL is unreachable, New skips the test, or fails it under
// CI=true: there a missing service is an error.
func New(t testing.TB) (*store.Store, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	base := DatabaseURL()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		msg := "storetest: PostgreSQL unreachable (%v); run `make test`, which starts the services"
		if os.Getenv("CI") == "true" {
			t.Fatalf(msg, err)
		}
		t.Skipf(msg, err)
	}
	defer admin.Close(context.Background())

	schema := "t_" + randomHex(6)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("storetest: create schema %s: %v", schema, err)
	}
	t.Cleanup(func() { dropSchema(t, base, schema) })

	cfg, err := pgxpool.ParseConfig(base)
	if err != nil {
		t.Fatalf("storetest: parse %s: %v", base, err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("storetest: open pool: %v", err)
	}
	s, err := store.New(pool, SecretKey)
	if err != nil {
		pool.Close()
		t.Fatalf("storetest: %v", err)
	}
	t.Cleanup(s.Close) // runs before dropSchema
	if err := store.Migrate(ctx, pool); err != nil {
		t.Fatalf("storetest: %v", err)
	}
	return s, withSearchPath(base, schema)
}

// dropSchema drops schema and everything in it.
func dropSchema(t testing.TB, databaseURL, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		t.Errorf("storetest: drop schema %s: %v", schema, err)
		return
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
		t.Errorf("storetest: drop schema %s: %v", schema, err)
	}
}

// withSearchPath returns databaseURL, a URL or a keyword/value string, with
// search_path set to schema.
func withSearchPath(databaseURL, schema string) string {
	u, err := url.Parse(databaseURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return strings.TrimSpace(databaseURL) + " search_path=" + schema
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails
	return hex.EncodeToString(b)
}
