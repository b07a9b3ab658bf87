package mysql

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/queryd/queryd/drivers"
)

// Cancel timing.
const (
	// killRetry is how long after a KILL QUERY the statement is given to
	// end before the KILL is sent again (it can reach the server before
	// the statement does).
	killRetry = 200 * time.Millisecond
	// killPatience is how long the statement is given to end after the
	// first KILL QUERY before its connection is closed instead.
	killPatience = 1500 * time.Millisecond
)

// statement tracks one running statement and stops it inside the server:
// when the caller's ctx is done, or when its Rows are closed early.
//
// Stopping sends KILL QUERY <id> from the killer pool, again every killRetry
// until the statement ends, and after killPatience (or when a KILL cannot be
// sent) closes the statement's network connection, which fails whatever
// reads it and makes database/sql drop it. finish waits for any KILL in
// flight before the connection goes back to the pool, so a late KILL never
// reaches the connection's next statement.
type statement struct {
	c         *conn
	server    *serverConn
	stopWatch func() bool   // stops the ctx watch
	ended     chan struct{} // closed once the statement is over
	killOnce  sync.Once
	killing   bool          // set inside killOnce: killLoop was started
	killDone  chan struct{} // closed when killLoop returns
}

func newStatement(ctx context.Context, c *conn, server *serverConn) *statement {
	s := &statement{
		c:        c,
		server:   server,
		ended:    make(chan struct{}),
		killDone: make(chan struct{}),
	}
	s.stopWatch = context.AfterFunc(ctx, s.kill)
	return s
}

// kill starts stopping the statement, once.
func (s *statement) kill() {
	s.killOnce.Do(func() {
		s.killing = true
		go s.killLoop()
	})
}

func (s *statement) killLoop() {
	defer close(s.killDone)
	give := time.NewTimer(killPatience)
	defer give.Stop()
	for {
		if err := s.c.killQuery(s.server.id); err != nil {
			s.sever()
			return
		}
		select {
		case <-s.ended:
			return
		case <-give.C:
			s.sever()
			return
		case <-time.After(killRetry):
		}
	}
}

// finish ends the statement: stops it first when stop is set, reads what
// the server still sends of sr (if any) and waits for a KILL in flight. The
// caller then gives back the connection.
func (s *statement) finish(stop bool, sr *sql.Rows) {
	if stop {
		s.kill()
	}
	if sr != nil {
		// Close reads up to the server's end-of-result or error packet; a
		// server that does not send it within killPatience loses the
		// connection instead.
		t := time.AfterFunc(killPatience, s.sever)
		sr.Close()
		t.Stop()
	}
	close(s.ended)
	s.stopWatch()
	s.killOnce.Do(func() {}) // no kill starts after this
	if s.killing {
		<-s.killDone
	}
}

// dropIfLost severs the connection when err says it may be unusable, so
// that database/sql drops it instead of handing it to the next Query.
func (s *statement) dropIfLost(err error) {
	if lost(err) {
		s.sever()
	}
}

// sever closes the statement's network connection: the statement's reads
// fail at once, and database/sql drops the connection.
func (s *statement) sever() { s.server.netConn.Close() }

// rows streams one statement's result from its connection.
type rows struct {
	ctx    context.Context // the caller's
	done   <-chan struct{} // ctx.Done()
	c      *conn
	sc     *sql.Conn
	sr     *sql.Rows
	st     *statement
	cols   []drivers.Column
	kinds  []kind
	raw    []sql.RawBytes // text and binary values, valid until the next row
	vals   []any          // numbers, which the client library parses itself
	scan   []any          // for each column, a pointer into raw or vals
	buf    []byte         // scratch space for formatting values
	primed bool           // sr holds a row that Next has not returned yet
	err    error          // once set, the statement is over and Next returns err
}

// errClosed is what Next returns after Close.
var errClosed = errors.New("mysql: Next called after Close")

func newRows(ctx context.Context, c *conn, sc *sql.Conn, sr *sql.Rows, st *statement) (*rows, error) {
	r := &rows{ctx: ctx, done: ctx.Done(), c: c, sc: sc, sr: sr, st: st}
	cts, err := sr.ColumnTypes()
	if err != nil {
		return r, c.queryError(ctx, err)
	}
	r.cols = make([]drivers.Column, len(cts))
	r.kinds = make([]kind, len(cts))
	r.raw = make([]sql.RawBytes, len(cts))
	r.vals = make([]any, len(cts))
	r.scan = make([]any, len(cts))
	for i, ct := range cts {
		dbType := ct.DatabaseTypeName()
		typ, k := classify(dbType)
		r.cols[i] = drivers.Column{Name: ct.Name(), Type: typ, DatabaseType: dbType}
		r.kinds[i] = k
		if k.numeric() {
			r.scan[i] = &r.vals[i]
		} else {
			r.scan[i] = &r.raw[i]
		}
	}
	return r, nil
}

// prime moves to the first row, so that a statement failing or killed
// before its first row fails in Query, and an empty result gives its
// connection back at once. It returns the error Query must return, if any.
func (r *rows) prime() error {
	if r.ctx.Err() != nil {
		return r.finish(r.c.queryError(r.ctx, r.ctx.Err()), true)
	}
	if r.sr.Next() {
		r.primed = true
		return nil
	}
	if err := r.sr.Err(); err != nil {
		r.st.dropIfLost(err)
		return r.finish(r.c.queryError(r.ctx, err), false)
	}
	r.finish(io.EOF, false)
	return nil
}

// Columns describes the result's columns; callers must not modify it.
func (r *rows) Columns() []drivers.Column { return r.cols }

// Next fills dest with the next row. It returns io.EOF after the last row,
// an error wrapping ctx's error once ctx is done (the statement is killed
// inside the server), a *drivers.QueryError when the statement fails while
// streaming, and a plain error when the connection fails. After the first
// error every call returns the same error. The connection goes back to the
// pool as soon as Next returns an error.
func (r *rows) Next(dest []any) error {
	if r.err != nil {
		return r.err
	}
	if len(dest) != len(r.kinds) {
		return fmt.Errorf("mysql: Next: dest has %d values, want %d", len(dest), len(r.kinds))
	}
	select {
	case <-r.done:
		return r.finish(r.c.queryError(r.ctx, r.ctx.Err()), true)
	default:
	}
	if r.primed {
		r.primed = false
	} else if !r.sr.Next() {
		if err := r.sr.Err(); err != nil {
			r.st.dropIfLost(err)
			return r.finish(r.c.queryError(r.ctx, err), false)
		}
		return r.finish(io.EOF, false)
	}
	if err := r.sr.Scan(r.scan...); err != nil {
		return r.finish(fmt.Errorf("mysql: scan row: %w", err), true)
	}
	for i, k := range r.kinds {
		var v any
		var err error
		switch {
		case k.numeric():
			v, err = r.number(r.vals[i])
		case r.raw[i] == nil:
			v = nil
		default:
			v, err = r.decode(k, r.raw[i])
		}
		if err != nil {
			return r.finish(fmt.Errorf("mysql: column %q (%s): %w", r.cols[i].Name, r.cols[i].DatabaseType, err), true)
		}
		dest[i] = v
	}
	return nil
}

// Close stops the statement if it is still running (KILL QUERY, so the
// server does not send the rest of a large result) and returns the
// connection to the pool. It always returns nil and is safe to call more
// than once.
func (r *rows) Close() error {
	if r.err == nil {
		r.finish(errClosed, true)
	}
	return nil
}

// finish ends the statement, killing it first when stop is set, returns the
// connection to the pool and makes err the result of every later Next.
func (r *rows) finish(err error, stop bool) error {
	r.st.finish(stop, r.sr)
	r.sc.Close()
	r.err = err
	r.sc, r.sr, r.raw, r.vals, r.scan, r.buf = nil, nil, nil, nil, nil, nil
	return err
}

// kind says how to decode a column's text.
type kind uint8

const (
	kindText     kind = iota // string
	kindBytes                // []byte (a copy)
	kindNumber               // integers and floats, parsed by the library: see number
	kindBit                  // big-endian bits: int64, or Decimal above math.MaxInt64
	kindDecimal              // Decimal
	kindDate                 // time.Time at midnight UTC, nil when invalid
	kindDatetime             // string "2006-01-02T15:04:05.999999", nil when invalid
	kindTime                 // TIMESTAMP: time.Time in UTC, nil when invalid
)

// classify picks a column's Redash type and decoding from MySQL's type name
// as the client library reports it.
func classify(dbType string) (drivers.ColumnType, kind) {
	switch dbType {
	case "TINYINT", "SMALLINT", "MEDIUMINT", "INT", "BIGINT", "YEAR",
		"UNSIGNED TINYINT", "UNSIGNED SMALLINT", "UNSIGNED MEDIUMINT", "UNSIGNED INT", "UNSIGNED BIGINT":
		return drivers.TypeInteger, kindNumber
	case "BIT":
		return drivers.TypeInteger, kindBit
	case "FLOAT", "DOUBLE":
		return drivers.TypeFloat, kindNumber
	case "DECIMAL":
		return drivers.TypeFloat, kindDecimal
	case "DATE":
		return drivers.TypeDate, kindDate
	case "DATETIME":
		return drivers.TypeDatetime, kindDatetime
	case "TIMESTAMP":
		return drivers.TypeDatetime, kindTime
	case "BINARY", "VARBINARY", "TINYBLOB", "BLOB", "MEDIUMBLOB", "LONGBLOB", "GEOMETRY", "VECTOR":
		return drivers.TypeString, kindBytes
	}
	return drivers.TypeString, kindText
}

// Layouts of MySQL's text for dates and times, and of naive datetimes handed
// out.
const (
	mysqlDate      = "2006-01-02"
	mysqlDatetime  = "2006-01-02 15:04:05.999999"
	datetimeLayout = "2006-01-02T15:04:05.999999"
)

func (k kind) numeric() bool { return k == kindNumber }

// number converts a value the client library parsed: int64 and float64 as
// they are, uint64 to int64 (a Decimal above math.MaxInt64), float32 (FLOAT)
// to the float64 of its shortest decimal, as MySQL prints it.
func (r *rows) number(v any) (any, error) {
	switch v := v.(type) {
	case nil, int64, float64:
		return v, nil
	case uint64:
		if v > math.MaxInt64 {
			return drivers.Decimal(strconv.FormatUint(v, 10)), nil
		}
		return int64(v), nil
	case float32:
		r.buf = strconv.AppendFloat(r.buf[:0], float64(v), 'g', -1, 32)
		return strconv.ParseFloat(string(r.buf), 64)
	case []byte: // a number the library left as text
		if f, err := strconv.ParseFloat(string(v), 64); err == nil && bytes.ContainsAny(v, ".eE") {
			return f, nil
		}
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return i, nil
		}
		return nil, fmt.Errorf("unexpected number %q", v)
	}
	return nil, fmt.Errorf("unexpected value of type %T", v)
}

// decode converts one non-NULL value of kind k from its text.
func (r *rows) decode(k kind, b []byte) (any, error) {
	switch k {
	case kindText:
		return string(b), nil
	case kindBytes:
		return bytes.Clone(b), nil
	case kindBit:
		if len(b) > 8 {
			return nil, fmt.Errorf("%d bytes for a BIT value", len(b))
		}
		var u uint64
		for _, c := range b {
			u = u<<8 | uint64(c)
		}
		if u > math.MaxInt64 {
			return drivers.Decimal(strconv.FormatUint(u, 10)), nil
		}
		return int64(u), nil
	case kindDecimal:
		return drivers.Decimal(b), nil
	case kindDate:
		t, err := time.Parse(mysqlDate, string(b))
		if err != nil {
			return nil, nil // "0000-00-00" and dates like "2024-02-00"
		}
		return t, nil
	case kindDatetime:
		t, err := time.Parse(mysqlDatetime, string(b))
		if err != nil {
			return nil, nil
		}
		r.buf = t.AppendFormat(r.buf[:0], datetimeLayout)
		return string(r.buf), nil
	case kindTime:
		t, err := time.Parse(mysqlDatetime, string(b))
		if err != nil {
			return nil, nil
		}
		return t, nil
	}
	return nil, fmt.Errorf("unknown kind %d", k)
}
