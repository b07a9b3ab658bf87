package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/queryd/queryd/store"
)

// widget creates w.
func (f fixture) widget(t testing.TB, w store.Widget) store.Widget {
	t.Helper()
	created, err := f.s.CreateWidget(context.Background(), w)
	if err != nil {
		t.Fatalf("CreateWidget(%+v): %v", w, err)
	}
	return created
}

func TestWidgets(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	d := f.dashboard(t, "Board")
	v := f.visualization(t, f.query(t, "q").ID)
	in := store.Widget{DashboardID: d.ID, VisualizationID: &v.ID, Width: 1,
		Options: json.RawMessage(`{"position": {"col": 0, "row": 0}}`)}
	w, err := f.s.CreateWidget(ctx, in)
	if err != nil {
		t.Fatalf("CreateWidget(%+v): %v", in, err)
	}
	want := in
	want.ID, want.CreatedAt, want.UpdatedAt = w.ID, w.CreatedAt, w.UpdatedAt
	if diff := cmp.Diff(want, w); diff != "" || w.ID == 0 {
		t.Errorf("CreateWidget(%+v) diff (-want +got):\n%s", in, diff)
	}
	if got, err := f.s.Widget(ctx, w.ID); err != nil || !cmp.Equal(got, w) {
		t.Errorf("Widget(%d) = %+v, %v; want %+v", w.ID, got, err, w)
	}
	text := f.widget(t, store.Widget{DashboardID: d.ID, Text: "hi", Width: 2})
	if text.VisualizationID != nil || string(text.Options) != "{}" {
		t.Errorf("CreateWidget(text) = %+v, want no visualization and options {}", text)
	}

	up := w
	up.Text, up.Width, up.Options = "caption", 3, json.RawMessage(`{"a": 1}`)
	up.DashboardID, up.VisualizationID = f.dashboard(t, "Other").ID, nil // not changed by updates
	got, err := f.s.UpdateWidget(ctx, up)
	want = up
	want.DashboardID, want.VisualizationID, want.UpdatedAt = d.ID, &v.ID, got.UpdatedAt
	if diff := cmp.Diff(want, got); err != nil || diff != "" {
		t.Errorf("UpdateWidget(%+v) error = %v, diff (-want +got):\n%s", up, err, diff)
	}

	if err := f.s.DeleteWidget(ctx, w.ID); err != nil {
		t.Fatalf("DeleteWidget(%d): %v", w.ID, err)
	}
	if _, err := f.s.Widget(ctx, w.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Widget(deleted) error = %v, want ErrNotFound", err)
	}
	missingViz := v.ID + 1000
	for name, err := range map[string]error{
		"CreateWidget(missing dashboard)": func() error {
			_, err := f.s.CreateWidget(ctx, store.Widget{DashboardID: d.ID + 1000, Text: "x"})
			return err
		}(),
		"CreateWidget(missing visualization)": func() error {
			_, err := f.s.CreateWidget(ctx, store.Widget{DashboardID: d.ID, VisualizationID: &missingViz})
			return err
		}(),
		"UpdateWidget(missing)": func() error { _, err := f.s.UpdateWidget(ctx, up); return err }(),
		"DeleteWidget(missing)": f.s.DeleteWidget(ctx, w.ID),
	} {
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s error = %v, want ErrNotFound", name, err)
		}
	}
}
