package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/queryd/queryd/drivers"
)

// conn is an open PostgreSQL data source: a pool of connections. It is safe
// for concurrent use.
type conn struct {
	pool *pgxpool.Pool
	opts Options
}

// resultFormats asks for binary results for the types rows decodes from
// binary; every other type (including numeric and any OID pgx does not know)
// arrives as PostgreSQL's text, so nothing fails to decode.
var resultFormats = pgx.QueryResultFormatsByOID{
	pgtype.Int2OID:        pgx.BinaryFormatCode,
	pgtype.Int4OID:        pgx.BinaryFormatCode,
	pgtype.Int8OID:        pgx.BinaryFormatCode,
	pgtype.OIDOID:         pgx.BinaryFormatCode,
	pgtype.Float4OID:      pgx.BinaryFormatCode,
	pgtype.Float8OID:      pgx.BinaryFormatCode,
	pgtype.BoolOID:        pgx.BinaryFormatCode,
	pgtype.DateOID:        pgx.BinaryFormatCode,
	pgtype.TimestamptzOID: pgx.BinaryFormatCode,
	pgtype.TimestampOID:   pgx.BinaryFormatCode,
	pgtype.ByteaOID:       pgx.BinaryFormatCode,
}

// Query runs one SQL statement on a pooled connection and returns its rows,
// which hold the connection until they reach the end, fail or are closed.
// args are bound as the statement's $1, $2, … parameters.
//
// It returns an error wrapping ctx's error when ctx is done (the statement
// is cancelled inside PostgreSQL), a *drivers.QueryError when PostgreSQL
// rejects the statement (including a statement_timeout) or refuses the
// login or database, and any other error, naming only host:port/dbname, when
// the connection fails; callers may retry those.
func (c *conn) Query(ctx context.Context, sql string, args ...any) (drivers.Rows, error) {
	qctx, cancel := context.WithCancel(ctx)
	pc, err := c.pool.Acquire(qctx)
	if err != nil {
		cancel()
		return nil, c.connectError(ctx, err)
	}
	qargs := make([]any, 0, 2+len(args))
	qargs = append(qargs, pgx.QueryExecModeDescribeExec, resultFormats)
	qargs = append(qargs, args...)
	pr, err := pc.Conn().Query(qctx, sql, qargs...)
	if err != nil {
		if pr != nil {
			pr.Close()
		}
		pc.Release()
		cancel()
		return nil, c.queryError(ctx, err)
	}
	r := newRows(ctx, cancel, c, pc, pr)
	if err := r.prime(); err != nil {
		return nil, err
	}
	return r, nil
}

// Ping checks that a connection can be made (or a pooled one still works)
// and that the server answers. Its errors are those of Query.
func (c *conn) Ping(ctx context.Context) error {
	if err := c.pool.Ping(ctx); err != nil {
		return c.connectError(ctx, err)
	}
	return nil
}

// Close closes every pooled connection. It waits for Rows still open to be
// closed first. It is safe to call more than once.
func (c *conn) Close() error {
	c.pool.Close()
	return nil
}

// queryError maps an error from running a statement: ctx's error when ctx is
// done, a *drivers.QueryError when PostgreSQL rejected the statement, and a
// plain error otherwise (the connection failed or was terminated).
func (c *conn) queryError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("query on %s: %w", c.opts.addr(), ctxErr)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && !connectionLost(pgErr) {
		return newQueryError(pgErr.Message, pgErr, err)
	}
	return redact(c.opts, fmt.Errorf("query on %s: %w", c.opts.addr(), err))
}

// connectError maps an error from getting a connection: ctx's error when ctx
// is done, otherwise as newConnectError.
func (c *conn) connectError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("connect to %s: %w", c.opts.addr(), ctxErr)
	}
	return newConnectError(c.opts, err)
}

// newConnectError reports a failure to connect with o. A refused login or a
// missing database is a *drivers.QueryError (retrying cannot help); anything
// else is a plain error naming host:port/dbname. Neither ever contains the
// password.
func newConnectError(o Options, err error) error {
	wrapped := redact(o, fmt.Errorf("connect to %s: %w", o.addr(), err))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "28") || pgErr.Code == "3D000") {
		return newQueryError(pgErr.Message, pgErr, wrapped)
	}
	return wrapped
}

// connectionLost reports whether pgErr ends the session rather than the
// statement (the server shutting down, the backend terminated): a retry on a
// new connection may succeed, so it is not a QueryError.
func connectionLost(pgErr *pgconn.PgError) bool {
	return pgErr.Severity == "FATAL" || pgErr.Severity == "PANIC" || strings.HasPrefix(pgErr.Code, "08")
}

// newQueryError builds the QueryError shown to the user: PostgreSQL's
// message, then its detail and hint when present.
func newQueryError(message string, pgErr *pgconn.PgError, err error) *drivers.QueryError {
	var b strings.Builder
	b.WriteString(message)
	if pgErr.Detail != "" {
		b.WriteString("\n")
		b.WriteString(pgErr.Detail)
	}
	if pgErr.Hint != "" {
		b.WriteString("\nHINT: ")
		b.WriteString(pgErr.Hint)
	}
	return &drivers.QueryError{Message: b.String(), Code: pgErr.Code, Err: err}
}

// redactedError is err with the password cut out of its text.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redact returns err unchanged unless its text contains o's password, which
// pgx never puts there; this is a second line of defence.
func redact(o Options, err error) error {
	if o.Password == "" || !strings.Contains(err.Error(), o.Password) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), o.Password, "[redacted]"), err: err}
}
