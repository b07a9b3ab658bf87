package snowflake

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	sf "github.com/snowflakedb/gosnowflake/v2"

	"github.com/queryd/queryd/drivers"
)

// conn is an open Snowflake data source: a pool of sessions. It is safe for
// concurrent use.
type conn struct {
	db   *sql.DB
	opts Options
}

// Query runs one SQL statement on a pooled session and returns its rows,
// having read the first row (so a statement that fails fails here). args are
// bound as the statement's ? parameters.
//
// It returns an error wrapping ctx's error when ctx is done (a statement
// still running is aborted inside Snowflake), a *drivers.QueryError when
// Snowflake rejects the statement (including a statement timeout, a
// cancellation by SYSTEM$CANCEL_QUERY) or the login, and any other error,
// naming only the host, when Snowflake cannot be reached; callers may retry
// those.
func (c *conn) Query(ctx context.Context, query string, args ...any) (drivers.Rows, error) {
	qctx, cancel := context.WithCancel(ctx)
	ids := make(chan string, 1)
	stopReporting := reportQueryID(ctx, ids)
	sr, err := c.db.QueryContext(sf.WithQueryIDChan(qctx, ids), query, args...)
	stopReporting()
	if err != nil {
		cancel()
		return nil, c.queryError(ctx, err)
	}
	r, err := newRows(ctx, cancel, c, sr)
	if err != nil {
		return nil, err
	}
	if err := r.prime(); err != nil {
		return nil, err
	}
	return r, nil
}

// reportQueryID passes the query id the client library sends on ids to
// drivers.ReportQueryID, as soon as it arrives. The returned stop waits for
// the reporting to end; call it once the query request has returned, after
// which no id can arrive any more.
func reportQueryID(ctx context.Context, ids <-chan string) (stop func()) {
	returned := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case id := <-ids:
			if id != "" {
				drivers.ReportQueryID(ctx, id)
			}
		case <-returned:
			select {
			case id := <-ids:
				if id != "" {
					drivers.ReportQueryID(ctx, id)
				}
			default:
			}
		}
	}()
	return func() {
		close(returned)
		<-finished
	}
}

// Ping logs in (or checks a pooled session still works) and runs SELECT 1.
// Its errors are those of Query.
func (c *conn) Ping(ctx context.Context) error {
	if err := c.db.PingContext(ctx); err != nil {
		return c.queryError(ctx, err)
	}
	return nil
}

// Close logs every pooled session out. It is safe to call more than once.
func (c *conn) Close() error {
	return c.db.Close()
}

// queryIDPattern is what a Snowflake query id looks like
// ("01ba13b4-0104-e9fd-0000-0111029ca00e"); CancelQuery accepts nothing else,
// so the id can go into SQL text as is.
var queryIDPattern = regexp.MustCompile(`^[0-9A-Za-z-]{1,64}$`)

// CancelQuery stops the statement with Snowflake query id queryID by running
// SELECT SYSTEM$CANCEL_QUERY on a session of this Conn's pool (any session of
// a user allowed to see the statement will do, in any process). A statement
// that has already ended is not an error. Its errors are those of Query.
func (c *conn) CancelQuery(ctx context.Context, queryID string) error {
	if !queryIDPattern.MatchString(queryID) {
		return fmt.Errorf("snowflake: cancel query: %q is not a Snowflake query id", queryID)
	}
	var answer string
	err := c.db.QueryRowContext(ctx, "SELECT SYSTEM$CANCEL_QUERY('"+queryID+"')").Scan(&answer)
	if err != nil {
		err = c.queryError(ctx, err)
		var qe *drivers.QueryError
		if errors.As(err, &qe) && strings.Contains(qe.Message, "not currently executing") {
			return nil
		}
		return err
	}
	return nil
}

// Schema lists the tables and views of the configured database from its
// INFORMATION_SCHEMA.COLUMNS (all schemas but INFORMATION_SCHEMA), each with
// its columns in table order. Column types are Snowflake's, with precision
// and scale or length where they have them ("NUMBER(38,0)", "TEXT(16777216)").
// Its errors are those of Query.
func (c *conn) Schema(ctx context.Context) ([]drivers.Table, error) {
	q := `SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, DATA_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE, CHARACTER_MAXIMUM_LENGTH
FROM ` + identifier(c.opts.Database) + `.INFORMATION_SCHEMA.COLUMNS
WHERE TABLE_SCHEMA <> 'INFORMATION_SCHEMA'
ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION`
	rows, err := c.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var tables []drivers.Table
	dest := make([]any, len(rows.Columns()))
	for {
		err := rows.Next(dest)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		schema, table, column, typ := str(dest[0]), str(dest[1]), str(dest[2]), str(dest[3])
		switch {
		case typ == "NUMBER" && dest[4] != nil && dest[5] != nil:
			typ += "(" + str(dest[4]) + "," + str(dest[5]) + ")"
		case (typ == "TEXT" || typ == "BINARY") && dest[6] != nil:
			typ += "(" + str(dest[6]) + ")"
		}
		if n := len(tables); n == 0 || tables[n-1].Schema != schema || tables[n-1].Name != table {
			tables = append(tables, drivers.Table{Schema: schema, Name: table})
		}
		t := &tables[len(tables)-1]
		t.Columns = append(t.Columns, drivers.TableColumn{Name: column, Type: typ})
	}
	return tables, rows.Close()
}

// str renders a value of an INFORMATION_SCHEMA row as text.
func str(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case drivers.Decimal:
		return string(v)
	default:
		return fmt.Sprint(v)
	}
}

// unquotedIdentifier is an identifier Snowflake accepts without quotes (and
// resolves in upper case).
var unquotedIdentifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]*$`)

// identifier writes name as it would be typed in the options: as is when it
// needs no quotes (so "mydb" means MYDB, as at login), quoted otherwise.
func identifier(name string) string {
	if unquotedIdentifier.MatchString(name) || strings.HasPrefix(name, `"`) {
		return name
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// queryError maps an error from running a statement: ctx's error when ctx is
// done, a *drivers.QueryError when Snowflake rejected the statement or the
// login, and a plain error naming the host otherwise.
func (c *conn) queryError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("query on %s: %w", c.opts.addr(), ctxErr)
	}
	var se *sf.SnowflakeError
	if errors.As(err, &se) && serverError(se) {
		return c.redactErr(&drivers.QueryError{Message: se.Message, Code: fmt.Sprintf("%06d", se.Number), Err: err})
	}
	return c.redactErr(fmt.Errorf("query on %s: %w", c.opts.addr(), err))
}

// serverError reports whether se is Snowflake's answer to a statement or a
// login (compilation and execution errors, a statement timeout or
// cancellation, a refused login), which running the statement again cannot
// fix, rather than the client library's own failure to reach Snowflake
// (codes 26xxxx).
func serverError(se *sf.SnowflakeError) bool {
	switch {
	case se.Number <= 0:
		return false
	case se.Number >= 260000 && se.Number < 270000:
		return false
	case se.Number == 390112: // session expired: the client renews it
		return false
	}
	return true
}

// redactErr returns err unchanged unless its text contains a secret, which
// the client library never puts there; this is a second line of defence.
func (c *conn) redactErr(err error) error {
	return drivers.Redact(err, c.secrets()...)
}

// secrets are the password and private key, when long enough that cutting
// them out of a message cannot mangle it.
func (c *conn) secrets() []string {
	var out []string
	for _, secret := range []string{c.opts.Password, c.opts.PrivateKey} {
		if len(secret) >= 4 {
			out = append(out, secret)
		}
	}
	return out
}
