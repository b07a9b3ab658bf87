// Package drivertest checks that a driver keeps the drivers contract: one
// conformance suite (Run) that every driver runs against its warehouse, and
// Fake, an in-memory driver for tests of the code that uses drivers.
package drivertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/queryd/queryd/drivers"
)

// Suite describes how to exercise one driver against one warehouse.
type Suite struct {
	// Open returns a fresh Conn on the warehouse; it registers a t.Cleanup
	// that closes it.
	Open func(t testing.TB) drivers.Conn

	// Types is a statement returning two rows: the first with a value in
	// every column, the second all NULLs. TypesCols are the columns the
	// driver must report (Name, Type and DatabaseType all compared) and
	// TypesRow the first row's values, compared with cmp.Diff (time.Time
	// values must be the same instant with the same UTC offset).
	Types     string
	TypesCols []drivers.Column
	TypesRow  []any

	// Series returns a statement producing n rows with columns n (integer,
	// values 1..n) and label (string, never NULL). Further columns are
	// allowed and ignored.
	Series func(n int) string

	// Empty returns zero rows but reports the columns EmptyCols.
	Empty     string
	EmptyCols []drivers.Column

	// Sleep returns a statement that runs for d inside the warehouse and
	// contains marker in its text.
	Sleep func(d time.Duration, marker string) string

	// Running reports whether a statement whose text contains marker is
	// running in the warehouse, observed from a separate connection
	// (PostgreSQL: pg_stat_activity where state = 'active').
	Running func(ctx context.Context, marker string) (bool, error)

	// Bad is a statement with a syntax error, and BadMessage a substring of
	// the warehouse's message for it.
	Bad, BadMessage string

	// SchemaTable is a table the warehouse holds (the harness creates it)
	// that Inspector.Schema must report exactly, columns and types included.
	// Required when the Conn implements drivers.Inspector.
	SchemaTable *drivers.Table

	// ReportsQueryID says the driver reports the warehouse's query id
	// (drivers.ReportQueryID) for the statements it runs. Required when the
	// Conn implements drivers.Canceler.
	ReportsQueryID bool
}

// Limits the suite holds drivers to, and the sizes it uses.
const (
	cancelWithin  = 2 * time.Second       // cancel → Query or Next returns
	goneWithin    = 1 * time.Second       // error returned → statement gone from the warehouse
	closeWithin   = 2 * time.Second       // Rows.Close mid-stream returns
	pollEvery     = 20 * time.Millisecond // Running is polled this often
	startWithin   = 10 * time.Second      // a statement shows up as running
	largeRows     = 300_000               // rows summed by Large
	midStreamRows = 5_000_000             // rows of the statement cancelled mid-stream
	hugeRows      = 50_000_000            // rows of the statement closed early
	sleepFor      = 30 * time.Second      // length of the statement cancelled before rows
	drainLimit    = 10 * time.Second      // give up reading a cancelled statement after this
	concurrency   = 8                     // goroutines in Concurrent
	seriesLabel   = "label"               // Series's string column
	seriesN       = "n"                   // Series's integer column
)

// Run runs every conformance test against s as subtests:
//
//   - Types: columns, first-row values and an all-NULL row of s.Types.
//   - Empty: s.Empty reports its columns and no rows.
//   - Large: Series(300_000) streamed and summed, one row at a time.
//   - CancelBeforeRows: ctx cancelled while Sleep(30s) runs; Query or Next
//     returns an error wrapping context.Canceled within 2 s, and the
//     statement is gone from the warehouse within 1 s after that.
//   - CancelMidStream: ctx cancelled after 1,000 rows of Series(5_000_000);
//     Next fails within 2 s, the statement is gone within 1 s after that.
//   - ConnUsableAfterCancel: the same Conn runs new statements after each
//     kind of cancel and after an early Close.
//   - CloseEarly: Rows.Close after 10 rows of Series(50_000_000) returns
//     within 2 s and stops the statement; a second Close is harmless.
//   - Error: s.Bad fails with a *drivers.QueryError whose Message contains
//     s.BadMessage.
//   - Concurrent: 8 goroutines query the same Conn at once.
//   - ClosedConn: Close is repeatable, and Query after it fails.
//   - Schema (Inspector): Schema reports s.SchemaTable exactly.
//   - QueryID: a running Sleep reports a query id, when s.ReportsQueryID.
//   - CancelByQueryID (Canceler): CancelQuery with that id, from a context
//     of its own, stops the statement within 1 s and its Query or Next fails
//     within 2 s.
func Run(t *testing.T, s Suite) {
	t.Helper()
	t.Run("Types", func(t *testing.T) { testTypes(t, s) })
	t.Run("Empty", func(t *testing.T) { testEmpty(t, s) })
	t.Run("Large", func(t *testing.T) { testLarge(t, s) })
	t.Run("CancelBeforeRows", func(t *testing.T) { testCancelBeforeRows(t, s) })
	t.Run("CancelMidStream", func(t *testing.T) { testCancelMidStream(t, s) })
	t.Run("ConnUsableAfterCancel", func(t *testing.T) { testConnUsableAfterCancel(t, s) })
	t.Run("CloseEarly", func(t *testing.T) { testCloseEarly(t, s) })
	t.Run("Error", func(t *testing.T) { testError(t, s) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, s) })
	t.Run("ClosedConn", func(t *testing.T) { testClosedConn(t, s) })
	// The capability tests run where the driver has the capability.
	probe := s.Open(t)
	if _, ok := probe.(drivers.Inspector); ok || s.SchemaTable != nil {
		t.Run("Schema", func(t *testing.T) { testSchema(t, s) })
	}
	if s.ReportsQueryID {
		t.Run("QueryID", func(t *testing.T) { testQueryID(t, s) })
	}
	if _, ok := probe.(drivers.Canceler); ok {
		t.Run("CancelByQueryID", func(t *testing.T) { testCancelByQueryID(t, s) })
	}
}

// timeComparer treats two times as equal when they are the same instant
// shown with the same UTC offset, so a driver that loses or changes the zone
// fails even though time.Time.Equal would hold.
var timeComparer = cmp.Comparer(func(a, b time.Time) bool {
	return a.Equal(b) && a.Format(time.RFC3339Nano) == b.Format(time.RFC3339Nano)
})

func testTypes(t *testing.T, s Suite) {
	conn := s.Open(t)
	rows, err := conn.Query(t.Context(), s.Types)
	if err != nil {
		t.Fatalf("Query(%q) error = %v, want nil", s.Types, err)
	}
	defer rows.Close()
	if diff := cmp.Diff(s.TypesCols, rows.Columns()); diff != "" {
		t.Errorf("Query(%q).Columns() mismatch (-want +got):\n%s", s.Types, diff)
	}
	dest := make([]any, len(rows.Columns()))
	if err := rows.Next(dest); err != nil {
		t.Fatalf("Next() on row 1 of %q = %v, want nil", s.Types, err)
	}
	if diff := cmp.Diff(s.TypesRow, dest, timeComparer); diff != "" {
		t.Errorf("Next() row 1 of %q mismatch (-want +got):\n%s", s.Types, diff)
	}
	if err := rows.Next(dest); err != nil {
		t.Fatalf("Next() on row 2 of %q = %v, want nil", s.Types, err)
	}
	if diff := cmp.Diff(make([]any, len(dest)), dest); diff != "" {
		t.Errorf("Next() row 2 (all NULL) of %q mismatch (-want +got):\n%s", s.Types, diff)
	}
	for i := range 2 {
		if err := rows.Next(dest); err != io.EOF {
			t.Errorf("Next() call %d after the last row of %q = %v, want io.EOF", i+1, s.Types, err)
		}
	}
	if err := rows.Close(); err != nil {
		t.Errorf("Close() after io.EOF = %v, want nil", err)
	}
}

func testEmpty(t *testing.T, s Suite) {
	conn := s.Open(t)
	rows, err := conn.Query(t.Context(), s.Empty)
	if err != nil {
		t.Fatalf("Query(%q) error = %v, want nil", s.Empty, err)
	}
	defer rows.Close()
	if diff := cmp.Diff(s.EmptyCols, rows.Columns()); diff != "" {
		t.Errorf("Query(%q).Columns() mismatch (-want +got):\n%s", s.Empty, diff)
	}
	if err := rows.Next(make([]any, len(rows.Columns()))); err != io.EOF {
		t.Errorf("Next() on %q = %v, want io.EOF", s.Empty, err)
	}
}

func testLarge(t *testing.T, s Suite) {
	conn := s.Open(t)
	n, sum, err := sumSeries(t.Context(), t, conn, s.Series(largeRows))
	if err != nil {
		t.Fatalf("reading Series(%d): %v", largeRows, err)
	}
	if want := int64(largeRows); n != want {
		t.Errorf("Series(%d) rows = %d, want %d", largeRows, n, want)
	}
	if want := int64(largeRows) * (largeRows + 1) / 2; sum != want {
		t.Errorf("Series(%d) sum of n = %d, want %d", largeRows, sum, want)
	}
}

func testCancelBeforeRows(t *testing.T, s Suite) {
	conn := s.Open(t)
	cancelBeforeRows(t, s, conn)
}

// cancelBeforeRows runs Sleep(30s), cancels it once the warehouse shows it
// running, and checks the error and that the statement stops.
func cancelBeforeRows(t *testing.T, s Suite, conn drivers.Conn) {
	t.Helper()
	marker := newMarker()
	sql := s.Sleep(sleepFor, marker)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	cancelled := make(chan time.Time, 1)
	go func() {
		if err := waitRunning(t.Context(), s, marker, true, startWithin); err != nil {
			t.Errorf("before cancelling %q: %v", sql, err)
		}
		cancelled <- time.Now()
		cancel()
	}()

	err := Drain(ctx, conn, sql)
	returned := time.Now()
	at := <-cancelled
	if err == nil || err == io.EOF {
		t.Fatalf("Query(%q) and Next with ctx cancelled = %v, want an error wrapping context.Canceled", sql, err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Query(%q) and Next with ctx cancelled = %v, want an error wrapping context.Canceled", sql, err)
	}
	if took := returned.Sub(at); took > cancelWithin {
		t.Errorf("Query(%q) returned %v after ctx was cancelled, want within %v", sql, took, cancelWithin)
	}
	if err := waitRunning(t.Context(), s, marker, false, goneWithin); err != nil {
		t.Errorf("after cancelling %q: %v", sql, err)
	}
}

func testCancelMidStream(t *testing.T, s Suite) {
	conn := s.Open(t)
	cancelMidStream(t, s, conn)
}

// cancelMidStream reads 1,000 rows of a long Series, cancels ctx and checks
// that Next fails promptly and the statement stops.
func cancelMidStream(t *testing.T, s Suite, conn drivers.Conn) {
	t.Helper()
	sql := s.Series(midStreamRows)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	rows, err := conn.Query(ctx, sql)
	if err != nil {
		t.Fatalf("Query(%q) error = %v, want nil", sql, err)
	}
	defer rows.Close()
	dest := make([]any, len(rows.Columns()))
	for i := range 1000 {
		if err := rows.Next(dest); err != nil {
			t.Fatalf("Next() on row %d of %q = %v, want nil", i+1, sql, err)
		}
	}
	if err := waitRunning(t.Context(), s, sql, true, startWithin); err != nil {
		t.Fatalf("before cancelling %q: %v", sql, err)
	}

	cancel()
	at := time.Now()
	read := 0
	for err == nil {
		err = rows.Next(dest)
		read++
		if time.Since(at) > drainLimit {
			t.Fatalf("Next() on %q still returns rows %v after ctx was cancelled (%d rows)", sql, drainLimit, read)
		}
	}
	if took := time.Since(at); took > cancelWithin {
		t.Errorf("Next() on %q failed %v after ctx was cancelled, want within %v", sql, took, cancelWithin)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Next() on %q after ctx was cancelled = %v, want an error wrapping context.Canceled", sql, err)
	}
	if err := waitRunning(t.Context(), s, sql, false, goneWithin); err != nil {
		t.Errorf("after cancelling %q: %v", sql, err)
	}
	if err := rows.Close(); err != nil {
		t.Errorf("Close() after a cancelled Next = %v, want nil", err)
	}
}

func testConnUsableAfterCancel(t *testing.T, s Suite) {
	conn := s.Open(t)
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"cancel before rows", func(t *testing.T) { cancelBeforeRows(t, s, conn) }},
		{"cancel mid-stream", func(t *testing.T) { cancelMidStream(t, s, conn) }},
		{"close early", func(t *testing.T) { closeEarly(t, s, conn) }},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			step.run(t)
			checkSeries(t, s, conn, 10)
		})
	}
}

func testCloseEarly(t *testing.T, s Suite) {
	conn := s.Open(t)
	closeEarly(t, s, conn)
}

// closeEarly closes the Rows of a huge Series after 10 rows and checks that
// Close is quick, repeatable and stops the statement.
func closeEarly(t *testing.T, s Suite, conn drivers.Conn) {
	t.Helper()
	sql := s.Series(hugeRows)
	rows, err := conn.Query(t.Context(), sql)
	if err != nil {
		t.Fatalf("Query(%q) error = %v, want nil", sql, err)
	}
	dest := make([]any, len(rows.Columns()))
	for i := range 10 {
		if err := rows.Next(dest); err != nil {
			rows.Close()
			t.Fatalf("Next() on row %d of %q = %v, want nil", i+1, sql, err)
		}
	}
	start := time.Now()
	if err := rows.Close(); err != nil {
		t.Errorf("Close() after 10 rows of %q = %v, want nil", sql, err)
	}
	if took := time.Since(start); took > closeWithin {
		t.Errorf("Close() after 10 rows of %q took %v, want within %v", sql, took, closeWithin)
	}
	if err := rows.Close(); err != nil {
		t.Errorf("second Close() of %q = %v, want nil", sql, err)
	}
	if err := waitRunning(t.Context(), s, sql, false, goneWithin); err != nil {
		t.Errorf("after Close() of %q: %v", sql, err)
	}
}

func testError(t *testing.T, s Suite) {
	conn := s.Open(t)
	err := Drain(t.Context(), conn, s.Bad)
	var qe *drivers.QueryError
	if !errors.As(err, &qe) {
		t.Fatalf("Query(%q) and Next = %v (%T), want a *drivers.QueryError", s.Bad, err, err)
	}
	if !strings.Contains(qe.Message, s.BadMessage) {
		t.Errorf("Query(%q) QueryError.Message = %q, want it to contain %q", s.Bad, qe.Message, s.BadMessage)
	}
	checkSeries(t, s, conn, 3)
}

func testConcurrent(t *testing.T, s Suite) {
	conn := s.Open(t)
	var wg sync.WaitGroup
	var ok atomic.Int64
	for g := range concurrency {
		wg.Go(func() {
			want := 1000 + g
			n, sum, err := sumSeries(t.Context(), t, conn, s.Series(want))
			switch {
			case err != nil:
				t.Errorf("goroutine %d: reading Series(%d): %v", g, want, err)
			case n != int64(want) || sum != int64(want)*int64(want+1)/2:
				t.Errorf("goroutine %d: Series(%d) rows, sum = %d, %d, want %d, %d",
					g, want, n, sum, want, want*(want+1)/2)
			default:
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if got := ok.Load(); got != concurrency {
		t.Errorf("concurrent Series queries that succeeded = %d, want %d", got, concurrency)
	}
}

// checkSeries fails t unless conn runs Series(n) correctly.
func checkSeries(t *testing.T, s Suite, conn drivers.Conn, n int) {
	t.Helper()
	got, sum, err := sumSeries(t.Context(), t, conn, s.Series(n))
	if err != nil {
		t.Fatalf("Series(%d) on the same Conn afterwards: %v", n, err)
	}
	if got != int64(n) || sum != int64(n)*int64(n+1)/2 {
		t.Errorf("Series(%d) on the same Conn afterwards: rows, sum = %d, %d, want %d, %d", n, got, sum, n, n*(n+1)/2)
	}
}

// sumSeries runs a Series statement and returns how many rows it produced
// and the sum of column n, checking every value's type on the way.
func sumSeries(ctx context.Context, t testing.TB, conn drivers.Conn, sql string) (rowCount, sum int64, err error) {
	t.Helper()
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return 0, 0, fmt.Errorf("Query(%q): %w", sql, err)
	}
	defer rows.Close()
	cols := rows.Columns()
	ni, li := -1, -1
	for i, c := range cols {
		switch c.Name {
		case seriesN:
			ni = i
			if c.Type != drivers.TypeInteger {
				return 0, 0, fmt.Errorf("Query(%q) column %q has type %q, want %q", sql, c.Name, c.Type, drivers.TypeInteger)
			}
		case seriesLabel:
			li = i
			if c.Type != drivers.TypeString {
				return 0, 0, fmt.Errorf("Query(%q) column %q has type %q, want %q", sql, c.Name, c.Type, drivers.TypeString)
			}
		}
	}
	if ni < 0 || li < 0 {
		return 0, 0, fmt.Errorf("Query(%q).Columns() = %v, want columns %q and %q", sql, cols, seriesN, seriesLabel)
	}
	dest := make([]any, len(cols))
	for {
		err := rows.Next(dest)
		if err == io.EOF {
			return rowCount, sum, rows.Close()
		}
		if err != nil {
			return rowCount, sum, fmt.Errorf("Next() after %d rows: %w", rowCount, err)
		}
		n, ok := dest[ni].(int64)
		if !ok {
			return rowCount, sum, fmt.Errorf("Next() row %d: n = %#v, want an int64", rowCount+1, dest[ni])
		}
		if _, ok := dest[li].(string); !ok {
			return rowCount, sum, fmt.Errorf("Next() row %d: label = %#v, want a string", rowCount+1, dest[li])
		}
		rowCount++
		sum += n
	}
}

// Drain runs sql and reads every row. It returns the first error from Query
// or Next (io.EOF when every row was read).
func Drain(ctx context.Context, conn drivers.Conn, sql string) error {
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return err
	}
	defer rows.Close()
	dest := make([]any, len(rows.Columns()))
	for {
		if err := rows.Next(dest); err != nil {
			return err
		}
	}
}

// waitRunning polls s.Running every 20 ms until it reports want, and returns
// an error if that takes longer than within.
func waitRunning(ctx context.Context, s Suite, marker string, want bool, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		got, err := s.Running(ctx, marker)
		if err != nil {
			return fmt.Errorf("Running(%q): %w", marker, err)
		}
		if got == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("Running(%q) = %t for %v, want %t", marker, got, within, want)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollEvery):
		}
	}
}

var markers atomic.Int64

// newMarker returns a string unique to this process and call, made of
// letters, digits and underscores so it is safe inside any SQL comment.
func newMarker() string {
	return fmt.Sprintf("drivertest_%d_%d", time.Now().UnixNano(), markers.Add(1))
}

func testSchema(t *testing.T, s Suite) {
	conn := s.Open(t)
	in, ok := conn.(drivers.Inspector)
	if !ok {
		t.Fatal("Suite.SchemaTable is set but the Conn does not implement drivers.Inspector")
	}
	if s.SchemaTable == nil {
		t.Fatal("the Conn implements drivers.Inspector: set Suite.SchemaTable")
	}
	tables, err := in.Schema(t.Context())
	if err != nil {
		t.Fatalf("Schema() error = %v, want nil", err)
	}
	want := *s.SchemaTable
	for i, tb := range tables {
		if i > 0 && (tables[i-1].Schema > tb.Schema || tables[i-1].Schema == tb.Schema && tables[i-1].Name > tb.Name) {
			t.Errorf("Schema() lists %s.%s after %s.%s, want sorted by schema and name", tb.Schema, tb.Name, tables[i-1].Schema, tables[i-1].Name)
		}
		if tb.Schema == want.Schema && tb.Name == want.Name {
			if diff := cmp.Diff(want, tb); diff != "" {
				t.Errorf("Schema() table %s.%s mismatch (-want +got):\n%s", want.Schema, want.Name, diff)
			}
			return
		}
	}
	t.Errorf("Schema() = %d tables without %s.%s", len(tables), want.Schema, want.Name)
}

// runReportingID starts Sleep(30s) under a context that collects the query id
// the driver reports, and returns once the statement runs in the warehouse.
// The statement's error arrives on done.
func runReportingID(t *testing.T, s Suite, conn drivers.Conn) (marker string, ids <-chan string, done <-chan error) {
	t.Helper()
	marker = newMarker()
	reported := make(chan string, 8)
	ctx := drivers.WithQueryIDFunc(t.Context(), func(id string) {
		select {
		case reported <- id:
		default:
		}
	})
	errc := make(chan error, 1)
	go func() { errc <- Drain(ctx, conn, s.Sleep(sleepFor, marker)) }()
	if err := waitRunning(t.Context(), s, marker, true, startWithin); err != nil {
		t.Fatalf("Sleep statement: %v", err)
	}
	return marker, reported, errc
}

func testQueryID(t *testing.T, s Suite) {
	conn := s.Open(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	marker := newMarker()
	got := make(chan string, 8)
	errc := make(chan error, 1)
	go func() {
		report := func(id string) {
			select {
			case got <- id:
			default:
			}
		}
		errc <- Drain(drivers.WithQueryIDFunc(ctx, report), conn, s.Sleep(sleepFor, marker))
	}()
	select {
	case id := <-got:
		if id == "" {
			t.Error("the driver reported an empty query id")
		}
	case err := <-errc:
		t.Fatalf("Sleep ended (%v) before reporting a query id", err)
	case <-time.After(startWithin):
		t.Fatalf("no query id reported within %v of starting a statement", startWithin)
	}
	cancel()
	<-errc
	if err := waitRunning(t.Context(), s, marker, false, goneWithin); err != nil {
		t.Errorf("after cancelling: %v", err)
	}
}

func testCancelByQueryID(t *testing.T, s Suite) {
	conn := s.Open(t)
	canceler := conn.(drivers.Canceler)
	if !s.ReportsQueryID {
		t.Fatal("the Conn implements drivers.Canceler: the driver must report query ids (Suite.ReportsQueryID)")
	}
	marker, ids, done := runReportingID(t, s, conn)
	var id string
	select {
	case id = <-ids:
	case <-time.After(startWithin):
		t.Fatal("no query id reported for a running statement")
	}
	// Another process cancels: a context and a Conn of its own.
	other := s.Open(t).(drivers.Canceler)
	at := time.Now()
	if err := other.CancelQuery(context.Background(), id); err != nil {
		t.Fatalf("CancelQuery(%q) error = %v, want nil", id, err)
	}
	if err := waitRunning(t.Context(), s, marker, false, goneWithin); err != nil {
		t.Errorf("after CancelQuery(%q): %v", id, err)
	}
	select {
	case err := <-done:
		if err == nil || err == io.EOF {
			t.Errorf("statement cancelled by id ended with %v, want an error", err)
		}
	case <-time.After(cancelWithin - time.Since(at)):
		t.Errorf("statement cancelled by id still streaming %v later", cancelWithin)
	}
	// Cancelling a statement that has ended is not an error.
	if err := canceler.CancelQuery(context.Background(), id); err != nil {
		t.Errorf("CancelQuery(%q) of an ended statement error = %v, want nil", id, err)
	}
	checkSeries(t, s, conn, 10)
}

func testClosedConn(t *testing.T, s Suite) {
	conn := s.Open(t)
	if err := conn.Close(); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}
	if err := conn.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	sql := s.Series(1)
	if err := Drain(t.Context(), conn, sql); err == nil || err == io.EOF {
		t.Errorf("Query(%q) after Close = %v, want an error", sql, err)
	}
}
