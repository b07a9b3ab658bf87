package drivertest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/queryd/queryd/drivers"
)

func TestFakeConformance(t *testing.T) {
	Run(t, FakeSuite(NewFake()))
}

func TestFakeOpen(t *testing.T) {
	tests := []struct {
		name    string
		config  string
		wantErr error // nil: success; *drivers.OptionsError: any options error with that Field
	}{
		{name: "empty object", config: `{}`},
		{name: "no config", config: ``},
		{name: "unknown keys", config: `{"host": "x", "port": 1}`},
		{name: "fail_open false", config: `{"fail_open": false}`},
		{name: "fail_open true", config: `{"fail_open": true}`, wantErr: errFailOpen},
		{name: "array", config: `[1]`, wantErr: &drivers.OptionsError{Field: "options"}},
		{name: "null", config: `null`, wantErr: &drivers.OptionsError{Field: "options"}},
		{name: "not JSON", config: `{`, wantErr: &drivers.OptionsError{Field: "options"}},
		{name: "fail_open string", config: `{"fail_open": "yes"}`, wantErr: &drivers.OptionsError{Field: "fail_open"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := NewFake().Open(t.Context(), json.RawMessage(tc.config))
			if conn != nil {
				defer conn.Close()
			}
			var wantOpt *drivers.OptionsError
			switch {
			case tc.wantErr == nil:
				if err != nil {
					t.Errorf("Open(%s) error = %v, want nil", tc.config, err)
				}
			case errors.As(tc.wantErr, &wantOpt):
				var got *drivers.OptionsError
				if !errors.As(err, &got) || got.Field != wantOpt.Field {
					t.Errorf("Open(%s) error = %v, want an *drivers.OptionsError for field %q", tc.config, err, wantOpt.Field)
				}
			default:
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("Open(%s) error = %v, want %v", tc.config, err, tc.wantErr)
				}
			}
		})
	}
}

func TestFakeOpenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := NewFake().Open(ctx, json.RawMessage(`{}`))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Open(cancelled ctx, {}) error = %v, want an error wrapping context.Canceled", err)
	}
}

// readAll runs sql on a fresh Fake conn and returns its columns and rows.
func readAll(t *testing.T, f *Fake, sql string) ([]drivers.Column, [][]any, error) {
	t.Helper()
	conn, err := f.Open(t.Context(), nil)
	if err != nil {
		t.Fatalf("Open(nil) error = %v", err)
	}
	defer conn.Close()
	rows, err := conn.Query(t.Context(), sql)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var all [][]any
	for {
		dest := make([]any, len(rows.Columns()))
		err := rows.Next(dest)
		if err == io.EOF {
			return rows.Columns(), all, nil
		}
		if err != nil {
			return rows.Columns(), all, err
		}
		all = append(all, dest)
	}
}

func TestFakeStatements(t *testing.T) {
	at := func(s int) time.Time { return time.Date(2024, 1, 1, 0, 0, s, 0, time.UTC) }
	tests := []struct {
		sql      string
		wantCols []drivers.Column
		wantRows [][]any
		wantErr  error
	}{
		{
			sql:      "rows 3",
			wantCols: fakeRowsCols,
			wantRows: [][]any{
				{int64(1), "row 1", 0.25, false, at(0), at(1), drivers.Decimal("1.25")},
				{int64(2), "row 2", 0.5, true, at(86400), at(2), drivers.Decimal("2.50")},
				{int64(3), "row 3", 0.75, false, at(2 * 86400), at(3), drivers.Decimal("3.75")},
			},
		},
		{sql: "  ROWS 0  ", wantCols: fakeRowsCols},
		{sql: "sleep 1ms -- marker", wantCols: fakeSleepCols, wantRows: [][]any{{"1ms"}}},
		{sql: "types", wantCols: fakeTypesCols, wantRows: [][]any{fakeTypesRow(), make([]any, len(fakeTypesCols))}},
		{sql: "Empty", wantCols: fakeEmptyCols},
		{sql: "fail  Table  \"x\" is gone ", wantErr: &drivers.QueryError{Message: `Table  "x" is gone`}},
		{sql: "select 1", wantErr: &drivers.QueryError{Message: `syntax error at or near "select"`}},
		{sql: "rows -1", wantErr: &drivers.QueryError{Message: `syntax error at or near "-1"`}},
		{sql: "rows", wantErr: &drivers.QueryError{Message: `syntax error at or near "rows"`}},
		{sql: "sleep forever", wantErr: &drivers.QueryError{Message: `syntax error at or near "forever"`}},
		{sql: " -- only a comment", wantErr: &drivers.QueryError{Message: "syntax error at end of input"}},
	}
	for _, tc := range tests {
		t.Run(tc.sql, func(t *testing.T) {
			cols, rows, err := readAll(t, NewFake(), tc.sql)
			if diff := cmp.Diff(tc.wantErr, err); diff != "" {
				t.Fatalf("Query(%q) error mismatch (-want +got):\n%s", tc.sql, diff)
			}
			if diff := cmp.Diff(tc.wantCols, cols); diff != "" {
				t.Errorf("Query(%q).Columns() mismatch (-want +got):\n%s", tc.sql, diff)
			}
			if diff := cmp.Diff(tc.wantRows, rows); diff != "" {
				t.Errorf("Query(%q) rows mismatch (-want +got):\n%s", tc.sql, diff)
			}
		})
	}
}

func TestFakeExecutionsAndRunning(t *testing.T) {
	f := NewFake()
	conn, err := f.Open(t.Context(), json.RawMessage(`{}`))
	if err != nil {
		t.Fatalf("Open({}) error = %v", err)
	}
	defer conn.Close()

	rows, err := conn.Query(t.Context(), "rows 5 -- open-rows")
	if err != nil {
		t.Fatalf(`Query("rows 5") error = %v`, err)
	}
	if !f.Running("open-rows") {
		t.Errorf(`Running("open-rows") with its Rows open = false, want true`)
	}
	if f.Running("no-such-marker") {
		t.Errorf(`Running("no-such-marker") = true, want false`)
	}
	rows.Close()
	if f.Running("open-rows") {
		t.Errorf(`Running("open-rows") after Close = true, want false`)
	}
	if err := rows.Next(make([]any, len(fakeRowsCols))); err == nil {
		t.Errorf("Next() after Close = nil, want an error")
	}

	conn.Query(t.Context(), "fail boom")
	conn.Query(t.Context(), "nonsense")
	if got, want := f.Executions(), int64(3); got != want {
		t.Errorf("Executions() = %d, want %d", got, want)
	}

	ctx, cancel := context.WithCancel(t.Context())
	rows, err = conn.Query(ctx, "rows 100 -- cancelled-rows")
	if err != nil {
		t.Fatalf(`Query("rows 100") error = %v`, err)
	}
	defer rows.Close()
	cancel()
	if f.Running("cancelled-rows") {
		t.Errorf(`Running("cancelled-rows") after cancel = true, want false`)
	}
	if err := rows.Next(make([]any, len(fakeRowsCols))); !errors.Is(err, context.Canceled) {
		t.Errorf("Next() after cancel = %v, want an error wrapping context.Canceled", err)
	}
}

func TestFakeConnClosed(t *testing.T) {
	conn, err := NewFake().Open(t.Context(), nil)
	if err != nil {
		t.Fatalf("Open(nil) error = %v", err)
	}
	p, ok := conn.(drivers.Pinger)
	if !ok {
		t.Fatalf("Fake conn %T does not implement drivers.Pinger", conn)
	}
	if err := p.Ping(t.Context()); err != nil {
		t.Errorf("Ping() on an open conn = %v, want nil", err)
	}
	if err := conn.Close(); err != nil {
		t.Errorf("Close() = %v, want nil", err)
	}
	if err := p.Ping(t.Context()); !errors.Is(err, errFakeClosed) {
		t.Errorf("Ping() after Close = %v, want %v", err, errFakeClosed)
	}
	if _, err := conn.Query(t.Context(), "rows 1"); !errors.Is(err, errFakeClosed) {
		t.Errorf(`Query("rows 1") after Close = %v, want %v`, err, errFakeClosed)
	}
}

// TestFakeQueryIDs checks the ids statements report and cancelling by them.
func TestFakeQueryIDs(t *testing.T) {
	f := NewFake()
	conn, err := f.Open(t.Context(), nil)
	if err != nil {
		t.Fatalf("Open(nil) error = %v", err)
	}
	defer conn.Close()
	canceler := conn.(drivers.Canceler)

	var ids []string
	ctx := drivers.WithQueryIDFunc(t.Context(), func(id string) { ids = append(ids, id) })
	for _, sql := range []string{"rows 2", "fail boom", "empty", "sleep 1ms"} {
		Drain(ctx, conn, sql)
	}
	if diff := cmp.Diff([]string{"fake-1", "fake-2", "fake-3"}, ids); diff != "" {
		t.Errorf("query ids of rows, fail, empty, sleep mismatch (-want +got):\n%s", diff)
	}

	// Cancelling by id stops that statement only, whichever Conn cancels.
	rows, err := conn.Query(ctx, "rows 100 -- by-id")
	if err != nil {
		t.Fatalf(`Query("rows 100") error = %v`, err)
	}
	defer rows.Close()
	other, err := f.Open(t.Context(), nil)
	if err != nil {
		t.Fatalf("Open(nil) error = %v", err)
	}
	defer other.Close()
	if err := other.(drivers.Canceler).CancelQuery(t.Context(), "fake-4"); err != nil {
		t.Errorf(`CancelQuery("fake-4") error = %v, want nil`, err)
	}
	if f.Running("by-id") {
		t.Errorf(`Running("by-id") after CancelQuery = true, want false`)
	}
	const wantMsg = "canceling statement due to user request"
	var qe *drivers.QueryError
	if err := rows.Next(make([]any, len(fakeRowsCols))); !errors.As(err, &qe) || qe.Message != wantMsg {
		t.Errorf("Next() after CancelQuery = %v, want a *drivers.QueryError %q", err, wantMsg)
	}

	errc := make(chan error, 1)
	go func() { errc <- Drain(t.Context(), conn, "sleep 1m -- sleeping") }()
	for !f.Running("sleeping") {
		time.Sleep(time.Millisecond)
	}
	if err := canceler.CancelQuery(t.Context(), "fake-5"); err != nil {
		t.Errorf(`CancelQuery("fake-5") error = %v, want nil`, err)
	}
	if err := <-errc; !errors.As(err, &qe) || qe.Message != wantMsg {
		t.Errorf(`"sleep 1m" cancelled by id = %v, want a *drivers.QueryError %q`, err, wantMsg)
	}

	for _, id := range []string{"fake-1", "fake-5", "fake-999"} {
		if err := canceler.CancelQuery(t.Context(), id); err != nil {
			t.Errorf("CancelQuery(%q) of no running statement error = %v, want nil", id, err)
		}
	}
	for _, id := range []string{"", "fake-", "fake-x", "4"} {
		if err := canceler.CancelQuery(t.Context(), id); err == nil {
			t.Errorf("CancelQuery(%q) error = nil, want an error", id)
		}
	}
	if _, got, err := readAll(t, f, "rows 3"); err != nil || len(got) != 3 {
		t.Errorf(`"rows 3" after the cancels = %d rows, %v; want 3 rows`, len(got), err)
	}
}

func TestFakeSchema(t *testing.T) {
	conn, err := NewFake().Open(t.Context(), nil)
	if err != nil {
		t.Fatalf("Open(nil) error = %v", err)
	}
	in := conn.(drivers.Inspector)
	got, err := in.Schema(t.Context())
	if err != nil {
		t.Fatalf("Schema() error = %v", err)
	}
	want := []drivers.Table{{Schema: "main", Name: "numbers", Columns: []drivers.TableColumn{
		{Name: "n", Type: "INT64"}, {Name: "label", Type: "STRING"}, {Name: "score", Type: "FLOAT64"},
		{Name: "ok", Type: "BOOL"}, {Name: "day", Type: "DATE"}, {Name: "at", Type: "TIMESTAMP"},
		{Name: "amount", Type: "NUMERIC"},
	}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Schema() mismatch (-want +got):\n%s", diff)
	}
	conn.Close()
	if _, err := in.Schema(t.Context()); !errors.Is(err, errFakeClosed) {
		t.Errorf("Schema() after Close = %v, want %v", err, errFakeClosed)
	}
}
