package bigquery

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/queryd/queryd/drivers"
	"github.com/queryd/queryd/drivers/bigquery/internal/fake"
	"github.com/queryd/queryd/drivers/drivertest"
)

// The tests run the real client library against the in-repo fake of the
// BigQuery REST API (internal/fake) on 127.0.0.1; live_test.go runs against
// BigQuery itself when credentials are given.

const testProject = "queryd-test"

func startFake(tb testing.TB) *fake.Server {
	tb.Helper()
	s := fake.New()
	tb.Cleanup(s.Close)
	return s
}

// fakeConfig is a data source's options pointing at s, changed by edit.
func fakeConfig(tb testing.TB, s *fake.Server, edit func(map[string]any)) json.RawMessage {
	tb.Helper()
	o := map[string]any{"projectId": testProject, "endpoint": s.URL(), "loadSchema": true}
	if edit != nil {
		edit(o)
	}
	b, err := json.Marshal(o)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// openFake opens a Conn on s, closed when tb ends.
func openFake(tb testing.TB, s *fake.Server, edit func(map[string]any)) *conn {
	tb.Helper()
	c, err := New().Open(context.Background(), fakeConfig(tb, s, edit))
	if err != nil {
		tb.Fatalf("Open(fake) error = %v, want nil", err)
	}
	tb.Cleanup(func() { c.Close() })
	return c.(*conn)
}

func TestConformance(t *testing.T) {
	s := startFake(t)
	s.AddTable("analytics", "events", []fake.Field{
		{Name: "id", Type: "INTEGER", Mode: "REQUIRED"},
		{Name: "name", Type: "STRING", MaxLength: 100},
		{Name: "amount", Type: "NUMERIC", Precision: 10, Scale: 2},
		{Name: "tags", Type: "STRING", Mode: "REPEATED"},
		{Name: "props", Type: "RECORD", Fields: []fake.Field{{Name: "k", Type: "STRING"}, {Name: "v", Type: "FLOAT"}}},
		{Name: "at", Type: "TIMESTAMP"},
	})
	s.AddTable("analytics", "a_first", []fake.Field{{Name: "x", Type: "BOOLEAN"}})
	s.AddTable("raw", "dump", []fake.Field{{Name: "doc", Type: "JSON"}})
	drivertest.Run(t, drivertest.Suite{
		Open:      func(tb testing.TB) drivers.Conn { return openFake(tb, s, nil) },
		Types:     fake.TypesSQL,
		TypesCols: typesCols,
		TypesRow:  typesRow,
		Series:    fake.SeriesSQL,
		Empty:     fake.SeriesSQL(0),
		EmptyCols: []drivers.Column{
			{Name: "n", Type: drivers.TypeInteger, DatabaseType: "INT64"},
			{Name: "label", Type: drivers.TypeString, DatabaseType: "STRING"},
		},
		Sleep:      fake.SleepSQL,
		Running:    func(_ context.Context, marker string) (bool, error) { return s.Running(marker), nil },
		Bad:        "SELEC 1",
		BadMessage: `Syntax error: Unexpected identifier "SELEC" at [1:1]`,
		SchemaTable: &drivers.Table{Schema: "analytics", Name: "events", Columns: []drivers.TableColumn{
			{Name: "id", Type: "INT64"},
			{Name: "name", Type: "STRING(100)"},
			{Name: "amount", Type: "NUMERIC(10, 2)"},
			{Name: "tags", Type: "ARRAY<STRING>"},
			{Name: "props", Type: "STRUCT<k STRING, v FLOAT64>"},
			{Name: "at", Type: "TIMESTAMP"},
		}},
		ReportsQueryID: true,
	})
}

var typesCols = []drivers.Column{
	{Name: "i", Type: drivers.TypeInteger, DatabaseType: "INT64"},
	{Name: "f", Type: drivers.TypeFloat, DatabaseType: "FLOAT64"},
	{Name: "num", Type: drivers.TypeFloat, DatabaseType: "NUMERIC"},
	{Name: "bignum", Type: drivers.TypeFloat, DatabaseType: "BIGNUMERIC"},
	{Name: "b", Type: drivers.TypeBoolean, DatabaseType: "BOOL"},
	{Name: "s", Type: drivers.TypeString, DatabaseType: "STRING"},
	{Name: "raw", Type: drivers.TypeString, DatabaseType: "BYTES"},
	{Name: "day", Type: drivers.TypeDate, DatabaseType: "DATE"},
	{Name: "dt", Type: drivers.TypeDatetime, DatabaseType: "DATETIME"},
	{Name: "ts", Type: drivers.TypeDatetime, DatabaseType: "TIMESTAMP"},
	{Name: "tm", Type: drivers.TypeString, DatabaseType: "TIME"},
	{Name: "geo", Type: drivers.TypeString, DatabaseType: "GEOGRAPHY"},
	{Name: "doc", Type: drivers.TypeString, DatabaseType: "JSON"},
	{Name: "span", Type: drivers.TypeString, DatabaseType: "INTERVAL"},
	{Name: "rec", Type: drivers.TypeString, DatabaseType: "STRUCT<x INT64, y STRING, z ARRAY<DATE>>"},
}

var typesRow = []any{
	int64(42), 2.5, drivers.Decimal("12345678901234567890.123456789"),
	drivers.Decimal("-0.12345678901234567890123456789012345678"), true, "héllo", []byte{0, 1, 0xfe, 0xff},
	time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), "2024-02-29T13:14:15.123456",
	time.Date(2024, 2, 29, 11, 14, 15, 123456000, time.UTC), "13:14:15.5", "POINT(1 2)",
	`{"a":[true,null],"b":1}`, "1-2 3 4:5:6", `{"x":1,"y":"y","z":["2024-01-01"]}`,
}

// readAll runs sql and returns its rows.
func readAll(tb testing.TB, ctx context.Context, c drivers.Conn, sql string) ([]drivers.Column, [][]any, error) {
	tb.Helper()
	rows, err := c.Query(ctx, sql)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var out [][]any
	for {
		dest := make([]any, len(rows.Columns()))
		switch err := rows.Next(dest); err {
		case nil:
			out = append(out, dest)
		case io.EOF:
			return rows.Columns(), out, nil
		default:
			return rows.Columns(), out, err
		}
	}
}

func TestNestedValues(t *testing.T) {
	s := startFake(t)
	c := openFake(t, s, nil)
	cols, got, err := readAll(t, t.Context(), c, fake.NestedSQL)
	if err != nil {
		t.Fatalf("Query(NestedSQL) error = %v", err)
	}
	wantCols := []drivers.Column{
		{Name: "ints", Type: drivers.TypeString, DatabaseType: "ARRAY<INT64>"},
		{Name: "pairs", Type: drivers.TypeString, DatabaseType: "ARRAY<STRUCT<k STRING, v FLOAT64>>"},
		{Name: "none", Type: drivers.TypeString, DatabaseType: "ARRAY<STRING>"},
	}
	if diff := cmp.Diff(wantCols, cols); diff != "" {
		t.Errorf("Query(NestedSQL).Columns() mismatch (-want +got):\n%s", diff)
	}
	want := [][]any{{`[1,2,3]`, `[{"k":"a","v":1.5},{"k":"b\"","v":null}]`, `[]`}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Query(NestedSQL) rows mismatch (-want +got):\n%s", diff)
	}
}

// TestResubmissionAttaches: a worker inserts a job and dies mid-stream
// (nothing cancels it); the task is delivered again under the same queryd job
// id, and the second attempt reads the first attempt's job.
func TestResubmissionAttaches(t *testing.T) {
	s := startFake(t)
	const jobID = "6f1c2d3e-0000-4000-8000-000000000001"
	sql := fake.SeriesSQL(50_000)

	var ids []string
	report := func(id string) { ids = append(ids, id) }
	ctx := drivers.WithJobID(drivers.WithQueryIDFunc(t.Context(), report), jobID)

	crashed := openFake(t, s, nil)
	rows, err := crashed.Query(ctx, sql)
	if err != nil {
		t.Fatalf("first attempt: Query error = %v", err)
	}
	dest := make([]any, 2)
	for range 10 {
		if err := rows.Next(dest); err != nil {
			t.Fatalf("first attempt: Next error = %v", err)
		}
	}
	// The worker dies here: its rows are never closed, its job not cancelled.

	again := openFake(t, s, nil)
	_, got, err := readAll(t, ctx, again, sql)
	if err != nil {
		t.Fatalf("second attempt: reading %q error = %v", sql, err)
	}
	var sum int64
	for _, r := range got {
		sum += r[0].(int64)
	}
	if len(got) != 50_000 || sum != 50_000*50_001/2 {
		t.Errorf("second attempt: rows, sum = %d, %d, want 50000, %d", len(got), sum, 50_000*50_001/2)
	}
	jobs := s.Jobs()
	if len(jobs) != 1 {
		t.Fatalf("fake jobs after two attempts = %d (%+v), want 1", len(jobs), jobs)
	}
	if !strings.HasPrefix(jobs[0].ID, "queryd_"+jobID+"_") {
		t.Errorf("BigQuery job id = %q, want it to start with %q", jobs[0].ID, "queryd_"+jobID+"_")
	}
	want := testProject + ":US." + jobs[0].ID
	if diff := cmp.Diff([]string{want, want}, ids); diff != "" {
		t.Errorf("reported query ids mismatch (-want +got):\n%s", diff)
	}
	if n := s.Inserts(); n != 2 {
		t.Errorf("jobs.insert calls = %d, want 2 (the second one answered 409)", n)
	}
	rows.Close()
}

// TestResubmissionAfterCancel: a worker that shuts down cancels its job; the
// next delivery must run the statement again, as a new job.
func TestResubmissionAfterCancel(t *testing.T) {
	s := startFake(t)
	c := openFake(t, s, nil)
	const jobID = "6f1c2d3e-0000-4000-8000-000000000002"
	sql := fake.SleepSQL(30*time.Second, "shutdown")

	ctx, cancel := context.WithCancel(drivers.WithJobID(t.Context(), jobID))
	go func() {
		for !s.Running("shutdown") {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	if _, err := c.Query(ctx, sql); !errors.Is(err, context.Canceled) {
		t.Fatalf("first attempt: Query error = %v, want context.Canceled", err)
	}

	ctx2, cancel2 := context.WithTimeout(drivers.WithJobID(t.Context(), jobID), 20*time.Second)
	defer cancel2()
	done := make(chan error, 1)
	go func() {
		_, _, err := readAll(t, ctx2, c, sql)
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(s.Jobs()) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	jobs := s.Jobs()
	if len(jobs) != 2 || jobs[0].Error != "stopped" || jobs[1].State != "RUNNING" || jobs[1].ID != jobs[0].ID+"_2" {
		t.Errorf("fake jobs = %+v, want the cancelled first job and a running %q", jobs, "<first>_2")
	}
	c.CancelQuery(t.Context(), jobs[len(jobs)-1].ID)
	if err := <-done; err == nil {
		t.Errorf("second attempt after CancelQuery = nil, want an error")
	}
}

// TestJobIDDependsOnStatement: two statements under one queryd job id are
// two BigQuery jobs.
func TestJobIDDependsOnStatement(t *testing.T) {
	s := startFake(t)
	c := openFake(t, s, nil)
	ctx := drivers.WithJobID(t.Context(), "job-3")
	for _, sql := range []string{fake.SeriesSQL(3), fake.SeriesSQL(4), fake.SeriesSQL(3)} {
		if _, _, err := readAll(t, ctx, c, sql); err != nil {
			t.Fatalf("Query(%q) error = %v", sql, err)
		}
	}
	if got := len(s.Jobs()); got != 2 {
		t.Errorf("fake jobs = %d, want 2 (the repeated statement attaches)", got)
	}
}

func TestCancelQuery(t *testing.T) {
	s := startFake(t)
	c := openFake(t, s, nil)
	if err := c.CancelQuery(t.Context(), testProject+":US.no_such_job"); err == nil {
		t.Error("CancelQuery(unknown job) = nil, want an error")
	}
	// A bare job id is cancelled in the data source's project.
	errc := make(chan error, 1)
	ids := make(chan string, 1)
	ctx := drivers.WithQueryIDFunc(t.Context(), func(id string) { ids <- id })
	go func() { _, _, err := readAll(t, ctx, c, fake.SleepSQL(30*time.Second, "bare")); errc <- err }()
	_, _, id := parseID(<-ids)
	if err := c.CancelQuery(t.Context(), id); err != nil {
		t.Fatalf("CancelQuery(%q) error = %v", id, err)
	}
	var qe *drivers.QueryError
	if err := <-errc; !errors.As(err, &qe) || qe.Code != "stopped" {
		t.Errorf("statement cancelled by bare id = %v, want a QueryError with code stopped", err)
	}
}

func TestJobConfiguration(t *testing.T) {
	s := startFake(t)
	c := openFake(t, s, func(o map[string]any) {
		o["useStandardSql"] = false
		o["location"] = "EU"
		o["maximumBillingTier"] = 3
		o["statement_timeout"] = 1
	})
	start := time.Now()
	_, _, err := readAll(t, t.Context(), c, fake.SleepSQL(30*time.Second, "timeout"))
	var qe *drivers.QueryError
	if !errors.As(err, &qe) || !strings.Contains(qe.Message, "timed out") {
		t.Errorf("Sleep(30s) with statement_timeout 1 = %v, want a QueryError saying it timed out", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Sleep(30s) with statement_timeout 1 took %v", took)
	}
	jobs := s.Jobs()
	if len(jobs) != 1 {
		t.Fatalf("fake jobs = %+v, want 1", jobs)
	}
	var cfg struct {
		JobTimeoutMs string `json:"jobTimeoutMs"`
		Query        struct {
			UseLegacySQL       bool `json:"useLegacySql"`
			MaximumBillingTier int  `json:"maximumBillingTier"`
		} `json:"query"`
	}
	if err := json.Unmarshal(jobs[0].Config, &cfg); err != nil {
		t.Fatal(err)
	}
	got := map[string]any{"location": jobs[0].Location, "timeout": cfg.JobTimeoutMs, "legacy": cfg.Query.UseLegacySQL, "tier": cfg.Query.MaximumBillingTier}
	want := map[string]any{"location": "EU", "timeout": "1000", "legacy": true, "tier": 3}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("inserted job configuration mismatch (-want +got):\n%s", diff)
	}
}

func TestScannedDataLimit(t *testing.T) {
	s := startFake(t)
	s.SetScanBytes(5_000_000)
	strict := openFake(t, s, func(o map[string]any) { o["totalMBytesProcessedLimit"] = 4 })
	_, _, err := readAll(t, t.Context(), strict, fake.SeriesSQL(3))
	var qe *drivers.QueryError
	if !errors.As(err, &qe) || qe.Message != "Larger than 4 MBytes will be processed (5.000000 MBytes)" {
		t.Errorf("Query over the limit = %v, want the scanned-data QueryError", err)
	}
	if n := len(s.Jobs()); n != 0 {
		t.Errorf("jobs run after a refused dry run = %d, want 0", n)
	}
	loose := openFake(t, s, func(o map[string]any) { o["totalMBytesProcessedLimit"] = 6 })
	if _, got, err := readAll(t, t.Context(), loose, fake.SeriesSQL(3)); err != nil || len(got) != 3 {
		t.Errorf("Query under the limit = %d rows, %v; want 3 rows", len(got), err)
	}
}

func TestMaxConnections(t *testing.T) {
	s := startFake(t)
	c := openFake(t, s, func(o map[string]any) { o["max_connections"] = 1 })
	held, err := c.Query(t.Context(), fake.SeriesSQL(100_000))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := c.Query(ctx, fake.SeriesSQL(1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second Query while the only slot is held = %v, want context.DeadlineExceeded", err)
	}
	held.Close()
	if _, got, err := readAll(t, t.Context(), c, fake.SeriesSQL(2)); err != nil || len(got) != 2 {
		t.Errorf("Query after Close = %d rows, %v; want 2 rows", len(got), err)
	}
}

func TestPingAndSchemaOff(t *testing.T) {
	s := startFake(t)
	s.AddTable("analytics", "events", []fake.Field{{Name: "id", Type: "INTEGER"}})
	c := openFake(t, s, func(o map[string]any) { o["loadSchema"] = false })
	if err := c.Ping(t.Context()); err != nil {
		t.Errorf("Ping() = %v, want nil", err)
	}
	tables, err := c.Schema(t.Context())
	if err != nil || len(tables) != 0 {
		t.Errorf("Schema() with loadSchema off = %v, %v; want no tables", tables, err)
	}
}

func TestDialect(t *testing.T) {
	d := drivers.DialectOf(New())
	if d.DefaultConcurrency != 10 || d.TopLimit || d.QuoteIdentifier("events") != "`events`" {
		t.Errorf("Dialect() = %+v, want backticks, LIMIT and concurrency 10", d)
	}
}
