package drivertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/queryd/queryd/drivers"
)

// Fake is an in-memory driver. Its statements (case-insensitive, surrounding
// whitespace ignored; "--" starts a comment that runs to the end of the text):
//
//	"rows N"        N rows of columns n integer, label string, score float,
//	                ok boolean, day date, at datetime, amount float (values
//	                drivers.Decimal), computed from n = 1..N:
//	                n, "row n", n/4, n is even, 2024-01-01 + (n-1)%1000 days,
//	                2024-01-01T00:00:00Z + n seconds, n×1.25 with two decimals.
//	                Rows are produced as they are read, so N may be huge.
//	"sleep DUR"     one row (slept string "DUR") after time.Duration DUR,
//	                returning an error wrapping ctx's error early when ctx is
//	                done
//	"fail MESSAGE"  *drivers.QueryError{Message: MESSAGE}
//	"types"         the Types statement of FakeSuite; "empty" likewise
//	anything else   *drivers.QueryError{Message: `syntax error at or near "<first word>"`}
//
// A statement is running (see Running) from Query until its Rows reach the
// end, fail, are closed, or its ctx is done; Next then returns an error
// wrapping ctx's error. Query arguments are ignored.
//
// Every statement that starts running ("rows", "sleep", "types", "empty")
// reports the query id "fake-<n>" (drivers.ReportQueryID), n counting from 1
// per Fake. CancelQuery on any Conn of the same Fake stops the running
// statement with that id: its Query or Next returns
// *drivers.QueryError{Message: "canceling statement due to user request"}.
//
// Open accepts any JSON object; option "fail_open": true makes Open fail with
// a plain error, as a refused connection would. A Fake and its Conns are safe
// for concurrent use; the Conns also implement drivers.Pinger,
// drivers.Canceler and drivers.Inspector, whose Schema is FakeSchemaTable.
type Fake struct {
	executions atomic.Int64

	mu      sync.Mutex
	running map[int64]*fakeStatement
	nextID  int64
}

var (
	_ drivers.Driver    = (*Fake)(nil)
	_ drivers.Pinger    = (*fakeConn)(nil)
	_ drivers.Canceler  = (*fakeConn)(nil)
	_ drivers.Inspector = (*fakeConn)(nil)
)

// NewFake returns a Fake with no statements run.
func NewFake() *Fake {
	return &Fake{running: make(map[int64]*fakeStatement)}
}

// errFailOpen is what Open returns for {"fail_open": true}.
var errFailOpen = errors.New("drivertest: fake connection refused")

// Open returns a Conn on f. It returns an *drivers.OptionsError when config
// is not a JSON object or fail_open is not a boolean, a plain error when
// fail_open is true, and ctx's error when ctx is done.
func (f *Fake) Open(ctx context.Context, config json.RawMessage) (drivers.Conn, error) {
	if len(config) == 0 {
		config = json.RawMessage("{}")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(config, &obj); err != nil || obj == nil {
		return nil, &drivers.OptionsError{Field: "options", Reason: "must be a JSON object"}
	}
	var opts struct {
		FailOpen bool `json:"fail_open"`
	}
	if err := json.Unmarshal(config, &opts); err != nil {
		return nil, &drivers.OptionsError{Field: "fail_open", Reason: "must be true or false"}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("drivertest: open: %w", err)
	}
	if opts.FailOpen {
		return nil, errFailOpen
	}
	return &fakeConn{f: f}, nil
}

// Executions reports how many statements were started via Query on any of
// f's Conns, whatever their outcome.
func (f *Fake) Executions() int64 { return f.executions.Load() }

// Running reports whether a running statement's text contains marker.
func (f *Fake) Running(marker string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, st := range f.running {
		if st.ctx.Err() == nil && strings.Contains(st.text, marker) {
			return true
		}
	}
	return false
}

// fakeStatement is a statement that has started: it is in Fake.running until
// stop is called, its caller's ctx is done or it is cancelled by id.
type fakeStatement struct {
	ctx    context.Context // the caller's ctx, also done when cancelled by id
	cancel context.CancelCauseFunc
	text   string
	stop   func() // safe to call more than once
}

// errFakeCancelledByID is the cause of a statement's ctx when CancelQuery
// stopped it.
var errFakeCancelledByID = errors.New("drivertest: cancelled by query id")

// start registers sql as running, reports its query id and returns it.
func (f *Fake) start(ctx context.Context, sql string) *fakeStatement {
	sctx, cancel := context.WithCancelCause(ctx)
	st := &fakeStatement{ctx: sctx, cancel: cancel, text: sql}
	f.mu.Lock()
	f.nextID++
	id := f.nextID
	f.running[id] = st
	f.mu.Unlock()
	remove := func() {
		f.mu.Lock()
		delete(f.running, id)
		f.mu.Unlock()
	}
	unwatch := context.AfterFunc(sctx, remove)
	st.stop = func() {
		unwatch()
		remove()
		cancel(nil)
	}
	drivers.ReportQueryID(ctx, fakeQueryIDPrefix+strconv.FormatInt(id, 10))
	return st
}

// interrupted is the error of a statement whose ctx is done: a
// *drivers.QueryError when CancelQuery stopped it, otherwise an error
// wrapping the caller's ctx error, described by what.
func (st *fakeStatement) interrupted(what string) error {
	if errors.Is(context.Cause(st.ctx), errFakeCancelledByID) {
		return &drivers.QueryError{Message: "canceling statement due to user request", Err: errFakeCancelledByID}
	}
	return fmt.Errorf("drivertest: %s: %w", what, st.ctx.Err())
}

// fakeQueryIDPrefix starts every query id the Fake reports.
const fakeQueryIDPrefix = "fake-"

// cancelQuery stops the running statement with query id, if any.
func (f *Fake) cancelQuery(id string) error {
	n, err := strconv.ParseInt(strings.TrimPrefix(id, fakeQueryIDPrefix), 10, 64)
	if err != nil || !strings.HasPrefix(id, fakeQueryIDPrefix) {
		return fmt.Errorf("drivertest: malformed query id %q", id)
	}
	f.mu.Lock()
	st := f.running[n]
	f.mu.Unlock()
	if st != nil {
		st.cancel(errFakeCancelledByID)
	}
	return nil
}

// Columns of the fake's statements.
var (
	fakeRowsCols = []drivers.Column{
		{Name: "n", Type: drivers.TypeInteger, DatabaseType: "INT64"},
		{Name: "label", Type: drivers.TypeString, DatabaseType: "STRING"},
		{Name: "score", Type: drivers.TypeFloat, DatabaseType: "FLOAT64"},
		{Name: "ok", Type: drivers.TypeBoolean, DatabaseType: "BOOL"},
		{Name: "day", Type: drivers.TypeDate, DatabaseType: "DATE"},
		{Name: "at", Type: drivers.TypeDatetime, DatabaseType: "TIMESTAMP"},
		{Name: "amount", Type: drivers.TypeFloat, DatabaseType: "NUMERIC"},
	}
	fakeSleepCols = []drivers.Column{
		{Name: "slept", Type: drivers.TypeString, DatabaseType: "STRING"},
	}
	fakeTypesCols = []drivers.Column{
		{Name: "i", Type: drivers.TypeInteger, DatabaseType: "INT64"},
		{Name: "f", Type: drivers.TypeFloat, DatabaseType: "FLOAT64"},
		{Name: "d", Type: drivers.TypeFloat, DatabaseType: "NUMERIC"},
		{Name: "b", Type: drivers.TypeBoolean, DatabaseType: "BOOL"},
		{Name: "s", Type: drivers.TypeString, DatabaseType: "STRING"},
		{Name: "day", Type: drivers.TypeDate, DatabaseType: "DATE"},
		{Name: "at", Type: drivers.TypeDatetime, DatabaseType: "TIMESTAMP"},
		{Name: "raw", Type: drivers.TypeString, DatabaseType: "BYTES"},
	}
	fakeEmptyCols = []drivers.Column{
		{Name: "n", Type: drivers.TypeInteger, DatabaseType: "INT64"},
		{Name: "label", Type: drivers.TypeString, DatabaseType: "STRING"},
	}
)

// FakeSchemaTable returns the one table a Fake's Schema reports: main.numbers,
// with the columns of "rows N" typed as their DatabaseType.
func FakeSchemaTable() drivers.Table {
	t := drivers.Table{Schema: "main", Name: "numbers", Columns: make([]drivers.TableColumn, len(fakeRowsCols))}
	for i, c := range fakeRowsCols {
		t.Columns[i] = drivers.TableColumn{Name: c.Name, Type: c.DatabaseType}
	}
	return t
}

// fakeTypesRow returns the first row of "types"; each call returns fresh values.
func fakeTypesRow() []any {
	return []any{
		int64(-42),
		2.5,
		drivers.Decimal("12345678901234567890.123456789"),
		true,
		"héllo, wörld",
		time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 2, 29, 13, 14, 15, 123456000, time.UTC),
		[]byte{0, 1, 0xfe, 0xff},
	}
}

var fakeEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// fakeRow fills dest with row n of "rows N".
func fakeRow(dest []any, n int64) {
	cents := n * 125
	dest[0] = n
	dest[1] = "row " + strconv.FormatInt(n, 10)
	dest[2] = float64(n) / 4
	dest[3] = n%2 == 0
	dest[4] = fakeEpoch.AddDate(0, 0, int((n-1)%1000))
	dest[5] = fakeEpoch.Add(time.Duration(n) * time.Second)
	dest[6] = drivers.Decimal(fmt.Sprintf("%d.%02d", cents/100, cents%100))
}

// FakeSuite returns the Suite that runs the conformance tests against f.
func FakeSuite(f *Fake) Suite {
	schema := FakeSchemaTable()
	return Suite{
		Open: func(t testing.TB) drivers.Conn {
			t.Helper()
			conn, err := f.Open(context.Background(), json.RawMessage(`{}`))
			if err != nil {
				t.Fatalf("Fake.Open({}) error = %v, want nil", err)
			}
			t.Cleanup(func() { conn.Close() })
			return conn
		},
		Types:     "types",
		TypesCols: fakeTypesCols,
		TypesRow:  fakeTypesRow(),
		Series:    func(n int) string { return fmt.Sprintf("rows %d", n) },
		Empty:     "empty",
		EmptyCols: fakeEmptyCols,
		Sleep: func(d time.Duration, marker string) string {
			return fmt.Sprintf("sleep %s -- %s", d, marker)
		},
		Running: func(_ context.Context, marker string) (bool, error) {
			return f.Running(marker), nil
		},
		Bad:            "selec 1",
		BadMessage:     `syntax error at or near "selec"`,
		SchemaTable:    &schema,
		ReportsQueryID: true,
	}
}

// fakeConn is a Conn on a Fake.
type fakeConn struct {
	f      *Fake
	closed atomic.Bool
}

var errFakeClosed = errors.New("drivertest: conn is closed")

// Query runs one of the Fake's statements (see Fake).
func (c *fakeConn) Query(ctx context.Context, sql string, _ ...any) (drivers.Rows, error) {
	if c.closed.Load() {
		return nil, errFakeClosed
	}
	c.f.executions.Add(1)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("drivertest: query: %w", err)
	}
	text := sql
	if i := strings.Index(text, "--"); i >= 0 {
		text = text[:i]
	}
	words := strings.Fields(text)
	if len(words) == 0 {
		return nil, &drivers.QueryError{Message: "syntax error at end of input"}
	}
	syntaxError := func(word string) error {
		return &drivers.QueryError{Message: fmt.Sprintf("syntax error at or near %q", word)}
	}
	switch verb := strings.ToLower(words[0]); {
	case verb == "rows" && len(words) == 2:
		n, err := strconv.ParseInt(words[1], 10, 64)
		if err != nil || n < 0 {
			return nil, syntaxError(words[1])
		}
		return c.rows(c.f.start(ctx, sql), fakeRowsCols, func(dest []any, i int64) bool {
			if i > n {
				return false
			}
			fakeRow(dest, i)
			return true
		}), nil
	case verb == "sleep" && len(words) == 2:
		d, err := time.ParseDuration(words[1])
		if err != nil {
			return nil, syntaxError(words[1])
		}
		st := c.f.start(ctx, sql)
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-st.ctx.Done():
			st.stop()
			return nil, st.interrupted("sleep interrupted")
		case <-t.C:
		}
		slept := words[1]
		return c.rows(st, fakeSleepCols, func(dest []any, i int64) bool {
			dest[0] = slept
			return i == 1
		}), nil
	case verb == "fail" && len(words) > 1:
		msg := strings.TrimSpace(text)[len(words[0]):]
		return nil, &drivers.QueryError{Message: strings.TrimSpace(msg)}
	case verb == "types" && len(words) == 1:
		return c.rows(c.f.start(ctx, sql), fakeTypesCols, func(dest []any, i int64) bool {
			switch i {
			case 1:
				copy(dest, fakeTypesRow())
			case 2:
				clear(dest)
			default:
				return false
			}
			return true
		}), nil
	case verb == "empty" && len(words) == 1:
		return c.rows(c.f.start(ctx, sql), fakeEmptyCols, func([]any, int64) bool { return false }), nil
	default:
		return nil, syntaxError(words[0])
	}
}

// rows returns the Rows of st, which call row with 1, 2, … until it reports
// false.
func (c *fakeConn) rows(st *fakeStatement, cols []drivers.Column, row func(dest []any, i int64) bool) *fakeRows {
	return &fakeRows{st: st, cols: slices.Clone(cols), row: row}
}

// CancelQuery stops the running statement of c's Fake whose query id is id
// (see Fake). An id of no running statement is not an error; an id the Fake
// never reports is.
func (c *fakeConn) CancelQuery(ctx context.Context, id string) error {
	if c.closed.Load() {
		return errFakeClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("drivertest: cancel query: %w", err)
	}
	return c.f.cancelQuery(id)
}

// Schema returns FakeSchemaTable alone.
func (c *fakeConn) Schema(ctx context.Context) ([]drivers.Table, error) {
	if c.closed.Load() {
		return nil, errFakeClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("drivertest: schema: %w", err)
	}
	return []drivers.Table{FakeSchemaTable()}, nil
}

// Ping reports whether c is open; it returns ctx's error when ctx is done.
func (c *fakeConn) Ping(ctx context.Context) error {
	if c.closed.Load() {
		return errFakeClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("drivertest: ping: %w", err)
	}
	return nil
}

// Close marks c closed; later Query and Ping calls fail. Rows already
// returned keep working.
func (c *fakeConn) Close() error {
	c.closed.Store(true)
	return nil
}

// fakeRows streams the rows of one fake statement.
type fakeRows struct {
	st   *fakeStatement
	cols []drivers.Column
	row  func(dest []any, i int64) bool
	i    int64
	err  error // set once the statement is over; returned by every later Next
}

var errFakeRowsClosed = errors.New("drivertest: Next called after Close")

func (r *fakeRows) Columns() []drivers.Column { return r.cols }

func (r *fakeRows) Next(dest []any) error {
	if r.err != nil {
		return r.err
	}
	if len(dest) != len(r.cols) {
		return fmt.Errorf("drivertest: Next: dest has %d values, want %d", len(dest), len(r.cols))
	}
	if r.st.ctx.Err() != nil {
		return r.finish(r.st.interrupted("query cancelled"))
	}
	r.i++
	if !r.row(dest, r.i) {
		return r.finish(io.EOF)
	}
	return nil
}

func (r *fakeRows) Close() error {
	if r.err == nil {
		r.finish(errFakeRowsClosed)
	}
	return nil
}

// finish ends the statement and makes err the result of every later Next.
func (r *fakeRows) finish(err error) error {
	r.err = err
	r.st.stop()
	return err
}
