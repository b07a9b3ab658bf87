package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/queryd/queryd/drivers"
)

// conn is an open MySQL data source: a pool of connections, and a pool for
// KILL QUERY. It is safe for concurrent use.
type conn struct {
	db     *sql.DB
	killer *sql.DB
	opts   Options
}

// killTimeout bounds one KILL QUERY, connecting included.
const killTimeout = time.Second

// Query runs one SQL statement on a connection of its own and returns its
// rows, which hold the connection until they reach the end, fail or are
// closed. args are bound to the statement's ? placeholders. Just before
// sending the statement it reports its query id to drivers.ReportQueryID;
// when that report takes long, it reports a fresher id once more.
//
// It returns an error wrapping ctx's error when ctx is done (the statement
// is killed inside the server), a *drivers.QueryError when the server
// rejects the statement (including a statement timeout) or refuses the
// login or database, and any other error, naming only host:port/db, when
// the connection fails; callers may retry those.
func (c *conn) Query(ctx context.Context, sql string, args ...any) (drivers.Rows, error) {
	sc, err := c.db.Conn(ctx)
	if err != nil {
		return nil, c.connectError(ctx, err)
	}
	var server *serverConn
	if err := sc.Raw(func(dc any) error {
		server = dc.(*serverConn)
		return nil
	}); err != nil {
		sc.Close()
		return nil, c.connectError(ctx, err)
	}
	reportQueryID(ctx, server)
	st := newStatement(ctx, c, server)
	// On a done ctx the library would close the connection and leave the
	// statement running, so it gets a ctx that is never done; st kills the
	// statement when ctx is done.
	sr, err := sc.QueryContext(context.WithoutCancel(ctx), sql, args...)
	if err != nil {
		st.dropIfLost(err)
		st.finish(false, nil)
		sc.Close()
		return nil, c.queryError(ctx, err)
	}
	r, err := newRows(ctx, c, sc, sr, st)
	if err != nil {
		return nil, r.finish(err, true)
	}
	if err := r.prime(); err != nil {
		return nil, err
	}
	return r, nil
}

// Ping checks that a connection can be made (or a pooled one still works)
// and that the server answers. Its errors are those of Query.
func (c *conn) Ping(ctx context.Context) error {
	if err := c.db.PingContext(ctx); err != nil {
		return c.connectError(ctx, err)
	}
	return nil
}

// Close closes every pooled connection; connections held by open Rows are
// closed when those Rows are. It is safe to call more than once.
func (c *conn) Close() error {
	c.db.Close()
	c.killer.Close()
	return nil
}

// killQuery sends KILL QUERY id from the killer pool. A statement that has
// already ended is not an error: KILL QUERY on an idle connection does
// nothing.
func (c *conn) killQuery(id int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), killTimeout)
	defer cancel()
	_, err := c.killer.ExecContext(ctx, "KILL QUERY "+strconv.FormatInt(id, 10))
	var myErr *gomysql.MySQLError
	if errors.As(err, &myErr) && myErr.Number == erNoSuchThread {
		return nil // the connection itself is gone
	}
	return err
}

// A query id is "<connection id>:<start>", the start being the server's
// clock in Unix microseconds just before Query sends the statement, as
// estimated from the reading the connection took at connect
// (serverConn.serverNow).
func formatQueryID(connID, start int64) string {
	return strconv.FormatInt(connID, 10) + ":" + strconv.FormatInt(start, 10)
}

// reportRedo is how long a report of a query id may take before Query
// reports the statement again with a fresh start: the statement is sent
// after the report, and its id's start must stay within startSlack of it.
const reportRedo = startSlack / 4

// reportQueryID reports the query id of the statement about to be sent on
// server, and again, once, if the report took longer than reportRedo (the
// worker records the latest id of a job).
func reportQueryID(ctx context.Context, server *serverConn) {
	for range 2 {
		begin := time.Now()
		drivers.ReportQueryID(ctx, formatQueryID(server.id, server.serverNow()))
		if time.Since(begin) < reportRedo {
			return
		}
	}
}

// parseQueryID splits a query id made by formatQueryID.
func parseQueryID(queryID string) (connID, start int64, err error) {
	a, b, ok := strings.Cut(queryID, ":")
	if ok {
		connID, err = strconv.ParseInt(a, 10, 64)
		if err == nil {
			start, err = strconv.ParseInt(b, 10, 64)
		}
	}
	if !ok || err != nil || connID <= 0 || start <= 0 {
		return 0, 0, fmt.Errorf("mysql: query id %q is not <connection id>:<start>", queryID)
	}
	return connID, start, nil
}

// startSlack is how far the start of the statement a connection runs may
// lie from the start in a query id for CancelQuery to take it for the
// id's statement: the time from reporting the id to the server starting the
// statement, and the error of the connection's clock reading (half a round
// trip at connect). MySQL, which reports whole seconds only, gets a second
// more on each side.
const startSlack = time.Second

// CancelQuery stops the statement queryID (reported by Query, in this
// process or another) names: it sends KILL QUERY <connection id> from the
// killer pool if that connection is running a statement that started within
// startSlack of the id's start, by the server's clock (PROCESSLIST's TIME_MS
// on MariaDB, TIME on MySQL). Otherwise the statement has ended, and
// CancelQuery does nothing and returns nil; so it does when the connection
// is gone. It returns an error for a malformed queryID and when the server
// cannot be reached or refuses the KILL.
//
// What the check cannot rule out: another statement on the same pooled
// connection that started within startSlack of the id's statement (the
// latter having ended by then), or that started between the check and the
// KILL, a few milliseconds; either is killed instead. A CancelQuery that
// arrives before the statement reaches the server finds the connection
// idle and does nothing; the Query's own ctx still cancels it. And a
// statement sent more than startSlack after its id's start (two reports of
// its id each slower than reportRedo, the second slower than startSlack)
// cannot be cancelled by that id.
func (c *conn) CancelQuery(ctx context.Context, queryID string) error {
	connID, start, err := parseQueryID(queryID)
	if err != nil {
		return err
	}
	kc, err := c.killer.Conn(ctx)
	if err != nil {
		return fmt.Errorf("cancel query %s: %w", queryID, c.connectError(ctx, err))
	}
	defer kc.Close()
	var server *serverConn
	if err := kc.Raw(func(dc any) error {
		server = dc.(*serverConn)
		return nil
	}); err != nil {
		return fmt.Errorf("cancel query %s: %w", queryID, c.connectError(ctx, err))
	}
	// The statement's start by the server's clock: now less the time it
	// has run.
	elapsed, slack := "CAST(TIME_MS * 1000 AS SIGNED)", startSlack
	if !server.mariaDB {
		elapsed, slack = "TIME * 1000000", startSlack+time.Second
	}
	id := strconv.FormatInt(connID, 10)
	var started int64
	err = kc.QueryRowContext(ctx, "SELECT "+serverClock+" - "+elapsed+
		" FROM information_schema.PROCESSLIST WHERE ID = "+id+" AND COMMAND IN ('Query', 'Execute')").Scan(&started)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil // idle or gone
	case err != nil:
		return fmt.Errorf("cancel query %s: %w", queryID, c.queryError(ctx, err))
	case started < start-slack.Microseconds() || started > start+slack.Microseconds():
		return nil // another statement: the id's has ended
	}
	_, err = kc.ExecContext(ctx, "KILL QUERY "+id)
	var myErr *gomysql.MySQLError
	if errors.As(err, &myErr) && myErr.Number == erNoSuchThread {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cancel query %s: %w", queryID, c.queryError(ctx, err))
	}
	return nil
}

// MySQL error numbers this package tells apart.
const (
	erConCount          = 1040 // too many connections
	erServerShutdown    = 1053 // server shutdown in progress
	erNoSuchThread      = 1094 // unknown thread id (KILL)
	erNetReadInterrupt  = 1159 // timeout reading communication packets
	erNetWriteInterrupt = 1161 // timeout writing communication packets
	erNewAbortingConn   = 1184 // aborted connection
	erConnectionKilled  = 1927 // connection was killed (MariaDB)
	erClientInteraction = 4031 // disconnected by the server for inactivity (MySQL 8)
)

// queryError maps an error from running a statement: ctx's error when ctx is
// done, a *drivers.QueryError when the server rejected the statement, and a
// plain error otherwise (the connection failed or was killed).
func (c *conn) queryError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("query on %s: %w", c.opts.addr(), ctxErr)
	}
	var myErr *gomysql.MySQLError
	if errors.As(err, &myErr) && !connectionLost(myErr) {
		return newQueryError(myErr, err)
	}
	return redact(c.opts, fmt.Errorf("query on %s: %w", c.opts.addr(), err))
}

// connectError maps an error from getting a connection: ctx's error when ctx
// is done; a *drivers.QueryError when the server refused the login or the
// database (retrying cannot help); otherwise a plain error naming
// host:port/db. None ever contains the password.
func (c *conn) connectError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("connect to %s: %w", c.opts.addr(), ctxErr)
	}
	wrapped := redact(c.opts, fmt.Errorf("connect to %s: %w", c.opts.addr(), err))
	var myErr *gomysql.MySQLError
	if errors.As(err, &myErr) && !connectionLost(myErr) {
		return newQueryError(myErr, wrapped)
	}
	return wrapped
}

// connectionLost reports whether myErr ends or refuses the session for a
// reason that may pass (the server shutting down or full, the connection
// killed or timed out): a retry on a new connection may succeed, so it is
// not a QueryError.
func connectionLost(myErr *gomysql.MySQLError) bool {
	switch myErr.Number {
	case erConCount, erServerShutdown, erNetReadInterrupt, erNetWriteInterrupt,
		erNewAbortingConn, erConnectionKilled, erClientInteraction:
		return true
	}
	return false
}

// lost reports whether err, from running a statement, may have left its
// connection unusable: anything but an error the server reported on a live
// session.
func lost(err error) bool {
	var myErr *gomysql.MySQLError
	if errors.As(err, &myErr) {
		return connectionLost(myErr)
	}
	return err != nil
}

// newQueryError builds the QueryError shown to the user: the server's
// message, and its error number as the code.
func newQueryError(myErr *gomysql.MySQLError, err error) *drivers.QueryError {
	return &drivers.QueryError{Message: myErr.Message, Code: strconv.Itoa(int(myErr.Number)), Err: err}
}

// redact returns err unchanged unless its text contains o's password, which
// the client library never puts there; this is a second line of defence.
func redact(o Options, err error) error {
	return drivers.Redact(err, o.Passwd)
}
