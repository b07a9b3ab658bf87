package databricks

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/queryd/queryd/drivers"
)

// kind is how rows converts a column's values.
type kind int

const (
	kindText kind = iota
	kindInt
	kindFloat
	kindDecimal
	kindBool
	kindDate
	kindTime
	kindNaive
	kindBytes
)

// naiveLayout is how zone-less timestamps are handed out.
const naiveLayout = "2006-01-02T15:04:05.999999"

// rows streams a statement's result through database/sql. database/sql
// closes them when ctx is done, which makes the library close the operation
// in the warehouse.
type rows struct {
	ctx    context.Context
	c      *conn
	sr     *sql.Rows
	cols   []drivers.Column
	kinds  []kind
	vals   []any
	scan   []any
	primed bool  // sr holds a row Next has not handed out
	err    error // the error every later Next returns
}

func newRows(ctx context.Context, c *conn, sr *sql.Rows) (*rows, error) {
	cts, err := sr.ColumnTypes()
	if err != nil {
		sr.Close()
		return nil, c.queryError(ctx, err)
	}
	r := &rows{ctx: ctx, c: c, sr: sr}
	for _, ct := range cts {
		name := ct.DatabaseTypeName()
		typ, k := mapType(name)
		r.cols = append(r.cols, drivers.Column{Name: ct.Name(), Type: typ, DatabaseType: name})
		r.kinds = append(r.kinds, k)
	}
	r.vals = make([]any, len(cts))
	r.scan = make([]any, len(cts))
	for i := range r.vals {
		r.scan[i] = &r.vals[i]
	}
	return r, nil
}

// mapType maps a Databricks type name to its Redash type and value kind.
func mapType(name string) (drivers.ColumnType, kind) {
	switch name {
	case "TINYINT", "SMALLINT", "INT", "BIGINT":
		return drivers.TypeInteger, kindInt
	case "FLOAT", "DOUBLE":
		return drivers.TypeFloat, kindFloat
	case "DECIMAL":
		return drivers.TypeFloat, kindDecimal
	case "BOOLEAN":
		return drivers.TypeBoolean, kindBool
	case "DATE":
		return drivers.TypeDate, kindDate
	case "TIMESTAMP":
		return drivers.TypeDatetime, kindTime
	case "TIMESTAMP_NTZ":
		return drivers.TypeString, kindNaive
	case "BINARY":
		return drivers.TypeString, kindBytes
	}
	return drivers.TypeString, kindText
}

// prime reads the first row, so that Query reports a statement's failure.
func (r *rows) prime() error {
	if r.sr.Next() {
		r.primed = true
		return nil
	}
	if err := r.sr.Err(); err != nil {
		return r.finish(r.c.queryError(r.ctx, err))
	}
	r.finish(io.EOF)
	return nil
}

// Columns describes the result's columns; callers must not modify it.
func (r *rows) Columns() []drivers.Column { return r.cols }

// Next fills dest with the next row. It returns io.EOF after the last row,
// an error wrapping ctx's error once ctx is done (the operation is closed in
// the warehouse), a *drivers.QueryError when the statement fails while
// streaming, and a plain error when the warehouse cannot be reached. After
// the first error every call returns the same error.
func (r *rows) Next(dest []any) error {
	if r.err != nil {
		return r.err
	}
	if len(dest) != len(r.kinds) {
		return fmt.Errorf("databricks: Next: dest has %d values, want %d", len(dest), len(r.kinds))
	}
	if r.primed {
		r.primed = false
	} else if !r.sr.Next() {
		if err := r.sr.Err(); err != nil {
			return r.finish(r.c.queryError(r.ctx, err))
		}
		if err := r.ctx.Err(); err != nil {
			return r.finish(r.c.queryError(r.ctx, err))
		}
		return r.finish(io.EOF)
	}
	if err := r.sr.Scan(r.scan...); err != nil {
		return r.finish(fmt.Errorf("databricks: scan row: %w", err))
	}
	for i, k := range r.kinds {
		v, err := convert(k, r.vals[i])
		if err != nil {
			return r.finish(fmt.Errorf("databricks: column %q: %w", r.cols[i].Name, err))
		}
		dest[i] = v
	}
	return nil
}

// finish records err as the rows' final result and closes them.
func (r *rows) finish(err error) error {
	r.err = err
	r.sr.Close()
	return err
}

// Close closes the operation in the warehouse if it is still open. It is
// safe to call more than once.
func (r *rows) Close() error {
	if r.err == nil {
		r.err = fmt.Errorf("databricks: rows closed")
	}
	r.sr.Close()
	return nil
}

// convert turns a value from the client library into one of the types the
// drivers package allows.
func convert(k kind, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch k {
	case kindInt:
		switch n := v.(type) {
		case int8:
			return int64(n), nil
		case int16:
			return int64(n), nil
		case int32:
			return int64(n), nil
		case int64:
			return n, nil
		}
	case kindFloat:
		switch f := v.(type) {
		case float32:
			// The shortest decimal that is this float32, so 0.1 stays 0.1.
			return strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
		case float64:
			return f, nil
		}
	case kindDecimal:
		if s, ok := v.(string); ok {
			return drivers.Decimal(s), nil
		}
	case kindBool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case kindDate:
		if t, ok := v.(time.Time); ok {
			y, m, d := t.Date()
			return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
		}
	case kindTime:
		if t, ok := v.(time.Time); ok {
			return t.UTC(), nil
		}
	case kindNaive:
		switch t := v.(type) {
		case time.Time:
			return t.Format(naiveLayout), nil
		case string:
			return t, nil
		}
	case kindBytes:
		switch b := v.(type) {
		case []byte:
			return b, nil
		case string:
			return []byte(b), nil
		}
	default:
		switch s := v.(type) {
		case string:
			return s, nil
		case []byte:
			return string(s), nil
		default:
			return fmt.Sprint(s), nil
		}
	}
	return nil, fmt.Errorf("unexpected value %T", v)
}
