package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/queryd/queryd/store"
)

// result completes a new job of hash with a result retrieved at at.
func (f fixture) result(t testing.TB, hash string, at time.Time) store.QueryResult {
	t.Helper()
	j := f.startedJob(t, hash)
	r, err := f.s.CompleteJob(context.Background(), j.ID, store.QueryResult{RetrievedAt: at, RowCount: 1})
	if err != nil {
		t.Fatalf("CompleteJob(%s): %v", j.ID, err)
	}
	return r
}

func TestCreateQuery(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	now := time.Now()
	f.result(t, "ran", now.Add(-time.Hour))
	newer := f.result(t, "ran", now.Add(-time.Minute))
	f.result(t, "ran", now.Add(-2*time.Hour)) // completed last, but retrieved earlier
	other := createDataSource(t, f.s)

	tests := []struct {
		name       string
		hash       string
		dataSource *int64
		wantLatest *int64
	}{
		{"never ran", "new", &f.ds.ID, nil},
		{"ran", "ran", &f.ds.ID, &newer.ID},
		{"ran on another data source", "ran", &other.ID, nil},
		{"no data source", "ran", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := store.Query{Name: tc.name, Description: "d", Query: "SELECT 1", QueryHash: tc.hash, DataSourceID: tc.dataSource, UserID: f.user.ID}
			q, err := f.s.CreateQuery(ctx, in)
			if err != nil {
				t.Fatalf("CreateQuery(%+v) error = %v", in, err)
			}
			want := in
			want.ID, want.LatestQueryDataID, want.CreatedAt, want.UpdatedAt = q.ID, tc.wantLatest, q.CreatedAt, q.UpdatedAt
			want.Options = store.DefaultQueryOptions
			want.Tags, want.Version, want.APIKey = []string{}, 1, q.APIKey
			if len(q.APIKey) != 40 {
				t.Errorf("CreateQuery(%+v).APIKey = %q, want 40 characters", in, q.APIKey)
			}
			if diff := cmp.Diff(want, q); diff != "" || q.ID == 0 || q.CreatedAt.IsZero() {
				t.Errorf("CreateQuery(%+v) diff (-want +got):\n%s", in, diff)
			}
			got, err := f.s.Query(ctx, q.ID)
			if diff := cmp.Diff(q, got); err != nil || diff != "" {
				t.Errorf("Query(%d) error = %v, diff (-created +got):\n%s", q.ID, err, diff)
			}
		})
	}

	bad := store.Query{Name: "x", Query: "SELECT 1", QueryHash: "h", DataSourceID: &f.ds.ID, UserID: f.user.ID + 1000}
	if _, err := f.s.CreateQuery(ctx, bad); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateQuery(missing user) error = %v, want ErrNotFound", err)
	}
	if got, err := f.s.Query(ctx, 1_000_000); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Query(1000000) = %+v, %v, want ErrNotFound", got, err)
	}
}

func TestQueryOptionsRoundTrip(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	opts := json.RawMessage(`{"parameters": [{"name": "d", "type": "date-range", "value": "d_last_7_days"}, ` +
		`{"name": "e", "type": "enum", "enumOptions": "a\nb", "multiValuesOptions": {"prefix": "", "suffix": "", "separator": ",", "quoteCharacter": "'"}}], ` +
		`"apply_auto_limit": true}`)
	q, err := f.s.CreateQuery(ctx, store.Query{Name: "o", Query: "SELECT 1", QueryHash: "o", DataSourceID: &f.ds.ID, UserID: f.user.ID, Options: opts})
	if err != nil {
		t.Fatalf("CreateQuery(options %s) error = %v", opts, err)
	}
	assertJSONEqual(t, "CreateQuery options", q.Options, opts)
	got, err := f.s.Query(ctx, q.ID)
	if err != nil {
		t.Fatal(err)
	}
	assertJSONEqual(t, "Query options", got.Options, opts)
	if all, err := f.s.Queries(ctx); err != nil || len(all) != 1 {
		t.Fatalf("Queries() = %+v, %v, want the one query", all, err)
	} else {
		assertJSONEqual(t, "Queries options", all[0].Options, opts)
	}
	got, _, err = f.s.QueryWithLatestResult(ctx, q.ID, -1)
	if err != nil {
		t.Fatal(err)
	}
	assertJSONEqual(t, "QueryWithLatestResult options", got.Options, opts)

	got.Options = json.RawMessage(`{"parameters": []}`)
	updated, err := f.s.UpdateQuery(ctx, got)
	if err != nil {
		t.Fatal(err)
	}
	assertJSONEqual(t, "UpdateQuery options", updated.Options, got.Options)

	got.Options = json.RawMessage(`{"parameters": [`)
	if _, err := f.s.UpdateQuery(ctx, got); err == nil {
		t.Errorf("UpdateQuery(options %s) error = nil, want an error", got.Options)
	}
}

// assertJSONEqual checks got and want hold the same JSON value.
func assertJSONEqual(t testing.TB, what string, got, want json.RawMessage) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s = %s, not JSON: %v", what, got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(w, g); diff != "" {
		t.Errorf("%s diff (-want +got):\n%s", what, diff)
	}
}

func TestQueries(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	if all, err := f.s.Queries(ctx); err != nil || len(all) != 0 {
		t.Errorf("Queries() on none = %+v, %v, want none", all, err)
	}
	var want []store.Query
	for _, name := range []string{"first", "second", "third"} {
		q, err := f.s.CreateQuery(ctx, store.Query{Name: name, Query: "SELECT 1", QueryHash: name, UserID: f.user.ID})
		if err != nil {
			t.Fatal(err)
		}
		want = append([]store.Query{q}, want...)
	}
	all, err := f.s.Queries(ctx)
	if diff := cmp.Diff(want, all); err != nil || diff != "" {
		t.Errorf("Queries() error = %v, diff (-want newest first +got):\n%s", err, diff)
	}
}

func TestUpdateQuery(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	r1 := f.result(t, "h1", time.Now())
	r2 := f.result(t, "h2", time.Now())
	other := createDataSource(t, f.s)
	q, err := f.s.CreateQuery(ctx, store.Query{Name: "q", Query: "SELECT 1", QueryHash: "h1", DataSourceID: &f.ds.ID, UserID: f.user.ID})
	if err != nil || q.LatestQueryDataID == nil || *q.LatestQueryDataID != r1.ID {
		t.Fatalf("CreateQuery = %+v, %v, want latest %d", q, err, r1.ID)
	}

	tests := []struct {
		name       string
		hash       string
		dataSource *int64
		wantLatest *int64
	}{
		{"same text", "h1", &f.ds.ID, &r1.ID},
		{"text with a result", "h2", &f.ds.ID, &r2.ID},
		{"text never ran", "h3", &f.ds.ID, nil},
		{"back", "h1", &f.ds.ID, &r1.ID},
		{"other data source", "h1", &other.ID, nil},
		{"no data source", "h1", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := q
			in.Name, in.Description, in.Query, in.QueryHash, in.DataSourceID = "n "+tc.name, "d "+tc.name, "SELECT "+tc.hash, tc.hash, tc.dataSource
			got, err := f.s.UpdateQuery(ctx, in)
			if err != nil {
				t.Fatalf("UpdateQuery(%+v) error = %v", in, err)
			}
			want := in
			want.LatestQueryDataID, want.UpdatedAt = tc.wantLatest, got.UpdatedAt
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("UpdateQuery(%+v) diff (-want +got):\n%s", in, diff)
			}
			if !notBefore(got.UpdatedAt, q.UpdatedAt) {
				t.Errorf("UpdateQuery(): UpdatedAt = %v, want not before %v", got.UpdatedAt, q.UpdatedAt)
			}
			if stored, err := f.s.Query(ctx, q.ID); err != nil || !cmp.Equal(stored, got) {
				t.Errorf("Query(%d) after update = %+v, %v, want %+v", q.ID, stored, err, got)
			}
		})
	}

	missing := q
	missing.ID += 1000
	if _, err := f.s.UpdateQuery(ctx, missing); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateQuery(missing) error = %v, want ErrNotFound", err)
	}
	noDS := q
	noDS.DataSourceID = ptr(other.ID + 1000)
	if _, err := f.s.UpdateQuery(ctx, noDS); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateQuery(missing data source) error = %v, want ErrNotFound", err)
	}
}
