package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/queryd/queryd/store"
	"github.com/queryd/queryd/store/storetest"
)

func TestDataSourceCRUD(t *testing.T) {
	t.Parallel()
	s, _ := storetest.New(t)
	ctx := context.Background()

	var created []store.DataSource
	for _, name := range []string{"beta", "Alpha", "gamma"} {
		ds, err := s.CreateDataSource(ctx, name, "pg", json.RawMessage(`{"host":"`+name+`"}`))
		if err != nil {
			t.Fatalf("CreateDataSource(%q) error = %v", name, err)
		}
		if ds.ID == 0 || ds.Name != name || ds.Type != "pg" || string(ds.Options) != `{"host":"`+name+`"}` {
			t.Errorf("CreateDataSource(%q) = %+v, want it with its name, type and options", name, ds)
		}
		created = append(created, ds)
	}
	beta, alpha, gamma := created[0], created[1], created[2]

	got, err := s.DataSource(ctx, beta.ID)
	if diff := cmp.Diff(beta, got); err != nil || diff != "" {
		t.Errorf("DataSource(%d) error = %v, diff (-created +got):\n%s", beta.ID, err, diff)
	}
	all, err := s.DataSources(ctx)
	if diff := cmp.Diff([]store.DataSource{alpha, beta, gamma}, all); err != nil || diff != "" {
		t.Errorf("DataSources() error = %v, diff (-want +got), want by lower(name):\n%s", err, diff)
	}

	// Options default to {}.
	empty, err := s.CreateDataSource(ctx, "empty", "pg", nil)
	if err != nil || string(empty.Options) != "{}" {
		t.Errorf("CreateDataSource(empty, nil options) = %+v, %v, want options {}", empty, err)
	}
	if _, err := s.CreateDataSource(ctx, "bad", "pg", json.RawMessage(`{"host":`)); err == nil {
		t.Errorf("CreateDataSource(bad, invalid JSON) error = nil, want an error")
	}
	if _, err := s.CreateDataSource(ctx, "beta", "mysql", nil); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateDataSource(beta) again error = %v, want ErrConflict", err)
	}

	// Update.
	want := beta
	want.Name, want.Type, want.Options = "delta", "mysql", json.RawMessage(`{"host":"other","port":3306}`)
	updated, err := s.UpdateDataSource(ctx, want)
	if err != nil {
		t.Fatalf("UpdateDataSource(%+v) error = %v", want, err)
	}
	if updated.UpdatedAt.Before(beta.UpdatedAt) {
		t.Errorf("UpdateDataSource: UpdatedAt = %v, want not before %v", updated.UpdatedAt, beta.UpdatedAt)
	}
	want.UpdatedAt = updated.UpdatedAt
	if diff := cmp.Diff(want, updated); diff != "" {
		t.Errorf("UpdateDataSource() diff (-want +got):\n%s", diff)
	}
	if got, err := s.DataSource(ctx, beta.ID); err != nil || !cmp.Equal(got, updated) {
		t.Errorf("DataSource(%d) after update = %+v, %v, want %+v", beta.ID, got, err, updated)
	}

	tests := []struct {
		name    string
		ds      store.DataSource
		wantErr error
	}{
		{"name taken", store.DataSource{ID: gamma.ID, Name: "Alpha", Type: "pg"}, store.ErrConflict},
		{"missing", store.DataSource{ID: gamma.ID + 1000, Name: "new", Type: "pg"}, store.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.UpdateDataSource(ctx, tc.ds); !errors.Is(err, tc.wantErr) {
				t.Errorf("UpdateDataSource(%+v) error = %v, want %v", tc.ds, err, tc.wantErr)
			}
		})
	}

	// Delete.
	if err := s.DeleteDataSource(ctx, gamma.ID); err != nil {
		t.Fatalf("DeleteDataSource(%d) = %v", gamma.ID, err)
	}
	if _, err := s.DataSource(ctx, gamma.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DataSource(%d) after delete error = %v, want ErrNotFound", gamma.ID, err)
	}
	if err := s.DeleteDataSource(ctx, gamma.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteDataSource(%d) again = %v, want ErrNotFound", gamma.ID, err)
	}
}

func TestDeleteDataSourceCascades(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	j := f.startedJob(t, "h1")
	r, err := f.s.CompleteJob(ctx, j.ID, store.QueryResult{RowCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	q, err := f.s.CreateQuery(ctx, store.Query{Name: "q", Query: "SELECT 1", QueryHash: "h1", DataSourceID: &f.ds.ID, UserID: f.user.ID})
	if err != nil || q.LatestQueryDataID == nil {
		t.Fatalf("CreateQuery = %+v, %v, want it linked to a result", q, err)
	}

	if err := f.s.DeleteDataSource(ctx, f.ds.ID); err != nil {
		t.Fatalf("DeleteDataSource(%d) = %v", f.ds.ID, err)
	}
	if _, err := f.s.Job(ctx, j.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Job(%s) after DeleteDataSource error = %v, want ErrNotFound", j.ID, err)
	}
	if _, err := f.s.QueryResult(ctx, r.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("QueryResult(%d) after DeleteDataSource error = %v, want ErrNotFound", r.ID, err)
	}
	got, err := f.s.Query(ctx, q.ID)
	if err != nil || got.DataSourceID != nil || got.LatestQueryDataID != nil {
		t.Errorf("Query(%d) after DeleteDataSource = %+v, %v, want it kept with no data source nor result", q.ID, got, err)
	}
}

func TestDataSourceOptionsSealed(t *testing.T) {
	t.Parallel()
	s, url := storetest.New(t)
	ctx := context.Background()
	const password = "hunter2-very-secret"
	options := json.RawMessage(`{"host":"warehouse","password":"` + password + `"}`)
	ds, err := s.CreateDataSource(ctx, "sealed", "pg", options)
	if err != nil {
		t.Fatal(err)
	}

	// Never in clear at rest.
	var raw []byte
	if err := s.Pool().QueryRow(ctx, `SELECT options_sealed FROM data_sources WHERE id = $1`, ds.ID).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	for _, clear := range []string{password, "password", "warehouse"} {
		if bytes.Contains(raw, []byte(clear)) {
			t.Errorf("options_sealed of data source %d contains %q in clear", ds.ID, clear)
		}
	}
	if n := count(t, s.Pool(), `SELECT count(*) FROM data_sources WHERE strpos(data_sources::text, $1) > 0`, password); n != 0 {
		t.Errorf("rows of data_sources showing the password = %d, want 0", n)
	}

	// Round trip.
	got, err := s.DataSource(ctx, ds.ID)
	if err != nil || string(got.Options) != string(options) {
		t.Errorf("DataSource(%d).Options = %s, %v, want %s", ds.ID, got.Options, err, options)
	}

	// Another key cannot read them.
	other, err := store.Open(ctx, url, "another-secret-key-0123456789abcdef0123456789")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if got, err := other.DataSource(ctx, ds.ID); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("DataSource(%d) under another key = %s, %v, want an unseal error", ds.ID, got.Options, err)
	}

	// Tampering is detected.
	exec(t, s.Pool(), `UPDATE data_sources SET options_sealed = set_byte(options_sealed, 20, get_byte(options_sealed, 20) # 1) WHERE id = $1`, ds.ID)
	if got, err := s.DataSource(ctx, ds.ID); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("DataSource(%d) after tampering = %s, %v, want an unseal error", ds.ID, got.Options, err)
	}
	if _, err := s.DataSources(ctx); err == nil {
		t.Errorf("DataSources() after tampering error = nil, want an unseal error")
	}
}

func TestMaxConcurrentQueries(t *testing.T) {
	for _, tc := range []struct {
		options string
		want    int
		err     bool
	}{
		{`{}`, 0, false},
		{`{"max_concurrent_queries": null}`, 0, false},
		{`{"max_concurrent_queries": 2}`, 2, false},
		{`{"max_concurrent_queries": 1000}`, 1000, false},
		{`{"max_concurrent_queries": 0}`, 0, true},
		{`{"max_concurrent_queries": 1001}`, 0, true},
		{`{"max_concurrent_queries": 2.5}`, 0, true},
		{`{"max_concurrent_queries": "2"}`, 0, true},
		{`[]`, 0, true},
	} {
		got, err := store.DataSource{Options: json.RawMessage(tc.options)}.MaxConcurrentQueries()
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("MaxConcurrentQueries(%s) = %d, %v; want %d, error %v", tc.options, got, err, tc.want, tc.err)
		}
	}
}
