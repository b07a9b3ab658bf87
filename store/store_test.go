package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/queryd/queryd/store"
	"github.com/queryd/queryd/store/storetest"
)

func TestNewShortKey(t *testing.T) {
	_, err := store.New(nil, "too short")
	if err == nil || !strings.Contains(err.Error(), "QUERYD_SECRET_KEY must be at least 32 characters") {
		t.Errorf("New(pool, %q) error = %v, want QUERYD_SECRET_KEY must be at least 32 characters", "too short", err)
	}
}

func TestOpenPing(t *testing.T) {
	t.Parallel()
	_, url := storetest.New(t)
	ctx := context.Background()
	s, err := store.Open(ctx, url, storetest.SecretKey)
	if err != nil {
		t.Fatalf("Open(%q) error = %v", url, err)
	}
	defer s.Close()
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping() = %v, want nil", err)
	}
	if _, err := store.Open(ctx, url, "short"); err == nil {
		t.Errorf("Open(url, short key) error = nil, want an error")
	}
}

// seq makes names unique within a test binary.
var seq atomic.Int64

func unique(prefix string) string { return fmt.Sprintf("%s-%d", prefix, seq.Add(1)) }

func createUser(t testing.TB, s *store.Store) store.User {
	t.Helper()
	u, _, err := s.CreateUser(context.Background(), unique("user")+"@example.com", "", false)
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	return u
}

func createDataSource(t testing.TB, s *store.Store) store.DataSource {
	t.Helper()
	ds, err := s.CreateDataSource(context.Background(), unique("ds"), "pg", []byte(`{"host":"db"}`))
	if err != nil {
		t.Fatalf("CreateDataSource: %v", err)
	}
	return ds
}

// fixture is a user and a data source to hang queries and jobs on.
type fixture struct {
	s    *store.Store
	url  string // the test schema's URL
	user store.User
	ds   store.DataSource
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	s, url := storetest.New(t)
	return fixture{s: s, url: url, user: createUser(t, s), ds: createDataSource(t, s)}
}

// newJob returns a pending query job of hash (a fresh one if "").
func (f fixture) newJob(t testing.TB, hash string) store.Job {
	t.Helper()
	if hash == "" {
		hash = unique("hash")
	}
	j, created, err := f.s.CreateQueryJob(context.Background(), store.Job{
		DataSourceID: f.ds.ID,
		QueryHash:    hash,
		QueryText:    "SELECT 1 -- " + hash,
		UserID:       f.user.ID,
	})
	if err != nil || !created {
		t.Fatalf("CreateQueryJob(%s) = created %v, %v, want true, nil", hash, created, err)
	}
	return j
}

// startedJob returns a started query job of hash (a fresh one if "").
func (f fixture) startedJob(t testing.TB, hash string) store.Job {
	t.Helper()
	j, err := f.s.ClaimJob(context.Background(), f.newJob(t, hash).ID)
	if err != nil {
		t.Fatalf("ClaimJob: %v", err)
	}
	return j
}

// job reloads job id.
func (f fixture) job(t testing.TB, id string) store.Job {
	t.Helper()
	j, err := f.s.Job(context.Background(), id)
	if err != nil {
		t.Fatalf("Job(%s): %v", id, err)
	}
	return j
}

// exec runs sql on the test's schema, for setting up what the API cannot.
func exec(t testing.TB, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("exec %q: %v", sql, err)
	}
}

// count returns the single integer sql selects.
func count(t testing.TB, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("query %q: %v", sql, err)
	}
	return n
}

// errIs describes whether err matches want, for failure messages.
func errIs(err, want error) bool {
	if want == nil {
		return err == nil
	}
	return errors.Is(err, want)
}

func ptr[T any](v T) *T { return &v }

// notBefore reports whether a is at or after b.
func notBefore(a, b time.Time) bool { return !a.Before(b) }
