package mysql

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/queryd/queryd/drivers"
	"github.com/queryd/queryd/drivers/drivertest"
)

// connectionID returns the server's id of the connection that ran the query.
func connectionID(t *testing.T, conn drivers.Conn) int64 {
	t.Helper()
	_, row := queryOne(t, conn, "SELECT CAST(CONNECTION_ID() AS SIGNED)")
	return row[0].(int64)
}

// TestCancelKeepsConnection checks that a cancelled statement, before rows
// and mid-stream, and an early Close leave their connection open: the next
// statement runs on the same server connection, and the statement is gone.
func TestCancelKeepsConnection(t *testing.T) {
	conn := openTest(t, func(o *Options) { o.MaxConnections = 1 })
	p := newProcesslist(t)
	before := connectionID(t, conn)

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := conn.Query(ctx, "SELECT SLEEP(10) /* keeps_connection_sleep */")
	t.Logf("Query(SLEEP(10)) with a 200ms deadline returned after %v", time.Since(start))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Query(SLEEP(10)) with a 200ms deadline error = %v, want an error wrapping context.DeadlineExceeded", err)
	}
	var qe *drivers.QueryError
	if errors.As(err, &qe) {
		t.Errorf("Query(SLEEP(10)) with a 200ms deadline error = %v, a *drivers.QueryError, want ctx's error only", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Query(SLEEP(10)) with a 200ms deadline took %v, want well under 1s", took)
	}
	if got, err := p.running(t.Context(), "keeps_connection_sleep"); got || err != nil {
		t.Errorf("SLEEP(10) still running after Query returned = %t, %v; want false, nil", got, err)
	}

	rows, err := conn.Query(t.Context(), "SELECT seq FROM seq_1_to_10000000 /* keeps_connection_close */")
	if err != nil {
		t.Fatalf("Query(seq_1_to_10000000) error = %v", err)
	}
	if err := rows.Next(make([]any, 1)); err != nil {
		t.Fatalf("Next() on seq_1_to_10000000 = %v", err)
	}
	start = time.Now()
	rows.Close()
	t.Logf("Close() after 1 row of 10,000,000 took %v", time.Since(start))
	if got, err := p.running(t.Context(), "keeps_connection_close"); got || err != nil {
		t.Errorf("seq_1_to_10000000 still running after Close = %t, %v; want false, nil", got, err)
	}

	if after := connectionID(t, conn); after != before {
		t.Errorf("connection id after a cancel and an early Close = %d, want %d (the same connection)", after, before)
	}
}

// TestCancelWhenKillFails checks the fallback: when KILL QUERY cannot be
// sent, the statement's connection is closed, Query still returns promptly
// with ctx's error, and the pool replaces the connection.
func TestCancelWhenKillFails(t *testing.T) {
	conn := openTest(t, func(o *Options) { o.MaxConnections = 1 })
	before := connectionID(t, conn)
	conn.(*mysqlConn).killer.Close() // every KILL QUERY now fails

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := conn.Query(ctx, "SELECT SLEEP(3)")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Query(SLEEP(3)) with no killer and a 200ms deadline error = %v, want an error wrapping context.DeadlineExceeded", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Query(SLEEP(3)) with no killer and a 200ms deadline took %v, want well under 1s", took)
	}
	if after := connectionID(t, conn); after == before {
		t.Errorf("connection id after a cancel without KILL = %d, want a new connection", after)
	}
}

func TestStatementTimeout(t *testing.T) {
	conn := openTest(t, func(o *Options) { o.StatementTimeout = 1 })
	start := time.Now()
	err := drivertest.Drain(t.Context(), conn, "SELECT SLEEP(5) FROM seq_1_to_2")
	var qe *drivers.QueryError
	if !errors.As(err, &qe) {
		t.Fatalf("Query(SLEEP(5)) with statement_timeout 1 error = %v (%T), want a *drivers.QueryError", err, err)
	}
	want := &drivers.QueryError{Message: "Query execution was interrupted (max_statement_time exceeded)", Code: "1969"}
	if diff := cmp.Diff(want, qe, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Err" }, cmp.Ignore())); diff != "" {
		t.Errorf("Query(SLEEP(5)) with statement_timeout 1 error mismatch (-want +got):\n%s", diff)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Query(SLEEP(5)) with statement_timeout 1 error = %v, want no ctx error in it", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Query(SLEEP(5)) with statement_timeout 1 took %v, want about 1s", took)
	}
	checkUsable(t, conn)
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
			want: &drivers.QueryError{Message: "You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near 'SELEC 1' at line 1", Code: "1064"},
		},
		{
			name: "missing table",
			sql:  "SELECT * FROM no_such_table_anywhere",
			want: &drivers.QueryError{Message: "Table 'queryd_test.no_such_table_anywhere' doesn't exist", Code: "1146"},
		},
		{
			name: "signal",
			sql:  "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'boom', MYSQL_ERRNO = 5001",
			want: &drivers.QueryError{Message: "boom", Code: "5001"},
		},
		{
			name: "fails after some rows",
			sql:  "SELECT IF(seq = 50000, (SELECT 1 UNION SELECT 2), seq) FROM seq_1_to_100000",
			want: &drivers.QueryError{Message: "Subquery returns more than 1 row", Code: "1242"},
		},
		{
			// One statement per Query (no multi-statements).
			name: "two statements",
			sql:  "SELECT 1; SELECT 2",
			want: &drivers.QueryError{Message: "You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near 'SELECT 2' at line 1", Code: "1064"},
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
	_, row := queryOne(t, conn, "SELECT ? + 1, CONCAT(?, '!'), ?", 41, "it's", []byte{0, 0xff})
	if diff := cmp.Diff([]any{int64(42), "it's!", []byte{0, 0xff}}, row); diff != "" {
		t.Errorf("Query(? + 1, CONCAT(?, '!'), ?) with 41, \"it's\", 0x00ff mismatch (-want +got):\n%s", diff)
	}
}

// TestConnectionLost checks that a statement whose connection is killed
// fails with a plain error (worth retrying), and that the pool recovers.
func TestConnectionLost(t *testing.T) {
	conn := openTest(t, func(o *Options) { o.MaxConnections = 1 })
	id := connectionID(t, conn)
	err := drivertest.Drain(t.Context(), conn, fmt.Sprintf("KILL CONNECTION %d", id))
	var qe *drivers.QueryError
	if err == nil || err == io.EOF || errors.As(err, &qe) {
		t.Errorf("Query(KILL CONNECTION self) error = %v (%T), want a plain connection error", err, err)
	}
	checkUsable(t, conn)
}

// TestPasswordNeverInErrors makes connections fail in several ways and
// checks that no error text contains the password.
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
		{name: "wrong password", edit: func(o *Options) {}, wantQuery: true},
		{name: "unknown user", edit: func(o *Options) { o.User = "no_such_user" }, wantQuery: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			o.Passwd = password
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

func TestUnknownDatabase(t *testing.T) {
	conn := openTest(t, func(o *Options) { o.DB = "no_such_db" })
	_, err := conn.Query(t.Context(), "SELECT 1")
	var qe *drivers.QueryError
	if !errors.As(err, &qe) || (qe.Code != "1044" && qe.Code != "1049") {
		t.Errorf("Query() on database no_such_db error = %v (%T), want a *drivers.QueryError with code 1044 or 1049", err, err)
	}
}

// TestPool checks that MaxConnections bounds the connections a Conn opens,
// that finished queries give their connection back, and that a cancel still
// works when every connection is busy.
func TestPool(t *testing.T) {
	conn := openTest(t, func(o *Options) { o.MaxConnections = 2 })

	ids := map[int64]bool{}
	for range 10 {
		ids[connectionID(t, conn)] = true
	}
	if len(ids) > 2 {
		t.Errorf("10 sequential queries used %d connections, want at most 2 (max_connections)", len(ids))
	}

	var open []drivers.Rows
	for i := range 2 {
		rows, err := conn.Query(t.Context(), "SELECT seq FROM seq_1_to_10000000")
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

func TestClosedConn(t *testing.T) {
	conn := openTest(t, nil)
	if err := conn.Close(); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}
	if err := conn.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	if _, err := conn.Query(t.Context(), "SELECT 1"); err == nil {
		t.Errorf("Query() after Close = nil error, want an error")
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
	if _, row := queryOne(t, conn, "SELECT 7"); row[0] != int64(7) {
		t.Errorf("SELECT 7 afterwards = %v, want 7", row[0])
	}
}

// mysqlConn names the package's conn type where a variable shadows it.
type mysqlConn = conn
