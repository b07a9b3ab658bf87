package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/queryd/queryd/store"
)

// visualization creates a table visualization of query queryID.
func (f fixture) visualization(t testing.TB, queryID int64) store.Visualization {
	t.Helper()
	v, err := f.s.CreateVisualization(context.Background(), store.Visualization{QueryID: queryID, Type: "TABLE", Name: "Table"})
	if err != nil {
		t.Fatalf("CreateVisualization(query %d): %v", queryID, err)
	}
	return v
}

func TestVisualizations(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	q := f.query(t, "q")
	in := store.Visualization{QueryID: q.ID, Type: "CHART", Name: "Chart", Description: "d",
		Options: json.RawMessage(`{"series": {"stacking": null}}`)}
	v, err := f.s.CreateVisualization(ctx, in)
	if err != nil {
		t.Fatalf("CreateVisualization(%+v): %v", in, err)
	}
	want := in
	want.ID, want.CreatedAt, want.UpdatedAt = v.ID, v.CreatedAt, v.UpdatedAt
	if diff := cmp.Diff(want, v); diff != "" || v.ID == 0 {
		t.Errorf("CreateVisualization(%+v) diff (-want +got):\n%s", in, diff)
	}
	if got, err := f.s.Visualization(ctx, v.ID); err != nil || !cmp.Equal(got, v) {
		t.Errorf("Visualization(%d) = %+v, %v; want %+v", v.ID, got, err, v)
	}
	second := f.visualization(t, q.ID)
	if string(second.Options) != "{}" {
		t.Errorf("CreateVisualization(no options).Options = %s, want {}", second.Options)
	}
	if all, err := f.s.QueryVisualizations(ctx, q.ID); err != nil || len(all) != 2 || all[0].ID != v.ID || all[1].ID != second.ID {
		t.Errorf("QueryVisualizations(%d) = %+v, %v; want %d then %d", q.ID, all, err, v.ID, second.ID)
	}

	up := v
	up.Type, up.Name, up.Description, up.Options = "COUNTER", "Counter", "", json.RawMessage(`{"x": 1}`)
	up.QueryID = f.query(t, "other").ID // not changed by updates
	got, err := f.s.UpdateVisualization(ctx, up)
	want = up
	want.QueryID, want.UpdatedAt = q.ID, got.UpdatedAt
	if diff := cmp.Diff(want, got); err != nil || diff != "" {
		t.Errorf("UpdateVisualization(%+v) error = %v, diff (-want +got):\n%s", up, err, diff)
	}

	// Deleting it deletes its widgets.
	d := f.dashboard(t, "Board")
	w := f.widget(t, store.Widget{DashboardID: d.ID, VisualizationID: &v.ID, Width: 1})
	if err := f.s.DeleteVisualization(ctx, v.ID); err != nil {
		t.Fatalf("DeleteVisualization(%d): %v", v.ID, err)
	}
	if _, err := f.s.Visualization(ctx, v.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Visualization(deleted) error = %v, want ErrNotFound", err)
	}
	if _, err := f.s.Widget(ctx, w.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Widget(%d) of a deleted visualization error = %v, want ErrNotFound", w.ID, err)
	}

	for name, err := range map[string]error{
		"CreateVisualization(missing query)": func() error {
			_, err := f.s.CreateVisualization(ctx, store.Visualization{QueryID: q.ID + 1000, Type: "TABLE"})
			return err
		}(),
		"UpdateVisualization(missing)": func() error { _, err := f.s.UpdateVisualization(ctx, up); return err }(),
		"DeleteVisualization(missing)": f.s.DeleteVisualization(ctx, v.ID),
	} {
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s error = %v, want ErrNotFound", name, err)
		}
	}
}
