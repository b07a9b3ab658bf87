package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/queryd/queryd/drivers"
	"github.com/queryd/queryd/drivers/drivertest"
)

// backendPID returns the PID of the server process that ran the query.
func backendPID(t *testing.T, conn drivers.Conn) int64 {
	t.Helper()
	_, row := queryOne(t, conn, "SELECT pg_backend_pid()::int8")
	return row[0].(int64)
}

// TestCancelKeepsConnection checks that a cancelled statement leaves its
// connection open: the next statement runs in the same server process.
func TestCancelKeepsConnection(t *testing.T) {
	conn := openTest(t, func(o *Options) { o.MaxConnections = 1 })
	before := backendPID(t, conn)

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err := conn.Query(ctx, "SELECT pg_sleep(10)")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Query(pg_sleep(10)) with a 200ms deadline error = %v, want an error wrapping context.DeadlineExceeded", err)
	}
	var qe *drivers.QueryError
	if errors.As(err, &qe) {
		t.Errorf("Query(pg_sleep(10)) with a 200ms deadline error = %v, a *drivers.QueryError, want ctx's error only", err)
	}

	rows, err := conn.Query(t.Context(), "SELECT n FROM generate_series(1, 1000000) AS n")
	if err != nil {
		t.Fatalf("Query(generate_series) error = %v", err)
	}
	if err := rows.Next(make([]any, 1)); err != nil {
		t.Fatalf("Next() on generate_series = %v", err)
	}
	rows.Close()

	if after := backendPID(t, conn); after != before {
		t.Errorf("backend PID after a cancel and an early Close = %d, want %d (the same connection)", after, before)
	}
}

func TestStatementTimeout(t *testing.T) {
	conn := openTest(t, func(o *Options) { o.StatementTimeout = 1 })
	start := time.Now()
	_, err := conn.Query(t.Context(), "SELECT pg_sleep(5)")
	var qe *drivers.QueryError
	if !errors.As(err, &qe) {
		t.Fatalf("Query(pg_sleep(5)) with statement_timeout 1 error = %v (%T), want a *drivers.QueryError", err, err)
	}
	want := &drivers.QueryError{Message: "canceling statement due to statement timeout", Code: "57014"}
	if diff := cmp.Diff(want, qe, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Err" }, cmp.Ignore())); diff != "" {
		t.Errorf("Query(pg_sleep(5)) with statement_timeout 1 error mismatch (-want +got):\n%s", diff)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Query(pg_sleep(5)) with statement_timeout 1 error = %v, want no ctx error in it", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Query(pg_sleep(5)) with statement_timeout 1 took %v, want about 1s", took)
	}
}

func TestQueryErrors(t *testing.T) {
	conn := openTest(t, nil)
	tests := []struct {
		name string
		sql  string
		want *drivers.QueryError // Err is not compared
	}{
		{
			name: "syntax",
			sql:  "SELEC 1",
			want: &drivers.QueryError{Message: `syntax error at or near "SELEC"`, Code: "42601"},
		},
		{
			name: "missing table",
			sql:  "SELECT * FROM no_such_table_anywhere",
			want: &drivers.QueryError{Message: `relation "no_such_table_anywhere" does not exist`, Code: "42P01"},
		},
		{
			name: "detail and hint",
			sql:  `DO $$ BEGIN RAISE EXCEPTION 'boom' USING DETAIL = 'the detail', HINT = 'the hint'; END $$`,
			want: &drivers.QueryError{Message: "boom\nthe detail\nHINT: the hint", Code: "P0001"},
		},
		{
			name: "fails after some rows",
			sql:  "SELECT 1 / (50000 - n) FROM generate_series(1, 100000) AS n",
			want: &drivers.QueryError{Message: "division by zero", Code: "22012"},
		},
		{
			// The extended protocol takes one statement per Query.
			name: "two statements",
			sql:  "SELECT 1; SELECT 2",
			want: &drivers.QueryError{Message: "cannot insert multiple commands into a prepared statement", Code: "42601"},
		},
	}
	ignoreErr := cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Err" }, cmp.Ignore())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := drivertest.Drain(t.Context(), conn, tc.sql)
			var qe *drivers.QueryError
			if !errors.As(err, &qe) {
				t.Fatalf("Query(%q) and Next = %v (%T), want a *drivers.QueryError", tc.sql, err, err)
			}
			if diff := cmp.Diff(tc.want, qe, ignoreErr); diff != "" {
				t.Errorf("Query(%q) and Next error mismatch (-want +got):\n%s", tc.sql, diff)
			}
			checkUsable(t, conn)
		})
	}
}

func TestQueryArgs(t *testing.T) {
	conn := openTest(t, nil)
	_, row := queryOne(t, conn, "SELECT $1::int8 + 1, $2::text || '!'", 41, "hi")
	if diff := cmp.Diff([]any{int64(42), "hi!"}, row); diff != "" {
		t.Errorf("Query($1 + 1, $2 || '!') with 41, \"hi\" mismatch (-want +got):\n%s", diff)
	}
}

// TestConnectionLost checks that a statement whose backend is terminated
// fails with a plain error (worth retrying), and that the pool recovers.
func TestConnectionLost(t *testing.T) {
	conn := openTest(t, func(o *Options) { o.MaxConnections = 1 })
	err := drivertest.Drain(t.Context(), conn, "SELECT pg_terminate_backend(pg_backend_pid())")
	var qe *drivers.QueryError
	if err == nil || err == io.EOF || errors.As(err, &qe) {
		t.Errorf("Query(pg_terminate_backend(self)) error = %v (%T), want a plain connection error", err, err)
	}
	checkUsable(t, conn)
}

// TestPasswordNeverInErrors makes connections fail in every way trust auth
// allows here and checks that no error text contains the password.
func TestPasswordNeverInErrors(t *testing.T) {
	const password = "s3cr3t-XYZ"
	base := testOptions(t)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("net.Listen: %v", err)
	}
	closedPort := l.Addr().(*net.TCPAddr).Port
	l.Close()

	tests := []struct {
		name      string
		edit      func(*Options)
		wantQuery bool // a *drivers.QueryError (retrying cannot help)
	}{
		{name: "closed port", edit: func(o *Options) { o.Host, o.Port = "127.0.0.1", closedPort }},
		{name: "unknown database", edit: func(o *Options) { o.DBName = "no_such_db" }, wantQuery: true},
		{name: "unknown user", edit: func(o *Options) { o.User = "no_such_user" }, wantQuery: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			o.Password = password
			tc.edit(&o)
			conn, err := New().Open(t.Context(), mustJSON(t, o))
			if err != nil {
				t.Fatalf("Open() error = %v, want nil (Open does not connect)", err)
			}
			defer conn.Close()
			_, qerr := conn.Query(t.Context(), "SELECT 1")
			perr := conn.(drivers.Pinger).Ping(t.Context())
			for _, c := range []struct {
				call string
				err  error
			}{{"Query", qerr}, {"Ping", perr}} {
				if c.err == nil {
					t.Errorf("%s() error = nil, want a connection error", c.call)
					continue
				}
				if strings.Contains(c.err.Error(), password) {
					t.Errorf("%s() error = %q, want no %q in it", c.call, c.err, password)
				}
				var qe *drivers.QueryError
				if got := errors.As(c.err, &qe); got != tc.wantQuery {
					t.Errorf("%s() error = %v (%T), is a *drivers.QueryError = %t, want %t", c.call, c.err, c.err, got, tc.wantQuery)
				}
			}
		})
	}
}

// TestPool checks that MaxConnections bounds the connections a Conn opens and
// that finished queries give their connection back.
func TestPool(t *testing.T) {
	conn := openTest(t, func(o *Options) { o.MaxConnections = 2 })

	pids := map[int64]bool{}
	for range 10 {
		pids[backendPID(t, conn)] = true
	}
	if len(pids) > 2 {
		t.Errorf("10 sequential queries used %d backends, want at most 2 (max_connections)", len(pids))
	}

	var open []drivers.Rows
	for i := range 2 {
		rows, err := conn.Query(t.Context(), "SELECT n FROM generate_series(1, 1000000) AS n")
		if err != nil {
			t.Fatalf("Query %d of 2 error = %v", i+1, err)
		}
		defer rows.Close()
		open = append(open, rows)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if _, err := conn.Query(ctx, "SELECT 1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("third Query with both connections busy error = %v, want an error wrapping context.DeadlineExceeded", err)
	}
	open[0].Close()
	if err := drivertest.Drain(t.Context(), conn, "SELECT 1"); err != io.EOF {
		t.Errorf("Query after one of 2 Rows was closed = %v, want success", err)
	}
}

func TestNextAfterClose(t *testing.T) {
	conn := openTest(t, nil)
	rows, err := conn.Query(t.Context(), "SELECT 1")
	if err != nil {
		t.Fatalf("Query(SELECT 1) error = %v", err)
	}
	rows.Close()
	if err := rows.Next(make([]any, 1)); !errors.Is(err, errClosed) {
		t.Errorf("Next() after Close = %v, want %v", err, errClosed)
	}
}

// checkUsable fails t unless conn still runs a statement.
func checkUsable(t *testing.T, conn drivers.Conn) {
	t.Helper()
	if _, row := queryOne(t, conn, "SELECT 7::int8"); row[0] != int64(7) {
		t.Errorf("SELECT 7 afterwards = %v, want 7", row[0])
	}
}

// TestSessionStateDoesNotLeak checks a statement's SET does not carry over to
// the next statement on the same pooled connection.
func TestSessionStateDoesNotLeak(t *testing.T) {
	conn := openTest(t, func(o *Options) { o.MaxConnections = 1 })
	pid := backendPID(t, conn)
	if err := drivertest.Drain(t.Context(), conn, "SET statement_timeout = 1"); err != io.EOF {
		t.Fatalf("SET statement_timeout = %v, want success", err)
	}
	if err := drivertest.Drain(t.Context(), conn, "SET search_path TO pg_catalog"); err != io.EOF {
		t.Fatalf("SET search_path = %v, want success", err)
	}
	if err := drivertest.Drain(t.Context(), conn, "SELECT pg_sleep(0.05)"); err != io.EOF {
		t.Errorf("pg_sleep after another statement's SET statement_timeout = %v, want success", err)
	}
	rows, err := conn.Query(t.Context(), "SHOW search_path")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	dest := []any{nil}
	if err := rows.Next(dest); err != nil || dest[0] != `"$user", public` {
		t.Errorf("search_path after another statement's SET = %v, %v; want the default", dest[0], err)
	}
	rows.Close()
	if got := backendPID(t, conn); got != pid {
		t.Errorf("backend PID = %d, then %d: the connection was replaced, not reset", pid, got)
	}
}

// runWithID starts sql on conn and returns the query id it reports and a
// channel for its outcome (Drain's error).
func runWithID(t *testing.T, conn drivers.Conn, sql string) (id string, done <-chan error) {
	t.Helper()
	ids := make(chan string, 1)
	ctx := drivers.WithQueryIDFunc(t.Context(), func(id string) { ids <- id })
	errc := make(chan error, 1)
	go func() { errc <- drivertest.Drain(ctx, conn, sql) }()
	select {
	case id = <-ids:
	case err := <-errc:
		t.Fatalf("Query(%q) ended (%v) without reporting a query id", sql, err)
	case <-time.After(5 * time.Second):
		t.Fatalf("Query(%q) reported no query id within 5s", sql)
	}
	return id, errc
}

// waitActive waits until a statement containing marker runs.
func waitActive(t *testing.T, a *activity, marker string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		running, err := a.running(t.Context(), marker)
		if err != nil {
			t.Fatalf("watching pg_stat_activity: %v", err)
		}
		if running {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("statement %q not running after 5s", marker)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCancelQueryStaleID checks that the id of a statement that has ended
// does not cancel a later statement on the same backend.
func TestCancelQueryStaleID(t *testing.T) {
	a := newActivity(t)
	conn := openTest(t, func(o *Options) { o.MaxConnections = 1 })
	other := openTest(t, nil).(drivers.Canceler)

	staleID, done := runWithID(t, conn, "SELECT 1")
	if err := <-done; err != io.EOF {
		t.Fatalf("SELECT 1 = %v, want success", err)
	}
	id, done := runWithID(t, conn, "SELECT pg_sleep(1) /* stale_id_test */")
	waitActive(t, a, "stale_id_test")
	stalePID, _ := parseQueryID(staleID)
	if pid, _ := parseQueryID(id); pid != stalePID || id == staleID {
		t.Fatalf("query ids %q then %q: want the same backend and different ids", staleID, id)
	}
	if err := other.CancelQuery(t.Context(), staleID); err != nil {
		t.Errorf("CancelQuery(stale id %q) error = %v, want nil", staleID, err)
	}
	if err := <-done; err != io.EOF {
		t.Errorf("pg_sleep(1) after CancelQuery of the previous statement's id = %v, want success", err)
	}
}

// TestCancelQueryBusyPool checks that CancelQuery on a Conn whose every
// connection is busy does not wait for them.
func TestCancelQueryBusyPool(t *testing.T) {
	a := newActivity(t)
	conn := openTest(t, func(o *Options) { o.MaxConnections = 1 })
	id, done := runWithID(t, conn, "SELECT pg_sleep(30) /* busy_pool_test */")
	waitActive(t, a, "busy_pool_test")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := conn.(drivers.Canceler).CancelQuery(ctx, id); err != nil {
		t.Fatalf("CancelQuery(%q) on the busy Conn error = %v, want nil", id, err)
	}
	var qe *drivers.QueryError
	select {
	case err := <-done:
		if !errors.As(err, &qe) || qe.Code != "57014" {
			t.Errorf("pg_sleep(30) cancelled by id = %v (%T), want a *drivers.QueryError with code 57014", err, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("pg_sleep(30) still running 5s after CancelQuery")
	}
	t.Logf("CancelQuery on a busy pool: statement failed %v after the call", time.Since(start))
	checkUsable(t, conn)
}

func TestCancelQueryIDs(t *testing.T) {
	c := openTest(t, nil).(drivers.Canceler)
	for _, id := range []string{"", "nonsense", "12:x", "fake-1"} {
		if err := c.CancelQuery(t.Context(), id); err == nil {
			t.Errorf("CancelQuery(%q) error = nil, want an error", id)
		}
	}
	// PID 1 is never a backend; an ended statement is not an error.
	for _, id := range []string{"1:0123456789abcdef", newQueryID(uint32(os.Getpid()))} {
		if err := c.CancelQuery(t.Context(), id); err != nil {
			t.Errorf("CancelQuery(%q) of no running statement error = %v, want nil", id, err)
		}
	}
}
