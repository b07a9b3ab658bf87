package databricks

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/databricks/databricks-sql-go/driverctx"
	dbsqlerr "github.com/databricks/databricks-sql-go/errors"

	"github.com/queryd/queryd/drivers"
)

// conn is an open Databricks data source: a pool of warehouse sessions. It
// is safe for concurrent use.
type conn struct {
	db        *sql.DB
	opts      Options
	transport *onlyThrift
}

// Query runs one SQL statement in a session of its own and returns its rows,
// having read the first row. args are bound to the statement's ?
// placeholders by the client library.
//
// It reports the warehouse's operation id through drivers.ReportQueryID. It
// returns an error wrapping ctx's error when ctx is done (the statement is
// cancelled in the warehouse), a *drivers.QueryError carrying the
// warehouse's message when the statement fails, and any other error, naming
// only host:port, when the warehouse cannot be reached; callers may retry
// those.
func (c *conn) Query(ctx context.Context, query string, args ...any) (drivers.Rows, error) {
	var mu sync.Mutex
	var last string
	qctx := driverctx.NewContextWithQueryIdCallback(ctx, func(id string) {
		mu.Lock()
		defer mu.Unlock()
		if id != "" && id != last {
			last = id
			drivers.ReportQueryID(ctx, id)
		}
	})
	sr, err := c.db.QueryContext(qctx, query, args...)
	if err != nil {
		return nil, c.queryError(ctx, err)
	}
	r, err := newRows(ctx, c, sr)
	if err != nil {
		return nil, err
	}
	if err := r.prime(); err != nil {
		return nil, err
	}
	return r, nil
}

// Ping checks that a session can be opened (or a pooled one still works)
// and that the warehouse runs "select 1". Its errors are those of Query.
func (c *conn) Ping(ctx context.Context) error {
	if err := c.db.PingContext(ctx); err != nil {
		return c.queryError(ctx, err)
	}
	return nil
}

// Close closes every pooled session; sessions held by open Rows are closed
// when those Rows are. It is safe to call more than once.
func (c *conn) Close() error {
	c.db.Close()
	return nil
}

// queryError maps an error from the client library: ctx's error when ctx is
// done, a *drivers.QueryError when the warehouse rejected the statement or
// the access token, and
// a plain error naming host:port otherwise. None contains the token.
func (c *conn) queryError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("query on %s: %w", c.opts.addr(), ctxErr)
	}
	if status := c.transport.refusal(); status != "" {
		return &drivers.QueryError{
			Message: "the warehouse refused the access token (HTTP " + status + ")",
			Err:     redact(c.opts, fmt.Errorf("query on %s: %w", c.opts.addr(), err)),
		}
	}
	var execErr dbsqlerr.DBExecutionError
	if errors.As(err, &execErr) {
		msg := redactText(c.opts, serverMessage(execErr))
		return &drivers.QueryError{Message: msg, Code: execErr.SqlState(), Err: redact(c.opts, err)}
	}
	return redact(c.opts, fmt.Errorf("query on %s: %w", c.opts.addr(), err))
}

// serverMessage digs the warehouse's own message out of the library's
// error: the innermost cause, which is the status's message. When the
// warehouse sent none (a statement cancelled from elsewhere ends so), it is
// the library's whole message, which names the operation's state.
func serverMessage(err error) string {
	outer := err
	for {
		c, ok := err.(interface{ Cause() error })
		if !ok || c.Cause() == nil || c.Cause() == err {
			break
		}
		err = c.Cause()
	}
	msg := err.Error()
	if strings.TrimSpace(msg) == "" {
		return strings.TrimSuffix(strings.TrimSpace(outer.Error()), ":")
	}
	// The library prefixes messages it wraps, "databricks: …: <message>".
	if i := strings.Index(msg, "["); i > 0 && strings.HasPrefix(msg, "databricks:") {
		msg = msg[i:]
	}
	return msg
}

// redact returns err unchanged unless its text contains o's token, which the
// client library never puts there; this is a second line of defence.
func redact(o Options, err error) error {
	return drivers.Redact(err, o.token())
}

func redactText(o Options, s string) string {
	if o.token() == "" {
		return s
	}
	return strings.ReplaceAll(s, o.token(), "[redacted]")
}
