package bigquery

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"google.golang.org/api/iterator"

	"github.com/queryd/queryd/drivers"
)

// statement tracks one query job and cancels it inside BigQuery: when the
// caller's ctx is done, when its Rows are closed early, or when reading
// fails for a reason other than the job's own error.
type statement struct {
	c          *conn
	job        *bigquery.Job
	stopWatch  func() bool
	once       sync.Once
	cancelDone chan struct{} // closed when the jobs.cancel call returns
}

func newStatement(ctx context.Context, c *conn, job *bigquery.Job) *statement {
	s := &statement{c: c, job: job, cancelDone: make(chan struct{})}
	s.stopWatch = context.AfterFunc(ctx, s.cancel)
	return s
}

// cancel sends jobs.cancel, once, from a context of its own.
func (s *statement) cancel() {
	s.once.Do(func() {
		go func() {
			defer close(s.cancelDone)
			ctx, cancel := context.WithTimeout(context.Background(), cancelTimeout)
			defer cancel()
			// Nothing more can be done about a failed cancel: the job
			// ends by itself, or at its jobTimeoutMs.
			_ = s.job.Cancel(ctx)
		}()
	})
}

// finish stops watching ctx; it cancels the job when stop is set or ctx is
// already done, and then waits for the cancel to reach BigQuery, at most
// cancelWait.
func (s *statement) finish(stop bool) {
	if fired := !s.stopWatch(); fired || stop {
		s.cancel()
		t := time.NewTimer(cancelWait)
		defer t.Stop()
		select {
		case <-s.cancelDone:
		case <-t.C:
		}
	}
}

// fail finishes the statement after err, cancelling the job unless err is
// the job's own failure, and returns err.
func (s *statement) fail(err error) error {
	var qe *drivers.QueryError
	s.finish(!errors.As(err, &qe))
	return err
}

// rows streams one job's result page by page through the client's
// RowIterator, which holds one page (getQueryResults) at a time.
type rows struct {
	ctx     context.Context
	done    <-chan struct{}
	c       *conn
	st      *statement
	it      *bigquery.RowIterator
	schema  bigquery.Schema
	cols    []drivers.Column
	vals    []bigquery.Value
	primed  bool  // vals holds a row Next has not returned yet
	err     error // once set, the job is over for these rows and Next returns err
	release sync.Once
	buf     bytes.Buffer
}

// errClosed is what Next returns after Close.
var errClosed = errors.New("bigquery: Next called after Close")

func newRows(ctx context.Context, c *conn, st *statement, it *bigquery.RowIterator) *rows {
	r := &rows{ctx: ctx, done: ctx.Done(), c: c, st: st, it: it, schema: it.Schema}
	r.cols = make([]drivers.Column, len(r.schema))
	for i, f := range r.schema {
		r.cols[i] = drivers.Column{Name: f.Name, Type: columnType(f), DatabaseType: typeName(f)}
	}
	return r
}

// prime reads the first row, so that a job failing or cancelled before its
// first row fails in Query, and an empty result gives its slot back at once.
// It returns the error Query must return, if any.
func (r *rows) prime() error {
	err := r.read()
	switch {
	case err == nil:
		r.primed = true
		return nil
	case err == io.EOF:
		r.end(io.EOF, false)
		return nil
	default:
		return r.end(err, true)
	}
}

// read moves to the next row, returning io.EOF after the last, or the
// mapped error.
func (r *rows) read() error {
	select {
	case <-r.done:
		return r.c.queryError(r.ctx, r.ctx.Err())
	default:
	}
	err := r.it.Next(&r.vals)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, iterator.Done):
		return io.EOF
	default:
		return r.c.queryError(r.ctx, err)
	}
}

// end records err as the rows' last word, finishes the statement (see
// statement.fail) unless err is io.EOF, and gives back the job slot.
func (r *rows) end(err error, failed bool) error {
	r.err = err
	if failed {
		r.st.fail(err)
	} else {
		r.st.finish(err != io.EOF)
	}
	r.release.Do(func() { <-r.c.slots })
	r.vals = nil
	return err
}

// Columns describes the result's columns; callers must not modify it.
func (r *rows) Columns() []drivers.Column { return r.cols }

// Next fills dest with the next row. It returns io.EOF after the last row,
// an error wrapping ctx's error once ctx is done (the job is cancelled), a
// *drivers.QueryError when the job fails while streaming, and a plain error
// when BigQuery cannot be reached. After the first error every call returns
// the same error.
func (r *rows) Next(dest []any) error {
	if r.err != nil {
		return r.err
	}
	if len(dest) != len(r.cols) {
		return fmt.Errorf("bigquery: Next: dest has %d values, want %d", len(dest), len(r.cols))
	}
	if r.primed {
		r.primed = false
		select {
		case <-r.done:
			return r.end(r.c.queryError(r.ctx, r.ctx.Err()), true)
		default:
		}
	} else if err := r.read(); err == io.EOF {
		return r.end(io.EOF, false)
	} else if err != nil {
		return r.end(err, true)
	}
	if len(r.vals) != len(r.cols) {
		return r.end(fmt.Errorf("bigquery: a row has %d values for %d columns", len(r.vals), len(r.cols)), true)
	}
	for i, f := range r.schema {
		dest[i] = r.value(f, r.vals[i])
	}
	return nil
}

// Close cancels the job if its rows were not all read, and gives back the
// job slot. It waits for the cancel at most about a second, and is safe to
// call more than once.
func (r *rows) Close() error {
	if r.err == nil {
		r.end(errClosed, false) // cancels the job: errClosed is not io.EOF
	}
	return nil
}

// columnType maps a field to Redash's type name.
func columnType(f *bigquery.FieldSchema) drivers.ColumnType {
	if f.Repeated {
		return drivers.TypeString
	}
	switch f.Type {
	case bigquery.IntegerFieldType:
		return drivers.TypeInteger
	case bigquery.FloatFieldType, bigquery.NumericFieldType, bigquery.BigNumericFieldType:
		return drivers.TypeFloat
	case bigquery.BooleanFieldType:
		return drivers.TypeBoolean
	case bigquery.DateFieldType:
		return drivers.TypeDate
	case bigquery.DateTimeFieldType, bigquery.TimestampFieldType:
		return drivers.TypeDatetime
	default:
		return drivers.TypeString
	}
}

// typeName is f's GoogleSQL type, as INFORMATION_SCHEMA.COLUMNS writes it:
// "INT64", "NUMERIC(10, 2)", "ARRAY<STRING>", "STRUCT<a INT64, b STRING>".
func typeName(f *bigquery.FieldSchema) string {
	var t string
	switch f.Type {
	case bigquery.IntegerFieldType:
		t = "INT64"
	case bigquery.FloatFieldType:
		t = "FLOAT64"
	case bigquery.BooleanFieldType:
		t = "BOOL"
	case bigquery.RecordFieldType:
		parts := make([]string, len(f.Schema))
		for i, sub := range f.Schema {
			parts[i] = sub.Name + " " + typeName(sub)
		}
		t = "STRUCT<" + strings.Join(parts, ", ") + ">"
	case bigquery.NumericFieldType, bigquery.BigNumericFieldType:
		t = string(f.Type)
		switch {
		case f.Precision > 0 && f.Scale > 0:
			t += fmt.Sprintf("(%d, %d)", f.Precision, f.Scale)
		case f.Precision > 0:
			t += fmt.Sprintf("(%d)", f.Precision)
		}
	case bigquery.StringFieldType, bigquery.BytesFieldType:
		t = string(f.Type)
		if f.MaxLength > 0 {
			t += fmt.Sprintf("(%d)", f.MaxLength)
		}
	case bigquery.RangeFieldType:
		t = "RANGE"
		if f.RangeElementType != nil {
			t += "<" + string(f.RangeElementType.Type) + ">"
		}
	default:
		t = string(f.Type)
	}
	if f.Repeated {
		return "ARRAY<" + t + ">"
	}
	return t
}

// value converts one value from the client into the drivers package's
// types (see the package comment).
func (r *rows) value(f *bigquery.FieldSchema, v bigquery.Value) any {
	if v == nil {
		return nil
	}
	if f.Repeated || f.Type == bigquery.RecordFieldType {
		r.buf.Reset()
		appendJSON(&r.buf, f, v, false)
		return r.buf.String()
	}
	switch x := v.(type) {
	case int64, float64, bool, string, []byte:
		return x
	case *big.Rat:
		return drivers.Decimal(decimalText(f, x))
	case civil.Date:
		return time.Date(x.Year, x.Month, x.Day, 0, 0, 0, 0, time.UTC)
	case civil.DateTime:
		return dateTimeText(x)
	case time.Time:
		return x.UTC()
	case civil.Time:
		return timeText(x)
	case *bigquery.RangeValue:
		return rangeText(x)
	case fmt.Stringer: // *bigquery.IntervalValue and anything newer
		return x.String()
	default:
		return fmt.Sprint(x)
	}
}

// decimalText is x in plain decimal notation at the type's scale, without
// trailing fractional zeros: exact, as BigQuery writes it.
func decimalText(f *bigquery.FieldSchema, x *big.Rat) string {
	var s string
	if f.Type == bigquery.BigNumericFieldType {
		s = bigquery.BigNumericString(x)
	} else {
		s = bigquery.NumericString(x)
	}
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

func dateTimeText(x civil.DateTime) string {
	return time.Date(x.Date.Year, x.Date.Month, x.Date.Day, x.Time.Hour, x.Time.Minute, x.Time.Second, x.Time.Nanosecond, time.UTC).
		Format("2006-01-02T15:04:05.999999")
}

func timeText(x civil.Time) string {
	return time.Date(2000, 1, 1, x.Hour, x.Minute, x.Second, x.Nanosecond, time.UTC).Format("15:04:05.999999")
}

// rangeText writes a RANGE as BigQuery does: "[start, end)", an unbounded
// end as UNBOUNDED.
func rangeText(x *bigquery.RangeValue) string {
	end := func(v bigquery.Value) string {
		if v == nil {
			return "UNBOUNDED"
		}
		return scalarText(v)
	}
	return "[" + end(x.Start) + ", " + end(x.End) + ")"
}

// scalarText is the text of a date or time value inside JSON or a RANGE.
func scalarText(v bigquery.Value) string {
	switch x := v.(type) {
	case civil.Date:
		return x.String()
	case civil.DateTime:
		return dateTimeText(x)
	case civil.Time:
		return timeText(x)
	case time.Time:
		return x.UTC().Format("2006-01-02T15:04:05.999999Z07:00")
	default:
		return fmt.Sprint(x)
	}
}

// appendJSON writes v, a value of field f, as JSON: an ARRAY as a JSON array,
// a STRUCT as an object with its fields in order, numbers (NUMERIC exactly)
// as numbers, BYTES as base64, JSON as itself, everything else as the text
// Next would give. elem is set for an array's elements.
func appendJSON(b *bytes.Buffer, f *bigquery.FieldSchema, v bigquery.Value, elem bool) {
	if v == nil {
		b.WriteString("null")
		return
	}
	if f.Repeated && !elem {
		list, _ := v.([]bigquery.Value)
		b.WriteByte('[')
		for i, e := range list {
			if i > 0 {
				b.WriteByte(',')
			}
			appendJSON(b, f, e, true)
		}
		b.WriteByte(']')
		return
	}
	switch x := v.(type) {
	case []bigquery.Value: // a STRUCT, positionally
		b.WriteByte('{')
		for i, sub := range f.Schema {
			if i > 0 {
				b.WriteByte(',')
			}
			appendString(b, sub.Name)
			b.WriteByte(':')
			var sv bigquery.Value
			if i < len(x) {
				sv = x[i]
			}
			appendJSON(b, sub, sv, false)
		}
		b.WriteByte('}')
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		switch {
		case math.IsNaN(x):
			b.WriteString(`"NaN"`)
		case math.IsInf(x, 1):
			b.WriteString(`"Infinity"`)
		case math.IsInf(x, -1):
			b.WriteString(`"-Infinity"`)
		default:
			b.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
		}
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case *big.Rat:
		b.WriteString(decimalText(f, x))
	case []byte:
		appendString(b, base64.StdEncoding.EncodeToString(x))
	case string:
		if f.Type == bigquery.JSONFieldType && json.Valid([]byte(x)) {
			b.WriteString(x)
		} else {
			appendString(b, x)
		}
	case *bigquery.RangeValue:
		appendString(b, rangeText(x))
	case civil.Date, civil.DateTime, civil.Time, time.Time:
		appendString(b, scalarText(x))
	case fmt.Stringer:
		appendString(b, x.String())
	default:
		appendString(b, fmt.Sprint(x))
	}
}

// appendString writes s as a JSON string, without escaping <, > and &.
func appendString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)           // a string always encodes
	b.Truncate(b.Len() - 1) // Encode's newline
}
