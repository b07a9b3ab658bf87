package drivers

import (
	"errors"
	"fmt"
	"strings"
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

// Redact returns err with every secret (empty ones are skipped) cut out of
// its text, and out of the Message of a *QueryError it carries, which users
// are shown. errors.Is and errors.As still see err's chain. It returns err
// itself when no secret appears. Drivers use it as a second line of defence
// around their client libraries' errors.
func Redact(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	clean := func(s string) string {
		for _, secret := range secrets {
			if secret != "" {
				s = strings.ReplaceAll(s, secret, "[redacted]")
			}
		}
		return s
	}
	msg := clean(err.Error())
	var qe *QueryError
	hasQE := errors.As(err, &qe)
	if msg == err.Error() && (!hasQE || clean(qe.Message) == qe.Message) {
		return err
	}
	r := &redactedError{msg: msg, err: err}
	if hasQE {
		return &QueryError{Message: clean(qe.Message), Code: qe.Code, Err: r}
	}
	return r
}

// redactedError is an error whose text had secrets cut out.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
