// Package drivers defines the contract between queryd and the warehouses it
// runs SQL on: a Driver opens a Conn from a data source's options, a Conn runs
// a statement and returns Rows, and Rows stream typed values one row at a time.
//
// The shape follows database/sql/driver: three small interfaces, optional
// capabilities as separate interfaces found by type assertion, and a Registry
// of drivers by name that main builds with explicit Register calls.
//
// Values a driver hands out through Rows.Next are one of:
//
//	nil           SQL NULL
//	bool          boolean
//	int64         integer types
//	float64       floating-point types
//	Decimal       exact numerics (NUMERIC, DECIMAL, FIXED), as decimal text
//	string        text, and anything the driver renders as text (naive
//	              timestamps as "2006-01-02T15:04:05.999999", intervals, JSON)
//	[]byte        binary data
//	time.Time     dates (column type TypeDate) and zoned timestamps
//	              (column type TypeDatetime); the zone is kept
//
// Drivers read configuration only from what Open is given, never from the
// environment.
package drivers

import (
	"context"
	"encoding/json"
)

// Driver opens connections to one kind of warehouse.
type Driver interface {
	// Open validates config (the data source's options as stored) and returns
	// a Conn. A Conn may hold a pool; callers keep one Conn per data source and
	// reuse it. Open returns an *OptionsError when config is invalid.
	Open(ctx context.Context, config json.RawMessage) (Conn, error)
}

// Conn is an open handle on one data source. It is safe for concurrent use.
type Conn interface {
	// Query runs sql and returns its rows. It must return when ctx is done,
	// and cancelling ctx — before or while rows are read — must stop the
	// statement inside the warehouse. A statement the warehouse rejects is
	// reported as a *QueryError carrying the warehouse's own message.
	Query(ctx context.Context, sql string, args ...any) (Rows, error)
	// Close releases every resource the Conn holds.
	Close() error
}

// Rows streams a statement's result. It is not safe for concurrent use.
type Rows interface {
	// Columns describes the result's columns; it is valid before the first
	// Next and does not change.
	Columns() []Column
	// Next fills dest (len(dest) == len(Columns())) with the next row's values
	// (see the package comment for their types). It returns io.EOF after the
	// last row, and a *QueryError or ctx's error if the statement fails or is
	// cancelled while streaming.
	Next(dest []any) error
	// Close stops the statement if it is still running and releases the rows.
	// It is safe to call more than once.
	Close() error
}

// Column describes one result column.
type Column struct {
	// Name is the column's name as the warehouse reports it.
	Name string `json:"name"`
	// Type is the Redash type name the column's values map to.
	Type ColumnType `json:"type"`
	// DatabaseType is the warehouse's own type name (e.g. "int8", "numeric").
	DatabaseType string `json:"-"`
}

// ColumnType is one of Redash's six column type names.
type ColumnType string

// Redash's column type names.
const (
	TypeInteger  ColumnType = "integer"
	TypeFloat    ColumnType = "float"
	TypeBoolean  ColumnType = "boolean"
	TypeString   ColumnType = "string"
	TypeDatetime ColumnType = "datetime"
	TypeDate     ColumnType = "date"
)

// Decimal is an exact decimal number in plain decimal notation, e.g.
// "-12.3400". It is never rounded through float64.
type Decimal string

// Pinger is implemented by connections that can check the warehouse is
// reachable and the credentials work, for "test connection".
type Pinger interface {
	Ping(ctx context.Context) error
}

// Configurer is implemented by drivers that can check options without
// connecting and name the option fields that hold secrets.
type Configurer interface {
	// ValidateOptions returns an *OptionsError naming the bad field, or nil.
	ValidateOptions(config json.RawMessage) error
	// SecretOptions lists the option keys whose values must never be shown
	// (passwords, tokens, private keys).
	SecretOptions() []string
}
