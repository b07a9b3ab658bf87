package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/queryd/queryd/drivers"
	"github.com/queryd/queryd/store"
)

func TestQueryResult(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	j := f.startedJob(t, "")
	in := store.QueryResult{
		Query: "SELECT 1 AS n, 'x' AS s",
		Columns: []drivers.Column{
			{Name: "n", Type: drivers.TypeInteger, DatabaseType: "int4"},
			{Name: "s", Type: drivers.TypeString, DatabaseType: "text"},
		},
		RowCount:    1,
		Bytes:       12,
		Runtime:     0.25,
		RetrievedAt: time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC),
		StorageKey:  "results/1",
		Checksum:    "abc",
	}
	r, err := f.s.CompleteJob(ctx, j.ID, in)
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.ID, want.DataSourceID, want.QueryHash = r.ID, j.DataSourceID, j.QueryHash
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("CompleteJob(%s, r) result diff (-want +got):\n%s", j.ID, diff)
	}
	got, err := f.s.QueryResult(ctx, r.ID)
	if diff := cmp.Diff(want, got); err != nil || diff != "" {
		t.Errorf("QueryResult(%d) error = %v, diff (-want +got):\n%s", r.ID, err, diff)
	}
	if got, err := f.s.QueryResult(ctx, r.ID+1000); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("QueryResult(%d) = %+v, %v, want ErrNotFound", r.ID+1000, got, err)
	}
}

func TestLatestQueryResult(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	now := time.Now()
	f.result(t, "fresh", now.Add(-2*time.Hour))
	fresh := f.result(t, "fresh", now.Add(-10*time.Minute))
	f.result(t, "fresh", now.Add(-time.Hour)) // completed last, retrieved earlier
	old := f.result(t, "old", now.Add(-2*time.Hour))
	other := createDataSource(t, f.s)

	tests := []struct {
		name   string
		ds     int64
		hash   string
		maxAge time.Duration
		want   *store.QueryResult // nil: ErrNotFound
	}{
		{"any age", f.ds.ID, "fresh", -1, &fresh},
		{"within window", f.ds.ID, "fresh", 15 * time.Minute, &fresh},
		{"newest too old", f.ds.ID, "fresh", 5 * time.Minute, nil},
		{"zero window", f.ds.ID, "fresh", 0, nil},
		{"old any age", f.ds.ID, "old", -time.Second, &old},
		{"old expired", f.ds.ID, "old", time.Hour, nil},
		{"old within a day", f.ds.ID, "old", 24 * time.Hour, &old},
		{"unknown hash", f.ds.ID, "nope", -1, nil},
		{"other data source", other.ID, "fresh", -1, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.s.LatestQueryResult(ctx, tc.ds, tc.hash, tc.maxAge)
			if tc.want == nil {
				if !errors.Is(err, store.ErrNotFound) {
					t.Errorf("LatestQueryResult(%d, %q, %v) = %+v, %v, want ErrNotFound", tc.ds, tc.hash, tc.maxAge, got, err)
				}
				return
			}
			if diff := cmp.Diff(*tc.want, got); err != nil || diff != "" {
				t.Errorf("LatestQueryResult(%d, %q, %v) error = %v, diff (-want +got):\n%s", tc.ds, tc.hash, tc.maxAge, err, diff)
			}
		})
	}
}

// TestLatestQueryResultUsesIndex checks the hot-path lookup is an index scan
// (with sequential scans off, so the tiny test table cannot tempt the planner).
func TestLatestQueryResultUsesIndex(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	conn, err := f.s.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SET enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, "RESET enable_seqscan")
	for _, where := range []string{
		"data_source_id = 1 AND query_hash = 'h'",
		"data_source_id = 1 AND query_hash = 'h' AND retrieved_at >= now() - 60 * interval '1 second'",
	} {
		rows, err := conn.Query(ctx, `EXPLAIN SELECT * FROM query_results WHERE `+where+` ORDER BY retrieved_at DESC LIMIT 1`)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		plan := strings.Join(lines, "\n")
		if want := "query_results_latest_idx"; !strings.Contains(plan, want) || strings.Contains(plan, "Sort") {
			t.Errorf("plan of latest result WHERE %s = %q, want a scan of %s and no sort", where, plan, want)
		}
	}
}

// TestQueryWithLatestResult checks the one-round-trip lookup agrees with
// Query and LatestQueryResult.
func TestQueryWithLatestResult(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	now := time.Now()
	f.result(t, "fresh", now.Add(-2*time.Hour))
	f.result(t, "fresh", now.Add(-10*time.Minute))
	f.result(t, "old", now.Add(-2*time.Hour))
	for _, hash := range []string{"fresh", "old", "never run"} {
		q, err := f.s.CreateQuery(ctx, store.Query{Name: hash, Query: "SELECT 1", QueryHash: hash, DataSourceID: &f.ds.ID, UserID: f.user.ID})
		if err != nil {
			t.Fatal(err)
		}
		for _, maxAge := range []time.Duration{-1, 15 * time.Minute, 5 * time.Minute, 3 * time.Hour} {
			gotQ, gotR, err := f.s.QueryWithLatestResult(ctx, q.ID, maxAge)
			if err != nil {
				t.Fatalf("QueryWithLatestResult(%d, %v) error = %v", q.ID, maxAge, err)
			}
			// Without what running does not need.
			wantQ := q
			wantQ.APIKey, wantQ.User, wantQ.LastModifiedBy = "", store.QueryUser{ID: q.UserID}, nil
			if diff := cmp.Diff(wantQ, gotQ); diff != "" {
				t.Errorf("QueryWithLatestResult(%d, %v) query diff (-want +got):\n%s", q.ID, maxAge, diff)
			}
			var want *store.QueryResult
			if r, err := f.s.LatestQueryResult(ctx, f.ds.ID, hash, maxAge); err == nil {
				want = &r
			}
			if diff := cmp.Diff(want, gotR); diff != "" {
				t.Errorf("QueryWithLatestResult(%s, %v) result diff (-want +got):\n%s", hash, maxAge, diff)
			}
		}
	}
	if _, _, err := f.s.QueryWithLatestResult(ctx, 987654, -1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("QueryWithLatestResult(missing) error = %v, want ErrNotFound", err)
	}
}
