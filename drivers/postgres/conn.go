package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
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
	pool     *pgxpool.Pool
	opts     Options
	redshift bool // Schema reads information_schema only
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
// args are bound as the statement's $1, $2, … parameters. Once it has a
// connection, and before it sends the statement, it reports the statement's
// query id (see the package comment) through drivers.ReportQueryID.
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
	id := newQueryID(pc.Conn().PgConn().PID())
	drivers.ReportQueryID(ctx, id)
	qargs := make([]any, 0, 2+len(args))
	qargs = append(qargs, pgx.QueryExecModeDescribeExec, resultFormats)
	qargs = append(qargs, args...)
	pr, err := pc.Conn().Query(qctx, queryTag(id)+sql, qargs...)
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

// newQueryID returns a query id for a statement about to run on the backend
// with process id pid: "<pid>:<16 hex digits>", unique to the statement.
func newQueryID(pid uint32) string {
	return fmt.Sprintf("%d:%016x", pid, rand.Uint64())
}

// queryTag is the comment Query puts in front of the statement with query
// id id, by which CancelQuery recognises it in pg_stat_activity.
func queryTag(id string) string { return "/* queryd " + id + " */ " }

// parseQueryID returns the backend process id of a query id from Query.
func parseQueryID(id string) (pid int32, ok bool) {
	p, tag, found := strings.Cut(id, ":")
	n, err := strconv.ParseInt(p, 10, 32)
	if !found || err != nil || n <= 0 || len(tag) != 16 || strings.Trim(tag, "0123456789abcdef") != "" {
		return 0, false
	}
	return int32(n), true
}

// Statements that cancel the backend running a tagged statement, if it still
// runs it (pg_stat_activity keeps the text of a backend's last statement
// after it ends, so the state matters too). PostgreSQL 9.2 renamed procpid
// and current_query; Redshift, which reports server_version 8.0.2, keeps the
// old names and shows an idle backend's query as "<IDLE>".
const (
	cancelSQL = `SELECT pg_cancel_backend(pid) FROM pg_stat_activity
		WHERE pid = $1 AND state = 'active' AND strpos(query, $2) = 1`
	legacyCancelSQL = `SELECT pg_cancel_backend(procpid) FROM pg_stat_activity
		WHERE procpid = $1 AND strpos(current_query, $2) = 1`
)

// CancelQuery cancels the statement whose query id (from Query, on any
// process) is id, if that statement is still running; a statement that has
// ended is not an error, and a later statement on the same backend is left
// alone. It runs pg_cancel_backend on a pooled connection, or on a
// connection of its own while every pooled one is busy, so that it never
// waits for the statements it may be asked to stop. PostgreSQL cancels the
// statement asynchronously; its Query or Next then fails with a
// *drivers.QueryError ("canceling statement due to user request").
//
// It returns an error for an id Query cannot have reported, and the errors
// of Query when the connection or the cancel fails; a user may cancel only
// its own statements unless it has the pg_signal_backend role.
func (c *conn) CancelQuery(ctx context.Context, id string) error {
	pid, ok := parseQueryID(id)
	if !ok {
		return fmt.Errorf("postgres: malformed query id %q", id)
	}
	var pgc *pgconn.PgConn
	if st := c.pool.Stat(); st.IdleConns() == 0 && st.TotalConns() >= st.MaxConns() {
		own, err := pgx.ConnectConfig(ctx, c.pool.Config().ConnConfig)
		if err != nil {
			return c.connectError(ctx, err)
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), cancelDeadline)
			defer cancel()
			own.Close(ctx)
		}()
		pgc = own.PgConn()
	} else {
		pc, err := c.pool.Acquire(ctx)
		if err != nil {
			return c.connectError(ctx, err)
		}
		defer pc.Release()
		pgc = pc.Conn().PgConn()
	}
	sql := cancelSQL
	if legacyActivity(pgc.ParameterStatus("server_version")) {
		sql = legacyCancelSQL
	}
	pidArg, tagArg := []byte(strconv.Itoa(int(pid))), []byte(queryTag(id))
	res := pgc.ExecParams(ctx, sql, [][]byte{pidArg, tagArg}, []uint32{pgtype.Int4OID, pgtype.TextOID}, nil, nil).Read()
	if res.Err != nil {
		return c.queryError(ctx, res.Err)
	}
	return nil
}

// legacyActivity reports whether a server of version (its server_version
// parameter, e.g. "15.4 (Debian 15.4-1)" or Redshift's "8.0.2") names
// pg_stat_activity's columns as before PostgreSQL 9.2.
func legacyActivity(version string) bool {
	major, minor, _ := strings.Cut(version, ".")
	maj, mnr := leadingInt(major), leadingInt(minor)
	return maj > 0 && (maj < 9 || maj == 9 && mnr < 2)
}

// leadingInt is the number the decimal digits at the start of s spell (at
// most four of them), or 0.
func leadingInt(s string) int {
	n := 0
	for i, r := range s {
		if i == 4 || r < '0' || r > '9' {
			break
		}
		n = n*10 + int(r-'0')
	}
	return n
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

// redact returns err unchanged unless its text contains o's password, which
// pgx never puts there; this is a second line of defence.
func redact(o Options, err error) error {
	return drivers.Redact(err, o.Password)
}
