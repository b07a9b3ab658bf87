package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/queryd/queryd/store"
)

// Error is an error the client can act on: its status and message are sent
// as they are.
type Error struct {
	Status  int
	Message string
	// Job marks errors of the execution endpoints, which Redash clients read
	// from {"job": {"status": 4, "error": …}}; the body carries both shapes.
	Job bool
}

func (e *Error) Error() string { return e.Message }

func badRequest(format string, args ...any) error {
	return &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &Error{Status: http.StatusNotFound, Message: fmt.Sprintf(format, args...)}
}

func forbidden(format string, args ...any) error {
	return &Error{Status: http.StatusForbidden, Message: fmt.Sprintf(format, args...)}
}

// jobError marks err, if it is an *Error, as an execution error.
func jobError(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return &Error{Status: e.Status, Message: e.Message, Job: true}
	}
	return err
}

// errorHandledKey marks a request whose error has been answered.
const errorHandledKey = "queryd.error_handled"

// handleError is the one place errors become responses: *Error as it says,
// store.ErrNotFound 404, store.ErrConflict 409, Echo's own errors (unknown
// route, body too large, method not allowed) with their status, and anything
// else 500 "internal error" with its cause logged under the request ID.
func (s *Server) handleError(c *echo.Context, err error) {
	if c.Get(errorHandledKey) != nil {
		return // the request logger handed it over already
	}
	c.Set(errorHandledKey, true)
	if r, uerr := echo.UnwrapResponse(c.Response()); uerr == nil && r.Committed {
		s.log.Error("request failed after the response started", "error", err,
			"request_id", c.Response().Header().Get(echo.HeaderXRequestID))
		return
	}
	status, msg, job := http.StatusInternalServerError, "internal error", false
	var apiErr *Error
	var sc echo.HTTPStatusCoder
	switch {
	case errors.As(err, &apiErr):
		status, msg, job = apiErr.Status, apiErr.Message, apiErr.Job
	case errors.Is(err, store.ErrNotFound):
		status, msg = http.StatusNotFound, "not found"
	case errors.Is(err, store.ErrConflict):
		status, msg = http.StatusConflict, "conflict"
	case errors.As(err, &sc) && sc.StatusCode() < 500:
		status, msg = sc.StatusCode(), http.StatusText(sc.StatusCode())
	default:
		s.log.Error("request failed", "error", err, "method", c.Request().Method,
			"path", c.Request().URL.Path, "request_id", c.Response().Header().Get(echo.HeaderXRequestID))
	}
	body := map[string]any{"message": msg}
	if job {
		body["job"] = map[string]any{"status": int(store.JobFailed), "error": msg}
	}
	if c.Request().Method == http.MethodHead {
		err = c.NoContent(status)
	} else {
		err = c.JSON(status, body)
	}
	if err != nil {
		s.log.Error("write error response", "error", err)
	}
}

// notFoundIf turns store.ErrNotFound into a 404 with a message, and passes
// other errors on.
func notFoundIf(err error, format string, args ...any) error {
	if errors.Is(err, store.ErrNotFound) {
		return notFound(format, args...)
	}
	return err
}
