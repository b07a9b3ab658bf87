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
// closed. args are bound to the statement's ? placeholders.
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

// redactedError is err with the password cut out of its text.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redact returns err unchanged unless its text contains o's password, which
// the client library never puts there; this is a second line of defence.
func redact(o Options, err error) error {
	if o.Passwd == "" || !strings.Contains(err.Error(), o.Passwd) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), o.Passwd, "[redacted]"), err: err}
}
