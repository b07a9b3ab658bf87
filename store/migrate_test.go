package store_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/queryd/queryd/store"
	"github.com/queryd/queryd/store/storetest"
)

func TestMigrateIdempotent(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t) // migrated once already
	for i := range 2 {
		if err := store.Migrate(context.Background(), s.Pool()); err != nil {
			t.Fatalf("Migrate() run %d = %v, want nil", i+2, err)
		}
	}
	if got := count(t, s.Pool(), `SELECT count(*) FROM goose_db_version WHERE version_id = 1`); got != 1 {
		t.Errorf("rows of migration 1 in goose_db_version = %d, want 1", got)
	}
}

func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()

	// A second, empty schema for two pools to migrate at once.
	var schema string
	if err := s.Pool().QueryRow(ctx, `SELECT current_schema() || '_m'`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	exec(t, s.Pool(), "CREATE SCHEMA "+schema)
	t.Cleanup(func() { exec(t, s.Pool(), "DROP SCHEMA "+schema+" CASCADE") })

	errs := make(chan error, 2)
	for range 2 {
		cfg := s.Pool().Config()
		cfg.ConnConfig.RuntimeParams["search_path"] = schema
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close) // runs before the DROP SCHEMA above
		go func() { errs <- store.Migrate(ctx, pool) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent Migrate() = %v, want nil", err)
		}
	}

	tables := count(t, s.Pool(), `SELECT count(*) FROM pg_tables WHERE schemaname = $1`, schema)
	want := count(t, s.Pool(), `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()`)
	if tables != want { // as many as a schema migrated alone
		t.Errorf("tables in %s after concurrent Migrate = %d, want %d", schema, tables, want)
	}
	applied := count(t, s.Pool(), `SELECT count(*) FROM `+schema+`.goose_db_version WHERE version_id = 1`)
	if applied != 1 {
		t.Errorf("rows of migration 1 in %s.goose_db_version = %d, want 1", schema, applied)
	}
}

// TestMigrateDropsEarlyQueueColumn checks a database migrated by an early
// 00001, whose jobs table had a NOT NULL queue column, takes jobs after
// migrating to the latest version.
func TestMigrateDropsEarlyQueueColumn(t *testing.T) {
	s, _ := storetest.New(t)
	ctx := context.Background()
	pool := emptySchema(t, s.Pool())
	if err := store.MigrateTo(ctx, pool, 3); err != nil {
		t.Fatalf("MigrateTo(3) = %v", err)
	}
	if _, err := pool.Exec(ctx, `ALTER TABLE jobs ADD COLUMN queue text NOT NULL DEFAULT 'x';
		ALTER TABLE jobs ALTER COLUMN queue DROP DEFAULT`); err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx, pool); err != nil {
		t.Fatalf("Migrate() = %v", err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'jobs' AND column_name = 'queue'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("jobs.queue columns after Migrate = %d, %v; want 0", n, err)
	}
}

// TestMigrateGroupsExisting checks that 00005 puts the users and data
// sources of an existing database in the builtin group, so nobody loses
// access on upgrade.
func TestMigrateGroupsExisting(t *testing.T) {
	s, _ := storetest.New(t)
	ctx := context.Background()
	pool := emptySchema(t, s.Pool())
	if err := store.MigrateTo(ctx, pool, 4); err != nil {
		t.Fatalf("MigrateTo(4) = %v", err)
	}
	exec(t, pool, `INSERT INTO users (email, name) VALUES ('old@example.com', 'old')`)
	exec(t, pool, `INSERT INTO data_sources (name, type, options_sealed) VALUES ('old', 'pg', '')`)
	if err := store.Migrate(ctx, pool); err != nil {
		t.Fatalf("Migrate() = %v", err)
	}
	if n := count(t, pool, `SELECT count(*) FROM group_members m JOIN groups g ON g.id = m.group_id WHERE g.builtin`); n != 1 {
		t.Errorf("members of the builtin group after Migrate = %d, want the 1 existing user", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM data_source_groups d JOIN groups g ON g.id = d.group_id WHERE g.builtin AND NOT d.view_only`); n != 1 {
		t.Errorf("data sources granted in full to the builtin group after Migrate = %d, want the 1 existing", n)
	}
}

// emptySchema returns a pool whose search_path is a new empty schema,
// dropped when the test ends.
func emptySchema(t *testing.T, base *pgxpool.Pool) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	var schema string
	if err := base.QueryRow(ctx, `SELECT current_schema() || '_e'`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	exec(t, base, "CREATE SCHEMA "+schema)
	t.Cleanup(func() { exec(t, base, "DROP SCHEMA "+schema+" CASCADE") })
	cfg := base.Config()
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close) // runs before the DROP SCHEMA above
	return pool
}
