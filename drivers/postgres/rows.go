package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/queryd/queryd/drivers"
)

// rows streams one statement's result from a pooled connection.
type rows struct {
	ctx    context.Context    // the caller's
	done   <-chan struct{}    // ctx.Done()
	cancel context.CancelFunc // cancels the statement's ctx, derived from ctx
	c      *conn
	pc     *pgxpool.Conn
	pr     pgx.Rows
	cols   []drivers.Column
	kinds  []kind
	buf    []byte // scratch space for formatting values
	primed bool   // pr holds a row that Next has not returned yet
	err    error  // once set, the statement is over and Next returns err
}

// errClosed is what Next returns after Close.
var errClosed = errors.New("postgres: Next called after Close")

func newRows(ctx context.Context, cancel context.CancelFunc, c *conn, pc *pgxpool.Conn, pr pgx.Rows) *rows {
	fds := pr.FieldDescriptions()
	r := &rows{
		ctx:    ctx,
		done:   ctx.Done(),
		cancel: cancel,
		c:      c,
		pc:     pc,
		pr:     pr,
		cols:   make([]drivers.Column, len(fds)),
		kinds:  make([]kind, len(fds)),
	}
	tm := pc.Conn().TypeMap()
	for i, fd := range fds {
		typ, k := classify(fd)
		r.cols[i] = drivers.Column{Name: fd.Name, Type: typ, DatabaseType: typeName(tm, fd.DataTypeOID)}
		r.kinds[i] = k
	}
	return r
}

// prime moves to the first row, which pgx has already read while waiting for
// the statement to start, so that a statement failing before its first row
// fails in Query, and an empty result gives its connection back at once.
// It returns the error Query must return, if any.
func (r *rows) prime() error {
	if r.pr.Next() {
		r.primed = true
		return nil
	}
	if err := r.pr.Err(); err != nil {
		return r.finish(r.c.queryError(r.ctx, err), false)
	}
	r.finish(io.EOF, false)
	return nil
}

// Columns describes the result's columns; callers must not modify it.
func (r *rows) Columns() []drivers.Column { return r.cols }

// Next fills dest with the next row. It returns io.EOF after the last row,
// an error wrapping ctx's error once ctx is done (the statement is cancelled
// inside PostgreSQL), a *drivers.QueryError when the statement fails while
// streaming, and a plain error when the connection fails. After the first
// error every call returns the same error. The connection goes back to the
// pool as soon as Next returns an error.
func (r *rows) Next(dest []any) error {
	if r.err != nil {
		return r.err
	}
	if len(dest) != len(r.kinds) {
		return fmt.Errorf("postgres: Next: dest has %d values, want %d", len(dest), len(r.kinds))
	}
	select {
	case <-r.done:
		return r.finish(r.c.queryError(r.ctx, r.ctx.Err()), true)
	default:
	}
	if r.primed {
		r.primed = false
	} else if !r.pr.Next() {
		if err := r.pr.Err(); err != nil {
			return r.finish(r.c.queryError(r.ctx, err), false)
		}
		return r.finish(io.EOF, false)
	}
	raw := r.pr.RawValues()
	if len(raw) != len(dest) {
		return r.finish(fmt.Errorf("postgres: row has %d values, want %d", len(raw), len(dest)), true)
	}
	for i, b := range raw {
		if b == nil {
			dest[i] = nil
			continue
		}
		v, err := r.decode(r.kinds[i], b)
		if err != nil {
			return r.finish(fmt.Errorf("postgres: column %q (%s): %w", r.cols[i].Name, r.cols[i].DatabaseType, err), true)
		}
		dest[i] = v
	}
	return nil
}

// Close stops the statement if it is still running (by cancelling it inside
// PostgreSQL, so the server does not send the rest of a large result) and
// returns the connection to the pool. It always returns nil and is safe to
// call more than once.
func (r *rows) Close() error {
	if r.err == nil {
		r.finish(errClosed, true)
	}
	return nil
}

// finish ends the statement, cancelling it first when stop is set and it may
// still be running, returns the connection to the pool and makes err the
// result of every later Next.
func (r *rows) finish(err error, stop bool) error {
	if stop {
		// Cancelling the statement's ctx makes pgx send PostgreSQL a cancel
		// request; Close below then reads only what was already in flight.
		r.cancel()
	}
	r.pr.Close()
	r.pc.Release()
	r.cancel()
	r.err = err
	r.pr, r.pc, r.buf = nil, nil, nil
	return err
}

// kind says how to decode a column's values.
type kind uint8

const (
	kindText        kind = iota // text format: string
	kindNumeric                 // numeric, text format: Decimal, nil for NaN/±Infinity
	kindBytes                   // binary format: []byte (a copy)
	kindInt2                    // int2, binary: int64
	kindInt4                    // int4, binary: int64
	kindInt8                    // int8, binary: int64
	kindOID                     // oid, binary: int64
	kindFloat4                  // float4, binary: float64 of its shortest decimal
	kindFloat8                  // float8, binary: float64
	kindBool                    // bool, binary: bool
	kindDate                    // date, binary: time.Time (UTC midnight), nil for ±infinity
	kindTimestamptz             // timestamptz, binary: time.Time (UTC), nil for ±infinity
	kindTimestamp               // timestamp, binary: string
)

// binaryKinds maps the OIDs requested in binary (see resultFormats) to their
// Redash type and decoding.
var binaryKinds = map[uint32]struct {
	typ  drivers.ColumnType
	kind kind
}{
	pgtype.Int2OID:        {drivers.TypeInteger, kindInt2},
	pgtype.Int4OID:        {drivers.TypeInteger, kindInt4},
	pgtype.Int8OID:        {drivers.TypeInteger, kindInt8},
	pgtype.OIDOID:         {drivers.TypeInteger, kindOID},
	pgtype.Float4OID:      {drivers.TypeFloat, kindFloat4},
	pgtype.Float8OID:      {drivers.TypeFloat, kindFloat8},
	pgtype.BoolOID:        {drivers.TypeBoolean, kindBool},
	pgtype.DateOID:        {drivers.TypeDate, kindDate},
	pgtype.TimestamptzOID: {drivers.TypeDatetime, kindTimestamptz},
	pgtype.TimestampOID:   {drivers.TypeDatetime, kindTimestamp},
	pgtype.ByteaOID:       {drivers.TypeString, kindBytes},
}

// classify picks a column's Redash type and decoding from its type and the
// format PostgreSQL sends it in.
func classify(fd pgconn.FieldDescription) (drivers.ColumnType, kind) {
	if fd.Format == pgx.BinaryFormatCode {
		if bk, ok := binaryKinds[fd.DataTypeOID]; ok {
			return bk.typ, bk.kind
		}
		return drivers.TypeString, kindBytes
	}
	if fd.DataTypeOID == pgtype.NumericOID {
		return drivers.TypeFloat, kindNumeric
	}
	return drivers.TypeString, kindText
}

// typeName is PostgreSQL's name for oid ("int8", "_text"), or "oid:<n>" for
// a type pgx does not know (enums, domains, extensions).
func typeName(tm *pgtype.Map, oid uint32) string {
	if t, ok := tm.TypeForOID(oid); ok {
		return t.Name
	}
	return "oid:" + strconv.FormatUint(uint64(oid), 10)
}

// PostgreSQL's epoch, 2000-01-01, in Unix seconds, and the seconds in a day.
const (
	pgEpochUnix  = 946684800
	secondsInDay = 86400
)

// timestampLayout is how timestamps without a time zone are rendered.
const timestampLayout = "2006-01-02T15:04:05.999999"

var errLength = errors.New("unexpected value length")

// decode converts one non-NULL value of kind k.
func (r *rows) decode(k kind, b []byte) (any, error) {
	switch k {
	case kindText:
		return string(b), nil
	case kindNumeric:
		switch string(b) {
		case "NaN", "Infinity", "-Infinity":
			return nil, nil
		}
		return drivers.Decimal(b), nil
	case kindBytes:
		return bytes.Clone(b), nil
	case kindInt2:
		if len(b) != 2 {
			return nil, errLength
		}
		return int64(int16(binary.BigEndian.Uint16(b))), nil
	case kindInt4:
		if len(b) != 4 {
			return nil, errLength
		}
		return int64(int32(binary.BigEndian.Uint32(b))), nil
	case kindInt8:
		if len(b) != 8 {
			return nil, errLength
		}
		return int64(binary.BigEndian.Uint64(b)), nil
	case kindOID:
		if len(b) != 4 {
			return nil, errLength
		}
		return int64(binary.BigEndian.Uint32(b)), nil
	case kindFloat4:
		if len(b) != 4 {
			return nil, errLength
		}
		// float4 → float64 directly turns 1.1 into 1.100000023841858; go
		// through the shortest decimal instead, as PostgreSQL prints it.
		f := math.Float32frombits(binary.BigEndian.Uint32(b))
		r.buf = strconv.AppendFloat(r.buf[:0], float64(f), 'g', -1, 32)
		if v, err := strconv.ParseFloat(string(r.buf), 64); err == nil {
			return v, nil
		}
		return float64(f), nil
	case kindFloat8:
		if len(b) != 8 {
			return nil, errLength
		}
		return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
	case kindBool:
		if len(b) != 1 {
			return nil, errLength
		}
		return b[0] != 0, nil
	case kindDate:
		if len(b) != 4 {
			return nil, errLength
		}
		days := int32(binary.BigEndian.Uint32(b))
		if days == math.MaxInt32 || days == math.MinInt32 {
			return nil, nil
		}
		return time.Unix(pgEpochUnix+int64(days)*secondsInDay, 0).UTC(), nil
	case kindTimestamptz:
		if len(b) != 8 {
			return nil, errLength
		}
		us := int64(binary.BigEndian.Uint64(b))
		if us == math.MaxInt64 || us == math.MinInt64 {
			return nil, nil
		}
		return pgTime(us), nil
	case kindTimestamp:
		if len(b) != 8 {
			return nil, errLength
		}
		switch us := int64(binary.BigEndian.Uint64(b)); us {
		case math.MaxInt64:
			return "infinity", nil
		case math.MinInt64:
			return "-infinity", nil
		default:
			r.buf = pgTime(us).AppendFormat(r.buf[:0], timestampLayout)
			return string(r.buf), nil
		}
	}
	return nil, fmt.Errorf("unknown kind %d", k)
}

// pgTime converts microseconds since 2000-01-01 UTC to a time in UTC.
func pgTime(us int64) time.Time {
	sec, frac := us/1e6, us%1e6
	if frac < 0 {
		sec, frac = sec-1, frac+1e6
	}
	return time.Unix(pgEpochUnix+sec, frac*1000).UTC()
}
