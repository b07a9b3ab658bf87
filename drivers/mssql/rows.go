package mssql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"

	mssqldb "github.com/microsoft/go-mssqldb"

	"github.com/queryd/queryd/drivers"
)

// rows streams one statement's result from its session.
type rows struct {
	ctx    context.Context // the caller's
	qctx   context.Context // ctx with the statement deadline
	cancel context.CancelFunc
	c      *conn
	sc     *sql.Conn
	sr     *sql.Rows
	cols   []drivers.Column
	kinds  []kind
	vals   []any // the client library's values of the current row
	scan   []any // pointers into vals
	primed bool  // sr holds a row that Next has not returned yet
	err    error // once set, the statement is over and Next returns err
}

// errClosed is what Next returns after Close.
var errClosed = errors.New("mssql: Next called after Close")

// describe reads the result's columns.
func (r *rows) describe() error {
	cts, err := r.sr.ColumnTypes()
	if err != nil {
		return r.c.queryError(r.ctx, r.qctx, "query on", err)
	}
	r.cols = make([]drivers.Column, len(cts))
	r.kinds = make([]kind, len(cts))
	r.vals = make([]any, len(cts))
	r.scan = make([]any, len(cts))
	for i, ct := range cts {
		dbType := ct.DatabaseTypeName()
		typ, k := classify(dbType)
		r.cols[i] = drivers.Column{Name: ct.Name(), Type: typ, DatabaseType: dbType}
		r.kinds[i] = k
		r.scan[i] = &r.vals[i]
	}
	return nil
}

// prime moves to the first row, so that a statement failing or cancelled
// before its first row fails in Query, and an empty result gives its
// session back at once. It returns the error Query must return, if any.
func (r *rows) prime() error {
	if r.sr.Next() {
		r.primed = true
		return nil
	}
	if err := r.end(); err != io.EOF {
		return err
	}
	return nil
}

// end finishes the statement after sr.Next returned false: io.EOF, or the
// mapped error (sql.Rows.Err reports ctx's error when database/sql closed
// the rows because ctx was done before the end).
func (r *rows) end() error {
	if err := r.sr.Err(); err != nil {
		return r.finish(r.c.queryError(r.ctx, r.qctx, "query on", err))
	}
	return r.finish(io.EOF)
}

// Columns describes the result's columns; callers must not modify it.
func (r *rows) Columns() []drivers.Column { return r.cols }

// Next fills dest with the next row. It returns io.EOF after the last row,
// an error wrapping ctx's error once ctx is done (the statement is stopped
// inside the server), a *drivers.QueryError when the statement fails or
// exceeds statement_timeout while streaming, and a plain error when the
// connection fails. After the first error every call returns the same
// error. The session goes back to the pool as soon as Next returns an error.
func (r *rows) Next(dest []any) error {
	if r.err != nil {
		return r.err
	}
	if len(dest) != len(r.kinds) {
		return fmt.Errorf("mssql: Next: dest has %d values, want %d", len(dest), len(r.kinds))
	}
	if r.qctx.Err() != nil {
		return r.finish(r.c.queryError(r.ctx, r.qctx, "query on", r.qctx.Err()))
	}
	if r.primed {
		r.primed = false
	} else if !r.sr.Next() {
		return r.end()
	}
	if err := r.sr.Scan(r.scan...); err != nil {
		return r.finish(fmt.Errorf("mssql: scan row: %w", err))
	}
	for i, k := range r.kinds {
		v, err := convert(k, r.vals[i])
		if err != nil {
			return r.finish(fmt.Errorf("mssql: column %q (%s): %w", r.cols[i].Name, r.cols[i].DatabaseType, err))
		}
		dest[i] = v
	}
	return nil
}

// Close stops the statement if it is still running (the client library
// sends ATTENTION rather than reading the rest of the result) and returns
// the session to the pool. It always returns nil and is safe to call more
// than once.
func (r *rows) Close() error {
	if r.err == nil {
		r.finish(errClosed)
	}
	return nil
}

// finish ends the statement (sql.Rows.Close cancels it when it is still
// running), returns the session to the pool and makes err the result of
// every later Next.
func (r *rows) finish(err error) error {
	r.sr.Close()
	r.sc.Close()
	r.cancel()
	r.err = err
	r.sc, r.sr, r.vals, r.scan = nil, nil, nil, nil
	return err
}

// kind says how to convert a column's values.
type kind uint8

const (
	kindText      kind = iota // string; anything else rendered as text
	kindInt                   // int64
	kindFloat                 // float64
	kindReal                  // float64 of REAL's shortest decimal
	kindDecimal               // Decimal from the library's decimal text
	kindBool                  // bool
	kindGUID                  // canonical upper-case text
	kindDate                  // time.Time at midnight UTC
	kindNaive                 // "2006-01-02T15:04:05.9999999"
	kindOffset                // time.Time with its offset
	kindTimeOfDay             // "15:04:05.9999999"
	kindBytes                 // []byte
)

// classify picks a column's Redash type and conversion from SQL Server's
// type name as go-mssqldb reports it (DatabaseTypeName).
func classify(dbType string) (drivers.ColumnType, kind) {
	switch dbType {
	case "TINYINT", "SMALLINT", "INT", "BIGINT":
		return drivers.TypeInteger, kindInt
	case "FLOAT":
		return drivers.TypeFloat, kindFloat
	case "REAL":
		return drivers.TypeFloat, kindReal
	case "DECIMAL", "NUMERIC", "MONEY", "SMALLMONEY":
		return drivers.TypeFloat, kindDecimal
	case "BIT":
		return drivers.TypeBoolean, kindBool
	case "UNIQUEIDENTIFIER":
		return drivers.TypeString, kindGUID
	case "DATE":
		return drivers.TypeDate, kindDate
	case "DATETIME", "DATETIME2", "SMALLDATETIME":
		return drivers.TypeDatetime, kindNaive
	case "DATETIMEOFFSET":
		return drivers.TypeDatetime, kindOffset
	case "TIME":
		return drivers.TypeString, kindTimeOfDay
	case "BINARY", "VARBINARY", "IMAGE":
		return drivers.TypeString, kindBytes
	}
	return drivers.TypeString, kindText
}

// Layouts of the naive values handed out.
const (
	naiveLayout = "2006-01-02T15:04:05.9999999"
	timeLayout  = "15:04:05.9999999"
)

// convert turns one value from the client library into the drivers type
// for kind k.
func convert(k kind, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch k {
	case kindInt:
		if n, ok := v.(int64); ok {
			return n, nil
		}
	case kindFloat:
		if f, ok := v.(float64); ok {
			return f, nil
		}
	case kindReal:
		if f, ok := v.(float64); ok {
			return strconv.ParseFloat(strconv.FormatFloat(f, 'g', -1, 32), 64)
		}
	case kindDecimal:
		if b, ok := v.([]byte); ok {
			return drivers.Decimal(b), nil
		}
	case kindBool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case kindGUID:
		var u mssqldb.UniqueIdentifier
		if err := u.Scan(v); err != nil {
			return nil, err
		}
		return u.String(), nil
	case kindDate:
		if t, ok := v.(time.Time); ok {
			y, m, d := t.Date()
			return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
		}
	case kindNaive:
		if t, ok := v.(time.Time); ok {
			return t.Format(naiveLayout), nil
		}
	case kindOffset:
		if t, ok := v.(time.Time); ok {
			return t, nil
		}
	case kindTimeOfDay:
		if t, ok := v.(time.Time); ok {
			return t.Format(timeLayout), nil
		}
	case kindBytes:
		if b, ok := v.([]byte); ok {
			return b, nil
		}
	case kindText:
		switch v := v.(type) {
		case string:
			return v, nil
		case []byte:
			return string(v), nil
		case time.Time:
			return v.Format(time.RFC3339Nano), nil
		default:
			return fmt.Sprint(v), nil
		}
	}
	return nil, fmt.Errorf("unexpected value of type %T", v)
}

// escapedPassword is the password as it appears inside the DSN.
func escapedPassword(pw string) string {
	return url.UserPassword("u", pw).String()[2:]
}
