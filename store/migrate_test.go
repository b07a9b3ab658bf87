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
	if want := 7; tables != want { // 6 of ours and goose_db_version
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
	if _, err := s.Pool().Exec(ctx, `ALTER TABLE jobs ADD COLUMN queue text NOT NULL DEFAULT 'x';
		ALTER TABLE jobs ALTER COLUMN queue DROP DEFAULT;
		DELETE FROM goose_db_version WHERE version_id = 4`); err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx, s.Pool()); err != nil {
		t.Fatalf("Migrate() = %v", err)
	}
	var n int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'jobs' AND column_name = 'queue'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("jobs.queue columns after Migrate = %d, %v; want 0", n, err)
	}
}
