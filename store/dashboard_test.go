package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/queryd/queryd/store"
)

// dashboard creates a dashboard of f's user named name.
func (f fixture) dashboard(t testing.TB, name string) store.Dashboard {
	t.Helper()
	d, err := f.s.CreateDashboard(context.Background(), store.Dashboard{Name: name, UserID: f.user.ID, IsDraft: true})
	if err != nil {
		t.Fatalf("CreateDashboard(%q): %v", name, err)
	}
	return d
}

// query creates a saved query of f's user on f's data source.
func (f fixture) query(t testing.TB, name string) store.Query {
	t.Helper()
	q, err := f.s.CreateQuery(context.Background(), store.Query{Name: name, Query: "SELECT 1", QueryHash: unique("h"),
		DataSourceID: &f.ds.ID, UserID: f.user.ID})
	if err != nil {
		t.Fatalf("CreateQuery(%q): %v", name, err)
	}
	return q
}

func TestSlugify(t *testing.T) {
	tests := []struct{ name, want string }{
		{"Sales", "sales"},
		{"Sales Overview", "sales-overview"},
		{"  Sales -- Q1/2024!  ", "sales-q1-2024"},
		{"already-a-slug", "already-a-slug"},
		{"Ünïcode Straße", "n-code-stra-e"},
		{"2024", "2024"},
		{"!!!", "dashboard"},
		{"", "dashboard"},
	}
	for _, tc := range tests {
		if got := store.Slugify(tc.name); got != tc.want {
			t.Errorf("Slugify(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestCreateDashboard(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	in := store.Dashboard{Name: "Sales Overview", UserID: f.user.ID, IsDraft: true, Tags: []string{"a"},
		Options: json.RawMessage(`{"parameters": {"n": 1}}`)}
	d, err := f.s.CreateDashboard(ctx, in)
	if err != nil {
		t.Fatalf("CreateDashboard(%+v): %v", in, err)
	}
	want := in
	want.ID, want.Slug, want.User, want.Version, want.CreatedAt, want.UpdatedAt =
		d.ID, "sales-overview", f.user, 1, d.CreatedAt, d.UpdatedAt
	want.Layout = json.RawMessage(`[]`)
	if diff := cmp.Diff(want, d); diff != "" || d.ID == 0 || d.CreatedAt.IsZero() {
		t.Errorf("CreateDashboard(%+v) diff (-want +got):\n%s", in, diff)
	}
	got, err := f.s.Dashboard(ctx, d.ID)
	if diff := cmp.Diff(d, got); err != nil || diff != "" {
		t.Errorf("Dashboard(%d) error = %v, diff (-created +got):\n%s", d.ID, err, diff)
	}
	if _, err := f.s.Dashboard(ctx, d.ID+1000); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Dashboard(missing) error = %v, want ErrNotFound", err)
	}
	noUser := store.Dashboard{Name: "x", UserID: f.user.ID + 1000}
	if _, err := f.s.CreateDashboard(ctx, noUser); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateDashboard(missing user) error = %v, want ErrNotFound", err)
	}
}

func TestDashboardSlugs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	first := f.dashboard(t, "Sales")
	second := f.dashboard(t, "sales!")
	if first.Slug != "sales" || second.Slug != fmt.Sprintf("sales-%d", second.ID) {
		t.Errorf("slugs of Sales, sales! = %q, %q; want sales, sales-%d", first.Slug, second.Slug, second.ID)
	}

	// The slug follows a rename, and stays when the name does.
	rename := func(d store.Dashboard, name string) store.Dashboard {
		t.Helper()
		d.Name = name
		got, err := f.s.UpdateDashboard(ctx, d)
		if err != nil {
			t.Fatalf("UpdateDashboard(%d, %q): %v", d.ID, name, err)
		}
		return got
	}
	second = rename(second, "Marketing")
	if second.Slug != "marketing" {
		t.Errorf("slug after renaming to Marketing = %q, want marketing", second.Slug)
	}
	second.Tags = []string{"same name"}
	if second = rename(second, "Marketing"); second.Slug != "marketing" {
		t.Errorf("slug after an edit keeping the name = %q, want marketing", second.Slug)
	}
	// An archived dashboard's slug is still taken.
	if _, err := f.s.ArchiveDashboard(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	if second = rename(second, "SALES"); second.Slug != fmt.Sprintf("sales-%d", second.ID) {
		t.Errorf("slug after renaming to SALES = %q, want sales-%d", second.Slug, second.ID)
	}

	// Dashboards created at once with one name get distinct slugs.
	var wg sync.WaitGroup
	slugs := make([]string, 6)
	for i := range slugs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := f.s.CreateDashboard(ctx, store.Dashboard{Name: "Race", UserID: f.user.ID})
			if err != nil {
				t.Errorf("CreateDashboard(Race): %v", err)
			}
			slugs[i] = d.Slug
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, s := range slugs {
		if seen[s] {
			t.Errorf("concurrent CreateDashboard slugs = %v, want distinct", slugs)
			break
		}
		seen[s] = true
	}
	if !seen["race"] {
		t.Errorf("concurrent CreateDashboard slugs = %v, want one of them race", slugs)
	}
}

func TestDashboardBySlug(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	old := f.dashboard(t, "Legacy")
	newer := f.dashboard(t, "Legacy")
	// Rows from before slugs were unique may share one.
	exec(t, f.s.Pool(), `UPDATE dashboards SET slug = 'legacy' WHERE id = $1`, newer.ID)
	if got, err := f.s.DashboardBySlug(ctx, "legacy"); err != nil || got.ID != newer.ID {
		t.Errorf("DashboardBySlug(legacy) = %d, %v; want the newest, %d", got.ID, err, newer.ID)
	}
	if _, err := f.s.ArchiveDashboard(ctx, newer.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := f.s.DashboardBySlug(ctx, "legacy"); err != nil || got.ID != old.ID {
		t.Errorf("DashboardBySlug(legacy) with the newest archived = %d, %v; want %d", got.ID, err, old.ID)
	}
	if _, err := f.s.ArchiveDashboard(ctx, old.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := f.s.DashboardBySlug(ctx, "legacy"); err != nil || got.ID != newer.ID {
		t.Errorf("DashboardBySlug(legacy) with both archived = %d, %v; want the newest, %d", got.ID, err, newer.ID)
	}
	if _, err := f.s.DashboardBySlug(ctx, "nothing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DashboardBySlug(nothing) error = %v, want ErrNotFound", err)
	}
}

func TestDashboards(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	tagged := func(name string, tags ...string) store.Dashboard {
		t.Helper()
		d, err := f.s.CreateDashboard(ctx, store.Dashboard{Name: name, UserID: f.user.ID, Tags: tags})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	sales := tagged("Sales", "finance", "eu")
	costs := tagged("Costs 100%", "finance")
	ops := tagged("Ops_board")
	archived := tagged("Sales archive", "finance")
	if _, err := f.s.ArchiveDashboard(ctx, archived.ID); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		filter    store.DashboardFilter
		want      []int64
		wantCount int
	}{
		{"all, newest first", store.DashboardFilter{}, []int64{ops.ID, costs.ID, sales.ID}, 3},
		{"first page", store.DashboardFilter{Page: 1, PageSize: 2}, []int64{ops.ID, costs.ID}, 3},
		{"second page", store.DashboardFilter{Page: 2, PageSize: 2}, []int64{sales.ID}, 3},
		{"past the end", store.DashboardFilter{Page: 3, PageSize: 2}, nil, 3},
		{"past any end", store.DashboardFilter{Page: math.MaxInt, PageSize: 250}, nil, 3},
		{"search, any case", store.DashboardFilter{Search: "sAL"}, []int64{sales.ID}, 1},
		{"search % literally", store.DashboardFilter{Search: "100%"}, []int64{costs.ID}, 1},
		{"search _ literally", store.DashboardFilter{Search: "s_b"}, []int64{ops.ID}, 1},
		{"one tag", store.DashboardFilter{Tags: []string{"finance"}}, []int64{costs.ID, sales.ID}, 2},
		{"every tag", store.DashboardFilter{Tags: []string{"finance", "eu"}}, []int64{sales.ID}, 1},
		{"tag and search", store.DashboardFilter{Tags: []string{"finance"}, Search: "cost"}, []int64{costs.ID}, 1},
		{"no match", store.DashboardFilter{Search: "zzz"}, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, n, err := f.s.Dashboards(ctx, tc.filter)
			var ids []int64
			for _, d := range got {
				ids = append(ids, d.ID)
			}
			if err != nil || n != tc.wantCount || !cmp.Equal(ids, tc.want) {
				t.Errorf("Dashboards(%+v) = %v, %d, %v; want %v, %d", tc.filter, ids, n, err, tc.want, tc.wantCount)
			}
		})
	}
	// Listed dashboards are whole, owner included.
	got, _, err := f.s.Dashboards(ctx, store.DashboardFilter{Search: "Sales"})
	if err != nil || len(got) != 1 || !cmp.Equal(got[0], sales) {
		t.Errorf("Dashboards(Sales) = %+v, %v; want %+v", got, err, sales)
	}
}

func TestUpdateDashboard(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	d := f.dashboard(t, "Board")
	in := d
	in.Layout = json.RawMessage(`[[1, 2]]`)
	in.Options = json.RawMessage(`{"parameters": {"n": 2}}`)
	in.DashboardFiltersEnabled, in.IsDraft, in.Tags = true, false, []string{"x", "y"}
	in.RefreshSchedule = json.RawMessage(`{"interval": 300, "cron": null, "timezone": "UTC"}`)
	got, err := f.s.UpdateDashboard(ctx, in)
	if err != nil {
		t.Fatalf("UpdateDashboard(%+v): %v", in, err)
	}
	want := in
	want.Version, want.UpdatedAt = 2, got.UpdatedAt
	want.RefreshSchedule = json.RawMessage(`{"cron": null, "interval": 300, "timezone": "UTC"}`)
	if diff := cmp.Diff(want, got); diff != "" || !notBefore(got.UpdatedAt, d.UpdatedAt) {
		t.Errorf("UpdateDashboard(%+v) diff (-want +got):\n%s", in, diff)
	}

	// A stale version is refused, and changes nothing.
	stale := in
	stale.Name = "stale"
	if _, err := f.s.UpdateDashboard(ctx, stale); !errors.Is(err, store.ErrConflict) {
		t.Errorf("UpdateDashboard(version 1 of 2) error = %v, want ErrConflict", err)
	}
	if now, _ := f.s.Dashboard(ctx, d.ID); now.Name != "Board" || now.Version != 2 {
		t.Errorf("after a stale update: name %q version %d, want Board 2", now.Name, now.Version)
	}

	// Failures count until the schedule changes.
	exec(t, f.s.Pool(), `UPDATE dashboards SET refresh_failures = 3 WHERE id = $1`, d.ID)
	same := got
	same.RefreshFailures = 3
	same.RefreshSchedule = json.RawMessage(`{"timezone": "UTC", "interval": 300, "cron": null}`)
	if got, err = f.s.UpdateDashboard(ctx, same); err != nil || got.RefreshFailures != 3 {
		t.Errorf("UpdateDashboard(same schedule) = %d failures, %v; want 3", got.RefreshFailures, err)
	}
	changed := got
	changed.RefreshSchedule = json.RawMessage(`{"interval": 600}`)
	if got, err = f.s.UpdateDashboard(ctx, changed); err != nil || got.RefreshFailures != 0 {
		t.Errorf("UpdateDashboard(new schedule) = %d failures, %v; want 0", got.RefreshFailures, err)
	}
	cleared := got
	cleared.RefreshSchedule = json.RawMessage(`null`)
	if got, err = f.s.UpdateDashboard(ctx, cleared); err != nil || got.RefreshSchedule != nil {
		t.Errorf("UpdateDashboard(null schedule) schedule = %s, %v; want none", got.RefreshSchedule, err)
	}

	missing := got
	missing.ID += 1000
	if _, err := f.s.UpdateDashboard(ctx, missing); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateDashboard(missing) error = %v, want ErrNotFound", err)
	}
	bad := got
	bad.Layout = json.RawMessage(`{`)
	if _, err := f.s.UpdateDashboard(ctx, bad); err == nil {
		t.Errorf("UpdateDashboard(layout not JSON) error = nil, want an error")
	}
}

func TestArchiveDashboard(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	d := f.dashboard(t, "Board")
	exec(t, f.s.Pool(), `UPDATE dashboards SET refresh_schedule = '{"interval": 60}' WHERE id = $1`, d.ID)
	got, err := f.s.ArchiveDashboard(ctx, d.ID)
	if err != nil || !got.IsArchived || got.RefreshSchedule != nil {
		t.Errorf("ArchiveDashboard(%d) = archived %v schedule %s, %v; want archived without schedule",
			d.ID, got.IsArchived, got.RefreshSchedule, err)
	}
	if _, err := f.s.ArchiveDashboard(ctx, d.ID+1000); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ArchiveDashboard(missing) error = %v, want ErrNotFound", err)
	}
}

func TestShareDashboard(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	d := f.dashboard(t, "Board")
	if _, err := f.s.DashboardByAPIKey(ctx, "not-a-key"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DashboardByAPIKey(unknown) error = %v, want ErrNotFound", err)
	}
	key, err := f.s.ShareDashboard(ctx, d.ID)
	if err != nil || len(key) != 40 {
		t.Fatalf("ShareDashboard(%d) = %q, %v; want a 40-character key", d.ID, key, err)
	}
	if again, err := f.s.ShareDashboard(ctx, d.ID); err != nil || again != key {
		t.Errorf("ShareDashboard(%d) again = %q, %v; want the same key", d.ID, again, err)
	}
	if got, err := f.s.DashboardByAPIKey(ctx, key); err != nil || got.ID != d.ID || got.APIKey != key {
		t.Errorf("DashboardByAPIKey(its key) = %d (key %q), %v; want dashboard %d with its key", got.ID, got.APIKey, err, d.ID)
	}
	// The key is sealed at rest: no column holds it in clear.
	if n := count(t, f.s.Pool(), `SELECT count(*) FROM dashboards
		WHERE position($1::bytea IN api_key_sealed) > 0 OR api_key_hash = $2`, []byte(key), key); n != 0 {
		t.Errorf("the dashboard's API key is stored in clear")
	}
	if _, err := f.s.ShareDashboard(ctx, d.ID+1000); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ShareDashboard(missing) error = %v, want ErrNotFound", err)
	}

	// An archived dashboard's key does not work.
	if _, err := f.s.ArchiveDashboard(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.DashboardByAPIKey(ctx, key); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DashboardByAPIKey(archived dashboard's key) error = %v, want ErrNotFound", err)
	}

	other := f.dashboard(t, "Other")
	otherKey, err := f.s.ShareDashboard(ctx, other.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.s.UnshareDashboard(ctx, other.ID); err != nil {
		t.Fatalf("UnshareDashboard(%d): %v", other.ID, err)
	}
	if _, err := f.s.DashboardByAPIKey(ctx, otherKey); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DashboardByAPIKey(unshared key) error = %v, want ErrNotFound", err)
	}
	if got, err := f.s.Dashboard(ctx, other.ID); err != nil || got.APIKey != "" {
		t.Errorf("Dashboard(%d).APIKey after unsharing = %q, %v; want none", other.ID, got.APIKey, err)
	}
	if renewed, err := f.s.ShareDashboard(ctx, other.ID); err != nil || renewed == otherKey {
		t.Errorf("ShareDashboard after unsharing = %q, %v; want a new key", renewed, err)
	}
	if err := f.s.UnshareDashboard(ctx, other.ID+1000); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UnshareDashboard(missing) error = %v, want ErrNotFound", err)
	}
}

func TestDashboardWidgets(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	d := f.dashboard(t, "Board")
	q1, q2 := f.query(t, "one"), f.query(t, "two")
	v1 := f.visualization(t, q1.ID)
	v1b := f.visualization(t, q1.ID)
	v2 := f.visualization(t, q2.ID)
	text := f.widget(t, store.Widget{DashboardID: d.ID, Text: "# hello", Width: 2})
	w1 := f.widget(t, store.Widget{DashboardID: d.ID, VisualizationID: &v1.ID, Width: 1})
	w2 := f.widget(t, store.Widget{DashboardID: d.ID, VisualizationID: &v2.ID, Width: 1})
	w1b := f.widget(t, store.Widget{DashboardID: d.ID, VisualizationID: &v1b.ID, Width: 1})
	f.widget(t, store.Widget{DashboardID: f.dashboard(t, "Other").ID, VisualizationID: &v1.ID, Width: 1})

	got, err := f.s.DashboardWidgets(ctx, d.ID)
	if err != nil {
		t.Fatalf("DashboardWidgets(%d): %v", d.ID, err)
	}
	withViz := func(w store.Widget, v store.Visualization, q store.Query) store.Widget {
		v.Query = &q
		w.Visualization = &v
		return w
	}
	want := []store.Widget{text, withViz(w1, v1, q1), withViz(w2, v2, q2), withViz(w1b, v1b, q1)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DashboardWidgets(%d) diff (-want +got):\n%s", d.ID, diff)
	}
	ids, err := f.s.DashboardQueryIDs(ctx, d.ID)
	if err != nil || !cmp.Equal(ids, []int64{q1.ID, q2.ID}) {
		t.Errorf("DashboardQueryIDs(%d) = %v, %v; want [%d %d]", d.ID, ids, err, q1.ID, q2.ID)
	}
	if got, err := f.s.DashboardWidgets(ctx, d.ID+1000); err != nil || len(got) != 0 {
		t.Errorf("DashboardWidgets(missing) = %+v, %v; want none", got, err)
	}
	if ids, err := f.s.DashboardQueryIDs(ctx, d.ID+1000); err != nil || len(ids) != 0 {
		t.Errorf("DashboardQueryIDs(missing) = %v, %v; want none", ids, err)
	}
}
