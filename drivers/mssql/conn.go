package mssql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	mssqldb "github.com/microsoft/go-mssqldb"

	"github.com/queryd/queryd/drivers"
)

// conn is an open SQL Server data source: a pool of sessions. It is safe for
// concurrent use.
type conn struct {
	db   *sql.DB
	opts Options
}

// Query runs sql on a session of its own and returns its rows, which hold
// the session until they reach the end, fail or are closed. args are bound
// to the statement's @p1, @p2… (or @name for sql.Named) parameters.
//
// Before the statement it reports the session id (@@SPID) as the query id.
// It returns an error wrapping ctx's error when ctx is done (the statement is
// stopped inside the server by a TDS attention), a *drivers.QueryError when
// the server rejects the statement, the login or the database, or when
// statement_timeout passes, and any other error, naming only server:port/db,
// when the connection fails; callers may retry those.
func (c *conn) Query(ctx context.Context, query string, args ...any) (drivers.Rows, error) {
	qctx, cancel := c.statementContext(ctx)
	sc, err := c.db.Conn(qctx)
	if err != nil {
		cancel()
		return nil, c.queryError(ctx, qctx, "connect to", err)
	}
	spid, err := sessionID(qctx, sc)
	if err != nil {
		sc.Close()
		cancel()
		return nil, c.queryError(ctx, qctx, "connect to", err)
	}
	drivers.ReportQueryID(ctx, strconv.FormatInt(spid, 10))
	sr, err := sc.QueryContext(qctx, query, args...)
	if err != nil {
		sc.Close()
		cancel()
		return nil, c.queryError(ctx, qctx, "query on", err)
	}
	r := &rows{ctx: ctx, qctx: qctx, cancel: cancel, c: c, sc: sc, sr: sr}
	if err := r.describe(); err != nil {
		return nil, r.finish(err)
	}
	if err := r.prime(); err != nil {
		return nil, err
	}
	return r, nil
}

// sessionID returns the session's @@SPID. It reads the result to its end:
// closing it after the row (as sql.Row does) would make the client library
// send a needless ATTENTION when the final DONE has not arrived yet.
func sessionID(ctx context.Context, sc *sql.Conn) (int64, error) {
	rs, err := sc.QueryContext(ctx, "SELECT @@SPID")
	if err != nil {
		return 0, err
	}
	defer rs.Close()
	spid := int64(-1)
	for rs.Next() {
		if err := rs.Scan(&spid); err != nil {
			return 0, err
		}
	}
	if err := rs.Err(); err != nil {
		return 0, err
	}
	if spid < 0 {
		return 0, errors.New("mssql: SELECT @@SPID returned no row")
	}
	return spid, nil
}

// statementContext is ctx with the statement_timeout deadline, if any.
func (c *conn) statementContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.opts.StatementTimeout > 0 {
		return context.WithTimeoutCause(ctx, secondsDuration(c.opts.StatementTimeout), errStatementTimeout)
	}
	return context.WithCancel(ctx)
}

// errStatementTimeout is the cause of a statement context whose
// statement_timeout passed.
var errStatementTimeout = errors.New("statement_timeout passed")

// Ping checks that a session can be opened (or a pooled one still works)
// and that the server answers. Its errors are those of Query.
func (c *conn) Ping(ctx context.Context) error {
	if err := c.db.PingContext(ctx); err != nil {
		return c.queryError(ctx, ctx, "connect to", err)
	}
	return nil
}

// Close closes every pooled session; sessions held by open Rows are closed
// when those Rows are. It is safe to call more than once.
func (c *conn) Close() error {
	c.db.Close()
	return nil
}

// schemaQuery lists every column the user can see, in table order.
const schemaQuery = `SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, DATA_TYPE FROM INFORMATION_SCHEMA.COLUMNS ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION`

// Schema returns the tables and views of the data source's database that
// the user can see, from INFORMATION_SCHEMA.COLUMNS, with each column's
// DATA_TYPE ("int", "nvarchar", …). Its errors are those of Query.
func (c *conn) Schema(ctx context.Context) ([]drivers.Table, error) {
	rs, err := c.Query(ctx, schemaQuery)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var tables []drivers.Table
	dest := make([]any, 4)
	for {
		err := rs.Next(dest)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		var f [4]string
		for i := range f {
			f[i], _ = dest[i].(string)
		}
		if n := len(tables); n == 0 || tables[n-1].Schema != f[0] || tables[n-1].Name != f[1] {
			tables = append(tables, drivers.Table{Schema: f[0], Name: f[1]})
		}
		t := &tables[len(tables)-1]
		t.Columns = append(t.Columns, drivers.TableColumn{Name: f[2], Type: f[3]})
	}
	// The server sorts by its collation; callers want byte order.
	slices.SortStableFunc(tables, func(a, b drivers.Table) int {
		if c := strings.Compare(a.Schema, b.Schema); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return tables, nil
}

// fatalClass is the severity from which SQL Server ends the session: such
// errors (a server shutting down, a killed session) may pass on a new
// session, so they are not QueryErrors.
const fatalClass = 20

// queryError maps an error from running a statement or opening a session
// (what names the step): ctx's error when ctx is done; a *drivers.QueryError
// when statement_timeout passed or the server reported an error (a login or
// database refused included) short of ending the session; otherwise
// a plain error naming server:port/db. None ever contains the password.
func (c *conn) queryError(ctx, qctx context.Context, what string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s %s: %w", what, c.opts.addr(), ctxErr)
	}
	if context.Cause(qctx) == errStatementTimeout {
		return &drivers.QueryError{
			Message: fmt.Sprintf("statement cancelled: it ran longer than statement_timeout (%d seconds)", c.opts.StatementTimeout),
			Code:    "statement_timeout",
			Err:     err,
		}
	}
	wrapped := redact(c.opts, fmt.Errorf("%s %s: %w", what, c.opts.addr(), err))
	if me, ok := serverError(err); ok && me.Class < fatalClass {
		return &drivers.QueryError{Message: me.Message, Code: strconv.Itoa(int(me.Number)), Err: wrapped}
	}
	return wrapped
}

// serverError finds the error the server reported in err, if any.
func serverError(err error) (mssqldb.Error, bool) {
	var me mssqldb.Error
	if errors.As(err, &me) {
		return me, true
	}
	var pme *mssqldb.Error
	if errors.As(err, &pme) && pme != nil {
		return *pme, true
	}
	return me, false
}

// redact returns err unchanged unless its text contains o's password (or
// its URL-escaped form), which the client library should never put there;
// this is a second line of defence.
func redact(o Options, err error) error {
	if o.Password == "" {
		return err
	}
	return drivers.Redact(err, o.Password, escapedPassword(o.Password))
}

func secondsDuration(n int) time.Duration { return time.Duration(n) * time.Second }
