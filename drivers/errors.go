package drivers

import (
	"errors"
	"fmt"
)

// ErrUnknownType is returned by Registry.Driver for a type no driver is
// registered under.
var ErrUnknownType = errors.New("unknown data source type")

// QueryError is a statement the warehouse rejected: a syntax error, a missing
// table, a permission error, a statement timeout. Running it again cannot
// succeed, so callers do not retry it. Message is the warehouse's own text.
type QueryError struct {
	Message string // the warehouse's message, shown to the user as is
	Code    string // the warehouse's error code (SQLSTATE and the like), if any
	Err     error  // the underlying error, if any
}

func (e *QueryError) Error() string { return e.Message }

func (e *QueryError) Unwrap() error { return e.Err }

// OptionsError reports a data source option that is missing or invalid.
type OptionsError struct {
	Field  string // the option's key
	Reason string // what is wrong with it
}

func (e *OptionsError) Error() string {
	return fmt.Sprintf("option %q: %s", e.Field, e.Reason)
}
