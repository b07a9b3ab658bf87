package mysql

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
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

// queryWithID runs sql on conn, reads every row, and returns the query id
// Query reported.
func queryWithID(t *testing.T, conn drivers.Conn, sql string) string {
	t.Helper()
	var ids []string
	ctx := drivers.WithQueryIDFunc(t.Context(), func(id string) { ids = append(ids, id) })
	if err := drivertest.Drain(ctx, conn, sql); err != io.EOF {
		t.Fatalf("Query(%q) and Next = %v, want io.EOF", sql, err)
	}
	if len(ids) != 1 {
		t.Fatalf("Query(%q) reported query ids %q, want exactly one", sql, ids)
	}
	return ids[0]
}

// TestQueryID checks the query id: the connection's id, and a start by the
// server's clock that moves on from one statement to the next.
func TestQueryID(t *testing.T) {
	conn := openTest(t, func(o *Options) { o.MaxConnections = 1 })
	connID := connectionID(t, conn)

	first := queryWithID(t, conn, "SELECT 1")
	time.Sleep(10 * time.Millisecond)
	second := queryWithID(t, conn, "SELECT 2")
	_, row := queryOne(t, conn, "SELECT "+serverClock)
	serverNow := row[0].(int64)

	var starts []int64
	for _, id := range []string{first, second} {
		gotConn, start, err := parseQueryID(id)
		if err != nil {
			t.Fatalf("parseQueryID(%q) error = %v", id, err)
		}
		if gotConn != connID {
			t.Errorf("query id %q names connection %d, want %d (CONNECTION_ID())", id, gotConn, connID)
		}
		if d := time.Duration(serverNow-start) * time.Microsecond; d < 0 || d > startSlack {
			t.Errorf("query id %q has a start %v before the server's clock afterwards, want between 0 and %v", id, d, startSlack)
		}
		starts = append(starts, start)
	}
	if starts[1]-starts[0] < (10 * time.Millisecond).Microseconds() {
		t.Errorf("query ids %q then %q 10ms later: starts %d apart, want at least 10000µs", first, second, starts[1]-starts[0])
	}
}

func TestParseQueryID(t *testing.T) {
	tests := []struct {
		id          string
		conn, start int64
		wantErr     bool
	}{
		{id: "42:1795366643320121", conn: 42, start: 1795366643320121},
		{id: "", wantErr: true},
		{id: "42", wantErr: true},
		{id: "42:", wantErr: true},
		{id: ":1795366643320121", wantErr: true},
		{id: "0:1795366643320121", wantErr: true},
		{id: "-1:1795366643320121", wantErr: true},
		{id: "42:1:2", wantErr: true},
		{id: "42; DROP TABLE x:1", wantErr: true},
	}
	for _, tc := range tests {
		conn, start, err := parseQueryID(tc.id)
		if (err != nil) != tc.wantErr || conn != tc.conn || start != tc.start {
			t.Errorf("parseQueryID(%q) = %d, %d, %v; want %d, %d, error %t", tc.id, conn, start, err, tc.conn, tc.start, tc.wantErr)
		}
	}
}

// TestCancelQueryNothingRunning checks that CancelQuery of a statement that
// has ended, or of a connection that is gone, does nothing and is no
// error, and that a malformed id is an error.
func TestCancelQueryNothingRunning(t *testing.T) {
	conn := openTest(t, func(o *Options) { o.MaxConnections = 1 })
	ended := queryWithID(t, conn, "SELECT 1")
	canceler := conn.(drivers.Canceler)
	for _, id := range []string{ended, formatQueryID(math.MaxInt32, 1795366643320121)} {
		if err := canceler.CancelQuery(t.Context(), id); err != nil {
			t.Errorf("CancelQuery(%q) error = %v, want nil", id, err)
		}
	}
	if err := canceler.CancelQuery(t.Context(), "not an id"); err == nil {
		t.Errorf("CancelQuery(%q) error = nil, want an error", "not an id")
	}
	checkUsable(t, conn)
}

// TestCancelQueryStaleID checks that the id of a statement that has ended
// does not kill a later statement on the same connection, and that the
// later statement's own id does.
func TestCancelQueryStaleID(t *testing.T) {
	conn := openTest(t, func(o *Options) { o.MaxConnections = 1 })
	p := newProcesslist(t)
	canceler := openTest(t, nil).(drivers.Canceler) // as from another process
	stale := queryWithID(t, conn, "SELECT 1")
	time.Sleep(startSlack + 200*time.Millisecond)

	const marker = "stale_id_sleep"
	sql := "SELECT SLEEP(30) /* " + marker + " */"
	ids := make(chan string, 1)
	done := make(chan error, 1)
	ctx := drivers.WithQueryIDFunc(t.Context(), func(id string) { ids <- id })
	go func() { done <- drivertest.Drain(ctx, conn, sql) }()
	current := <-ids
	waitFor(t, p, marker, true)
	if staleConn, _, _ := parseQueryID(stale); !strings.HasPrefix(current, fmt.Sprint(staleConn)+":") {
		t.Fatalf("query ids %q and %q name different connections, want the same (max_connections 1)", stale, current)
	}

	if err := canceler.CancelQuery(t.Context(), stale); err != nil {
		t.Errorf("CancelQuery(%q) of an ended statement error = %v, want nil", stale, err)
	}
	time.Sleep(300 * time.Millisecond)
	if got, err := p.running(t.Context(), marker); !got || err != nil {
		t.Errorf("a later statement on the connection running after CancelQuery(%q) of an ended one = %t, %v; want true, nil", stale, got, err)
	}

	at := time.Now()
	if err := canceler.CancelQuery(t.Context(), current); err != nil {
		t.Errorf("CancelQuery(%q) error = %v, want nil", current, err)
	}
	select {
	case err := <-done:
		t.Logf("statement cancelled by id ended %v after CancelQuery returned", time.Since(at))
		var qe *drivers.QueryError
		if !errors.As(err, &qe) || qe.Code != "1317" {
			t.Errorf("statement cancelled by id error = %v (%T), want a *drivers.QueryError with code 1317 (interrupted)", err, err)
		}
	case <-time.After(2 * time.Second):
		t.Fatalf("statement still running 2s after CancelQuery(%q)", current)
	}
	waitFor(t, p, marker, false)
	if after := connectionID(t, conn); fmt.Sprint(after) != current[:strings.Index(current, ":")] {
		t.Errorf("connection after CancelQuery = %d, want the same as query id %q (KILL QUERY keeps it)", after, current)
	}
}

// waitFor waits up to 5s for p to report a statement containing marker as
// running (want true) or not.
func waitFor(t *testing.T, p *processlist, marker string, want bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := p.running(t.Context(), marker)
		if err != nil {
			t.Fatalf("processlist: %v", err)
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("statement %q running = %t for 5s, want %t", marker, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCancelQuerySlowReport checks that when reporting the query id takes
// longer than startSlack, Query reports a fresher id, by which the
// statement can be cancelled.
func TestCancelQuerySlowReport(t *testing.T) {
	conn := openTest(t, func(o *Options) { o.MaxConnections = 1 })
	p := newProcesslist(t)
	const marker = "slow_report_sleep"
	sql := "SELECT SLEEP(30) /* " + marker + " */"
	ids := make(chan string, 4)
	ctx := drivers.WithQueryIDFunc(t.Context(), func(id string) {
		if len(ids) == 0 {
			time.Sleep(startSlack + 500*time.Millisecond) // the job store is slow
		}
		ids <- id
	})
	done := make(chan error, 1)
	go func() { done <- drivertest.Drain(ctx, conn, sql) }()
	waitFor(t, p, marker, true)
	if n := len(ids); n != 2 {
		t.Fatalf("Query reported %d query ids after a slow report, want 2", n)
	}
	<-ids
	latest := <-ids
	if err := openTest(t, nil).(drivers.Canceler).CancelQuery(t.Context(), latest); err != nil {
		t.Errorf("CancelQuery(%q) error = %v, want nil", latest, err)
	}
	select {
	case err := <-done:
		var qe *drivers.QueryError
		if !errors.As(err, &qe) || qe.Code != "1317" {
			t.Errorf("statement cancelled by id error = %v (%T), want a *drivers.QueryError with code 1317 (interrupted)", err, err)
		}
	case <-time.After(2 * time.Second):
		t.Fatalf("statement still running 2s after CancelQuery(%q)", latest)
	}
}
