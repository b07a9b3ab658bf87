package snowflake

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/queryd/queryd/drivers"
)

// rows streams one statement's result from a pooled session. The client
// library downloads a large result in chunks, a few ahead of the reader.
type rows struct {
	ctx    context.Context    // the caller's
	done   <-chan struct{}    // ctx.Done()
	cancel context.CancelFunc // cancels the statement's ctx (and its chunk downloads)
	c      *conn
	sr     *sql.Rows
	cols   []drivers.Column
	kinds  []kind
	vals   []any // scan targets, reused
	ptrs   []any // pointers to vals
	buf    []byte
	primed bool  // sr holds a row that Next has not returned yet
	err    error // once set, the statement is over and Next returns err
}

// errClosed is what Next returns after Close.
var errClosed = errors.New("snowflake: Next called after Close")

func newRows(ctx context.Context, cancel context.CancelFunc, c *conn, sr *sql.Rows) (*rows, error) {
	cts, err := sr.ColumnTypes()
	if err != nil {
		sr.Close()
		cancel()
		return nil, c.queryError(ctx, err)
	}
	r := &rows{
		ctx:    ctx,
		done:   ctx.Done(),
		cancel: cancel,
		c:      c,
		sr:     sr,
		cols:   make([]drivers.Column, len(cts)),
		kinds:  make([]kind, len(cts)),
		vals:   make([]any, len(cts)),
		ptrs:   make([]any, len(cts)),
	}
	for i, ct := range cts {
		_, scale, _ := ct.DecimalSize()
		typ, k := classify(ct.DatabaseTypeName(), scale)
		name := ct.Name()
		if c.opts.LowerCaseColumns {
			name = strings.ToLower(name)
		}
		r.cols[i] = drivers.Column{Name: name, Type: typ, DatabaseType: ct.DatabaseTypeName()}
		r.kinds[i] = k
		r.ptrs[i] = &r.vals[i]
	}
	return r, nil
}

// prime moves to the first row, so that a statement failing before its
// first row fails in Query, and an empty result gives its session back at
// once. It returns the error Query must return, if any.
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
// an error wrapping ctx's error once ctx is done (the chunk downloads stop),
// a *drivers.QueryError when a value cannot be read as its type, and a plain
// error when downloading the result fails. After the first error every call
// returns the same error. The session goes back to the pool as soon as Next
// returns an error.
func (r *rows) Next(dest []any) error {
	if r.err != nil {
		return r.err
	}
	if len(dest) != len(r.kinds) {
		return fmt.Errorf("snowflake: Next: dest has %d values, want %d", len(dest), len(r.kinds))
	}
	select {
	case <-r.done:
		return r.finish(r.c.queryError(r.ctx, r.ctx.Err()))
	default:
	}
	if r.primed {
		r.primed = false
	} else if !r.sr.Next() {
		if err := r.sr.Err(); err != nil {
			return r.finish(r.c.queryError(r.ctx, err))
		}
		return r.finish(io.EOF)
	}
	if err := r.sr.Scan(r.ptrs...); err != nil {
		return r.finish(r.c.queryError(r.ctx, err))
	}
	for i, v := range r.vals {
		if v == nil {
			dest[i] = nil
			continue
		}
		out, err := r.decode(r.kinds[i], v)
		if err != nil {
			return r.finish(fmt.Errorf("snowflake: column %q (%s): %w", r.cols[i].Name, r.cols[i].DatabaseType, err))
		}
		dest[i] = out
	}
	return nil
}

// Close stops the result's chunk downloads if it was not read to the end
// and returns the session to the pool. It always returns nil and is safe to
// call more than once.
func (r *rows) Close() error {
	if r.err == nil {
		r.finish(errClosed)
	}
	return nil
}

// finish cancels the statement's ctx (stopping chunk downloads still in
// flight), returns the session to the pool and makes err the result of every
// later Next.
func (r *rows) finish(err error) error {
	r.cancel()
	r.sr.Close()
	r.err = err
	r.vals, r.ptrs, r.buf = nil, nil, nil
	return err
}

// kind says how to decode a column's values.
type kind uint8

const (
	kindText    kind = iota // string as sent
	kindInteger             // FIXED, scale 0: int64, or Decimal beyond int64
	kindDecimal             // FIXED with a scale: Decimal
	kindReal                // REAL: float64
	kindBoolean             // BOOLEAN: bool
	kindDate                // DATE: time.Time at midnight UTC
	kindTime                // TIME: string
	kindNaive               // TIMESTAMP_NTZ: string
	kindInstant             // TIMESTAMP_LTZ: time.Time in UTC
	kindZoned               // TIMESTAMP_TZ: time.Time with its offset
	kindBinary              // BINARY: []byte
)

// classify picks a column's Redash type and decoding from Snowflake's type
// name (as the client library reports it, upper case) and scale.
func classify(dbType string, scale int64) (drivers.ColumnType, kind) {
	switch dbType {
	case "FIXED":
		if scale == 0 {
			return drivers.TypeInteger, kindInteger
		}
		return drivers.TypeFloat, kindDecimal
	case "REAL":
		return drivers.TypeFloat, kindReal
	case "BOOLEAN":
		return drivers.TypeBoolean, kindBoolean
	case "DATE":
		return drivers.TypeDate, kindDate
	case "TIME":
		return drivers.TypeString, kindTime
	case "TIMESTAMP_NTZ":
		return drivers.TypeDatetime, kindNaive
	case "TIMESTAMP_LTZ":
		return drivers.TypeDatetime, kindInstant
	case "TIMESTAMP_TZ":
		return drivers.TypeDatetime, kindZoned
	case "BINARY":
		return drivers.TypeString, kindBinary
	default: // TEXT, VARIANT, OBJECT, ARRAY, and whatever else comes
		return drivers.TypeString, kindText
	}
}

// Layouts of the values rendered as text.
const (
	naiveLayout = "2006-01-02T15:04:05.999999999"
	timeLayout  = "15:04:05.999999999"
)

var errUnexpected = errors.New("unexpected value")

// decode converts one non-NULL value of kind k, as the client library hands
// it out for the JSON result format: Snowflake's text for numbers, booleans,
// text and semi-structured values; time.Time for dates, times and
// timestamps; []byte for binary.
func (r *rows) decode(k kind, v any) (any, error) {
	switch k {
	case kindInteger:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%w %T", errUnexpected, v)
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil
		}
		if !isDecimal(s) {
			return nil, fmt.Errorf("%w %q", errUnexpected, s)
		}
		return drivers.Decimal(s), nil
	case kindDecimal:
		s, ok := v.(string)
		if !ok || !isDecimal(s) {
			return nil, fmt.Errorf("%w %v", errUnexpected, v)
		}
		return drivers.Decimal(s), nil
	case kindReal:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%w %T", errUnexpected, v)
		}
		return strconv.ParseFloat(s, 64)
	case kindBoolean:
		switch v := v.(type) {
		case bool:
			return v, nil
		case string:
			switch strings.ToLower(v) {
			case "1", "true":
				return true, nil
			case "0", "false":
				return false, nil
			}
		}
		return nil, fmt.Errorf("%w %v", errUnexpected, v)
	case kindDate, kindInstant:
		t, ok := v.(time.Time)
		if !ok {
			return nil, fmt.Errorf("%w %T", errUnexpected, v)
		}
		return t.UTC(), nil
	case kindZoned:
		t, ok := v.(time.Time)
		if !ok {
			return nil, fmt.Errorf("%w %T", errUnexpected, v)
		}
		_, offset := t.Zone()
		return t.In(time.FixedZone("", offset)), nil
	case kindTime, kindNaive:
		t, ok := v.(time.Time)
		if !ok {
			return nil, fmt.Errorf("%w %T", errUnexpected, v)
		}
		layout := naiveLayout
		if k == kindTime {
			layout = timeLayout
		}
		r.buf = t.UTC().AppendFormat(r.buf[:0], layout)
		return string(r.buf), nil
	case kindBinary:
		b, ok := v.([]byte)
		if !ok {
			return nil, fmt.Errorf("%w %T", errUnexpected, v)
		}
		return b, nil
	default:
		switch v := v.(type) {
		case string:
			return v, nil
		case []byte:
			return string(v), nil
		default:
			return fmt.Sprint(v), nil
		}
	}
}

// isDecimal reports whether s is a plain decimal number: an optional minus
// sign, digits, and an optional fraction.
func isDecimal(s string) bool {
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasFrac := strings.Cut(s, ".")
	if intPart == "" || hasFrac && frac == "" {
		return false
	}
	for _, part := range []string{intPart, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return false
			}
		}
	}
	return true
}
