package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
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
			owner := store.QueryUser{ID: f.user.ID, Name: f.user.Name, Email: f.user.Email}
			want.User, want.LastModifiedByID, want.LastModifiedBy = owner, &f.user.ID, &owner
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
	if all, _, err := f.s.Queries(ctx, store.QueryFilter{AllDataSources: true}); err != nil || len(all) != 1 {
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
	updated, err := f.s.UpdateQuery(ctx, got, 0)
	if err != nil {
		t.Fatal(err)
	}
	assertJSONEqual(t, "UpdateQuery options", updated.Options, got.Options)

	got.Options = json.RawMessage(`{"parameters": [`)
	if _, err := f.s.UpdateQuery(ctx, got, 0); err == nil {
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
			in, err := f.s.Query(ctx, q.ID)
			if err != nil {
				t.Fatal(err)
			}
			in.Name, in.Description, in.Query, in.QueryHash, in.DataSourceID = "n "+tc.name, "d "+tc.name, "SELECT "+tc.hash, tc.hash, tc.dataSource
			got, err := f.s.UpdateQuery(ctx, in, in.Version)
			if err != nil {
				t.Fatalf("UpdateQuery(%+v) error = %v", in, err)
			}
			want := in
			want.LatestQueryDataID, want.UpdatedAt, want.Version = tc.wantLatest, got.UpdatedAt, in.Version+1
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
	if _, err := f.s.UpdateQuery(ctx, missing, 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateQuery(missing) error = %v, want ErrNotFound", err)
	}
	noDS := q
	noDS.DataSourceID = ptr(other.ID + 1000)
	if _, err := f.s.UpdateQuery(ctx, noDS, 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateQuery(missing data source) error = %v, want ErrNotFound", err)
	}
}

// queryIDs are the IDs of qs, in order.
func queryIDs(qs []store.Query) []int64 {
	ids := make([]int64, len(qs))
	for i, q := range qs {
		ids[i] = q.ID
	}
	return ids
}

// createQuery saves q, filling in what every query needs.
func (f fixture) createQuery(t testing.TB, q store.Query) store.Query {
	t.Helper()
	if q.Query == "" {
		q.Query = "SELECT 1"
	}
	if q.QueryHash == "" {
		q.QueryHash = unique("hash")
	}
	if q.UserID == 0 {
		q.UserID = f.user.ID
	}
	created, err := f.s.CreateQuery(context.Background(), q)
	if err != nil {
		t.Fatalf("CreateQuery(%+v): %v", q, err)
	}
	return created
}

func TestQueriesFilter(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	other := createUser(t, f.s)
	dsB := createDataSource(t, f.s)

	sales := f.createQuery(t, store.Query{Name: "Sales by Region", DataSourceID: &f.ds.ID, Tags: []string{"sales", "eu"}})
	costs := f.createQuery(t, store.Query{Name: "Costs", Description: "100%_done", Query: "select cost from t",
		DataSourceID: &dsB.ID, Tags: []string{"sales"}})
	loose := f.createQuery(t, store.Query{Name: "Loose", Query: "SELECT 'region'"})
	othersLoose := f.createQuery(t, store.Query{Name: "Others' loose", UserID: other.ID})
	archived := f.createQuery(t, store.Query{Name: "Archived region", DataSourceID: &f.ds.ID, Tags: []string{"sales"}})
	if err := f.s.ArchiveQuery(ctx, archived.ID); err != nil {
		t.Fatal(err)
	}

	all := store.QueryFilter{AllDataSources: true}
	tests := []struct {
		name string
		f    store.QueryFilter
		want []int64
	}{
		{"admin", all, []int64{othersLoose.ID, loose.ID, costs.ID, sales.ID}},
		{"admin with archived", store.QueryFilter{AllDataSources: true, IncludeArchived: true},
			[]int64{archived.ID, othersLoose.ID, loose.ID, costs.ID, sales.ID}},
		{"one data source, own loose queries", store.QueryFilter{DataSources: []int64{f.ds.ID}, OwnerID: f.user.ID},
			[]int64{loose.ID, sales.ID}},
		{"both data sources, other's loose queries", store.QueryFilter{DataSources: []int64{f.ds.ID, dsB.ID}, OwnerID: other.ID},
			[]int64{othersLoose.ID, costs.ID, sales.ID}},
		{"no data sources", store.QueryFilter{OwnerID: other.ID}, []int64{othersLoose.ID}},
		{"nothing", store.QueryFilter{}, []int64{}},
		{"search name, any case", store.QueryFilter{AllDataSources: true, Search: "REGION"}, []int64{loose.ID, sales.ID}},
		{"search description", store.QueryFilter{AllDataSources: true, Search: "done"}, []int64{costs.ID}},
		{"search text", store.QueryFilter{AllDataSources: true, Search: "COST FROM"}, []int64{costs.ID}},
		{"search % is plain", store.QueryFilter{AllDataSources: true, Search: "%"}, []int64{costs.ID}},
		{"search _ is plain", store.QueryFilter{AllDataSources: true, Search: "%_d"}, []int64{costs.ID}},
		{"search _ is no wildcard", store.QueryFilter{AllDataSources: true, Search: "Sal_s"}, []int64{}},
		{"search backslash is plain", store.QueryFilter{AllDataSources: true, Search: `\%`}, []int64{}},
		{"search within visible", store.QueryFilter{DataSources: []int64{dsB.ID}, Search: "region"}, []int64{}},
		{"tag", store.QueryFilter{AllDataSources: true, Tags: []string{"sales"}}, []int64{costs.ID, sales.ID}},
		{"every tag", store.QueryFilter{AllDataSources: true, Tags: []string{"sales", "eu"}}, []int64{sales.ID}},
		{"unknown tag", store.QueryFilter{AllDataSources: true, Tags: []string{"nope"}}, []int64{}},
		{"tag and search", store.QueryFilter{AllDataSources: true, Tags: []string{"sales"}, Search: "cost"}, []int64{costs.ID}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, count, err := f.s.Queries(ctx, tc.f)
			if err != nil {
				t.Fatalf("Queries(%+v) error = %v", tc.f, err)
			}
			if diff := cmp.Diff(tc.want, queryIDs(got)); diff != "" || count != len(tc.want) {
				t.Errorf("Queries(%+v) = %v, count %d; want %v, count %d", tc.f, queryIDs(got), count, tc.want, len(tc.want))
			}
		})
	}

	// Each query comes with its owner and its last editor.
	got, _, err := f.s.Queries(ctx, all)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range got {
		want, err := f.s.Query(ctx, q.ID)
		if diff := cmp.Diff(want, q); err != nil || diff != "" {
			t.Errorf("Queries(): query %d diff (-Query +Queries):\n%s", q.ID, diff)
		}
		owner := f.user
		if q.ID == othersLoose.ID {
			owner = other
		}
		wantUser := store.QueryUser{ID: owner.ID, Name: owner.Name, Email: owner.Email}
		if q.User != wantUser || q.LastModifiedBy == nil || *q.LastModifiedBy != wantUser {
			t.Errorf("Queries(): query %d User = %+v, LastModifiedBy = %+v; want %+v for both", q.ID, q.User, q.LastModifiedBy, wantUser)
		}
	}
}

func TestQueriesPaging(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	var newestFirst []int64
	for range 5 {
		q := f.createQuery(t, store.Query{DataSourceID: &f.ds.ID})
		newestFirst = append([]int64{q.ID}, newestFirst...)
	}
	// Two made the oldest, at the same time: the newer id comes first.
	exec(t, f.s.Pool(), `UPDATE queries SET created_at = '2024-01-01' WHERE id = ANY($1)`, newestFirst[1:3])

	wantOrder := []int64{newestFirst[0], newestFirst[3], newestFirst[4], newestFirst[1], newestFirst[2]}
	tests := []struct {
		page, size int
		want       []int64
	}{
		{1, 2, wantOrder[:2]},
		{2, 2, wantOrder[2:4]},
		{3, 2, wantOrder[4:]},
		{4, 2, []int64{}},
		{0, 2, wantOrder[:2]},
		{1, 0, wantOrder},
		{1, 250, wantOrder},
	}
	for _, tc := range tests {
		flt := store.QueryFilter{AllDataSources: true, Page: tc.page, PageSize: tc.size}
		got, count, err := f.s.Queries(ctx, flt)
		if err != nil || !cmp.Equal(queryIDs(got), tc.want) || count != 5 {
			t.Errorf("Queries(page %d of %d) = %v, count %d, %v; want %v, count 5", tc.page, tc.size, queryIDs(got), count, err, tc.want)
		}
	}
}

func TestUpdateQueryVersion(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	editor := createUser(t, f.s)
	q := f.createQuery(t, store.Query{Name: "v", DataSourceID: &f.ds.ID})

	q.Name = "v2"
	q.LastModifiedByID = &editor.ID
	v2, err := f.s.UpdateQuery(ctx, q, 1)
	if err != nil || v2.Version != 2 || v2.Name != "v2" {
		t.Fatalf("UpdateQuery(version 1) = version %d %q, %v; want version 2 \"v2\"", v2.Version, v2.Name, err)
	}
	wantEditor := store.QueryUser{ID: editor.ID, Name: editor.Name, Email: editor.Email}
	if v2.LastModifiedBy == nil || *v2.LastModifiedBy != wantEditor || v2.User.ID != f.user.ID {
		t.Errorf("UpdateQuery by %d: LastModifiedBy = %+v, User = %+v; want the editor, the owner unchanged", editor.ID, v2.LastModifiedBy, v2.User)
	}

	stale := q
	stale.Name = "stale"
	if _, err := f.s.UpdateQuery(ctx, stale, 1); !errors.Is(err, store.ErrConflict) {
		t.Errorf("UpdateQuery(stale version 1) error = %v, want ErrConflict", err)
	}
	if got, _ := f.s.Query(ctx, q.ID); got.Name != "v2" || got.Version != 2 {
		t.Errorf("after a stale update: Query = %q version %d, want \"v2\" version 2", got.Name, got.Version)
	}
	if _, err := f.s.UpdateQuery(ctx, stale, 3); !errors.Is(err, store.ErrConflict) {
		t.Errorf("UpdateQuery(future version 3) error = %v, want ErrConflict", err)
	}
	v3, err := f.s.UpdateQuery(ctx, stale, 0)
	if err != nil || v3.Version != 3 || v3.Name != "stale" {
		t.Errorf("UpdateQuery(version 0) = version %d %q, %v; want version 3 \"stale\" (last write wins)", v3.Version, v3.Name, err)
	}
	missing := q
	missing.ID += 1000
	if _, err := f.s.UpdateQuery(ctx, missing, 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateQuery(missing, version 1) error = %v, want ErrNotFound", err)
	}
	noUser := v3
	noUser.LastModifiedByID = ptr(editor.ID + 1000)
	if _, err := f.s.UpdateQuery(ctx, noUser, 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateQuery(missing editor) error = %v, want ErrNotFound", err)
	}
}

func TestUpdateQuerySchedule(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	q := f.createQuery(t, store.Query{DataSourceID: &f.ds.ID, Tags: []string{"a"}, IsDraft: true,
		Schedule: json.RawMessage(`{"interval": "3600"}`)})
	hourly := json.RawMessage(`{"interval": 3600, "time": null, "day_of_week": null, "until": null, "timezone": "UTC"}`)
	assertJSONEqual(t, "CreateQuery schedule", q.Schedule, hourly)
	if !q.IsDraft || !cmp.Equal(q.Tags, []string{"a"}) {
		t.Errorf("CreateQuery: IsDraft %v, Tags %q; want true, [a]", q.IsDraft, q.Tags)
	}
	setFailures := func() {
		exec(t, f.s.Pool(), `UPDATE queries SET schedule_failures = 3 WHERE id = $1`, q.ID)
	}

	setFailures()
	q.Schedule = json.RawMessage(`{"interval": 3600, "time": null}`) // the same, written otherwise
	q.Tags, q.IsDraft = []string{"b", "c"}, false
	got, err := f.s.UpdateQuery(ctx, q, 0)
	if err != nil {
		t.Fatal(err)
	}
	assertJSONEqual(t, "UpdateQuery same schedule", got.Schedule, hourly)
	if got.ScheduleFailures != 3 || got.IsDraft || !cmp.Equal(got.Tags, []string{"b", "c"}) {
		t.Errorf("UpdateQuery(same schedule): failures %d, IsDraft %v, Tags %q; want 3 kept, false, [b c]", got.ScheduleFailures, got.IsDraft, got.Tags)
	}

	q.Schedule = json.RawMessage(`{"interval": 86400, "time": "05:00"}`)
	got, err = f.s.UpdateQuery(ctx, q, 0)
	if err != nil {
		t.Fatal(err)
	}
	assertJSONEqual(t, "UpdateQuery daily schedule", got.Schedule,
		json.RawMessage(`{"interval": 86400, "time": "05:00", "day_of_week": null, "until": null, "timezone": "UTC"}`))
	if got.ScheduleFailures != 0 {
		t.Errorf("UpdateQuery(new schedule): failures %d, want 0", got.ScheduleFailures)
	}

	setFailures()
	q.Schedule = json.RawMessage(`{"interval": null}`)
	got, err = f.s.UpdateQuery(ctx, q, 0)
	if err != nil || got.Schedule != nil || got.ScheduleFailures != 0 {
		t.Errorf("UpdateQuery(no schedule) = schedule %s, failures %d, %v; want nil, 0", got.Schedule, got.ScheduleFailures, err)
	}

	q.Schedule = json.RawMessage(`{"interval": 10}`)
	if _, err := f.s.UpdateQuery(ctx, q, 0); err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
		t.Errorf("UpdateQuery(interval 10) error = %v, want the schedule's error", err)
	}
}

func TestArchiveQuery(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	q := f.createQuery(t, store.Query{DataSourceID: &f.ds.ID, Schedule: json.RawMessage(`{"interval": 600}`)})
	exec(t, f.s.Pool(), `UPDATE queries SET schedule_failures = 2 WHERE id = $1`, q.ID)
	// A widget showing it, which archiving removes as Redash does.
	exec(t, f.s.Pool(), `INSERT INTO visualizations (query_id, type, name) VALUES ($1, 'TABLE', 't')`, q.ID)
	exec(t, f.s.Pool(), `INSERT INTO dashboards (slug, name, user_id) VALUES ('d', 'd', $1)`, f.user.ID)
	exec(t, f.s.Pool(), `INSERT INTO widgets (dashboard_id, visualization_id) SELECT d.id, v.id FROM dashboards d, visualizations v`)

	if err := f.s.ArchiveQuery(ctx, q.ID); err != nil {
		t.Fatalf("ArchiveQuery(%d) error = %v", q.ID, err)
	}
	got, err := f.s.Query(ctx, q.ID)
	if err != nil || !got.IsArchived || got.Schedule != nil || got.ScheduleFailures != 0 || got.Version != q.Version+1 {
		t.Errorf("Query(%d) after archiving = archived %v, schedule %s, failures %d, version %d, %v; want archived, no schedule, 0, version %d",
			q.ID, got.IsArchived, got.Schedule, got.ScheduleFailures, got.Version, err, q.Version+1)
	}
	if _, err := f.s.QueryByAPIKey(ctx, q.APIKey); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("QueryByAPIKey(archived query's key) error = %v, want ErrNotFound", err)
	}
	if n := count(t, f.s.Pool(), `SELECT count(*) FROM widgets`); n != 0 {
		t.Errorf("widgets of the archived query = %d, want 0", n)
	}
	if list, n, err := f.s.Queries(ctx, store.QueryFilter{AllDataSources: true}); err != nil || len(list) != 0 || n != 0 {
		t.Errorf("Queries() after archiving = %v, count %d, %v; want none", queryIDs(list), n, err)
	}
	if err := f.s.ArchiveQuery(ctx, q.ID+1000); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ArchiveQuery(missing) error = %v, want ErrNotFound", err)
	}
}

func TestForkQuery(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	forker := createUser(t, f.s)
	r := f.result(t, "forked", time.Now())
	opts := json.RawMessage(`{"parameters": [{"name": "n", "type": "number"}], "apply_auto_limit": true}`)
	src := f.createQuery(t, store.Query{Name: "Source", Description: "d", Query: "SELECT {{ n }}", QueryHash: "forked",
		DataSourceID: &f.ds.ID, Options: opts, Tags: []string{"t"}, Schedule: json.RawMessage(`{"interval": 600}`)})
	if err := f.s.ArchiveQuery(ctx, src.ID); err != nil {
		t.Fatal(err)
	}

	got, err := f.s.ForkQuery(ctx, src.ID, forker.ID)
	if err != nil {
		t.Fatalf("ForkQuery(%d, %d) error = %v", src.ID, forker.ID, err)
	}
	fu := store.QueryUser{ID: forker.ID, Name: forker.Name, Email: forker.Email}
	want := store.Query{
		ID: got.ID, Name: "Copy of (#" + strconv.FormatInt(src.ID, 10) + ") Source", Description: "d", Query: "SELECT {{ n }}",
		QueryHash: "forked", DataSourceID: &f.ds.ID, UserID: forker.ID, LatestQueryDataID: &r.ID, Options: got.Options,
		Tags: []string{"t"}, IsDraft: true, Version: 1, APIKey: got.APIKey, LastModifiedByID: &forker.ID,
		CreatedAt: got.CreatedAt, UpdatedAt: got.UpdatedAt, User: fu, LastModifiedBy: &fu,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ForkQuery(%d, %d) diff (-want +got):\n%s", src.ID, forker.ID, diff)
	}
	assertJSONEqual(t, "ForkQuery options", got.Options, opts)
	if got.ID == src.ID || len(got.APIKey) != 40 || got.APIKey == src.APIKey {
		t.Errorf("ForkQuery: id %d, key %q; want a new query with a new key", got.ID, got.APIKey)
	}
	if k, err := f.s.QueryByAPIKey(ctx, got.APIKey); err != nil || k.ID != got.ID {
		t.Errorf("QueryByAPIKey(fork's key) = %d, %v; want %d", k.ID, err, got.ID)
	}
	if _, err := f.s.ForkQuery(ctx, src.ID+1000, forker.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ForkQuery(missing query) error = %v, want ErrNotFound", err)
	}
	if _, err := f.s.ForkQuery(ctx, src.ID, forker.ID+1000); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ForkQuery(missing user) error = %v, want ErrNotFound", err)
	}
}
