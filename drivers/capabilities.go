package drivers

import (
	"context"
	"strings"
)

// Inspector is implemented by connections that can describe the warehouse's
// schema, for schema sync.
type Inspector interface {
	// Schema returns the tables and views the connection's user can see,
	// sorted by schema and name, each with its columns in table order.
	Schema(ctx context.Context) ([]Table, error)
}

// Table is a table or view and its columns.
type Table struct {
	Schema  string        `json:"schema"`
	Name    string        `json:"name"`
	Columns []TableColumn `json:"columns"`
}

// TableColumn is a column as the warehouse names and types it.
type TableColumn struct {
	Name string `json:"name"`
	Type string `json:"type"` // the warehouse's own type name, e.g. "NUMBER(38,0)"
}

// Canceler is implemented by connections that can cancel a statement by the
// warehouse's own query id (see ReportQueryID) from any process: the API
// node that receives the cancel, or the reconciler after a worker died.
type Canceler interface {
	// CancelQuery asks the warehouse to stop queryID. A statement that has
	// already ended is not an error.
	CancelQuery(ctx context.Context, queryID string) error
}

// Dialecter is implemented by drivers whose SQL dialect the engine needs to
// know when it writes SQL itself (auto-limit, quoting).
type Dialecter interface {
	Dialect() Dialect
}

// Dialect describes a warehouse's SQL where queryd writes some of it.
type Dialect struct {
	// TopLimit is true where a row limit is "SELECT TOP n …" (SQL Server)
	// rather than "… LIMIT n".
	TopLimit bool
	// QuoteOpen and QuoteClose delimit identifiers: `"` and `"` (ANSI),
	// "`" and "`" (MySQL, BigQuery, Databricks), "[" and "]" (SQL Server).
	QuoteOpen, QuoteClose string
	// StatementTimeout says how the driver applies its statement_timeout
	// option, for documentation and the data source form.
	StatementTimeout string
	// DefaultConcurrency is how many statements queryd runs at once on one
	// data source of this kind unless its options say otherwise.
	DefaultConcurrency int
}

// QuoteIdentifier quotes name for d, doubling any closing quote inside it.
func (d Dialect) QuoteIdentifier(name string) string {
	return d.QuoteOpen + strings.ReplaceAll(name, d.QuoteClose, d.QuoteClose+d.QuoteClose) + d.QuoteClose
}

// ANSI is the dialect of drivers that do not implement Dialecter.
var ANSI = Dialect{QuoteOpen: `"`, QuoteClose: `"`, StatementTimeout: "not supported", DefaultConcurrency: 5}

type ctxKey int

const (
	queryIDKey ctxKey = iota
	jobIDKey
)

// WithQueryIDFunc returns a context under which a driver reports the
// warehouse's own id of the statement it runs (a Snowflake query id, a
// BigQuery job id, a MySQL connection id…) by calling fn, as soon as it
// knows it, so that a cancel can reach the statement from any process.
func WithQueryIDFunc(ctx context.Context, fn func(queryID string)) context.Context {
	return context.WithValue(ctx, queryIDKey, fn)
}

// ReportQueryID passes queryID to the function set by WithQueryIDFunc, if
// any. Drivers call it; it is cheap and safe without a function.
func ReportQueryID(ctx context.Context, queryID string) {
	if fn, ok := ctx.Value(queryIDKey).(func(string)); ok && fn != nil {
		fn(queryID)
	}
}

// WithJobID returns a context carrying queryd's job id, which drivers may use
// to make a resubmission after a crash idempotent (BigQuery job ids).
func WithJobID(ctx context.Context, jobID string) context.Context {
	return context.WithValue(ctx, jobIDKey, jobID)
}

// JobID returns the job id set by WithJobID, or "".
func JobID(ctx context.Context) string {
	id, _ := ctx.Value(jobIDKey).(string)
	return id
}

// DialectOf returns d's Dialect, or ANSI when it does not declare one.
func DialectOf(d Driver) Dialect {
	if dd, ok := d.(Dialecter); ok {
		return dd.Dialect()
	}
	return ANSI
}
