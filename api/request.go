package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v5"
)

// decodeBody decodes the request body as JSON into v whatever the
// Content-Type says (Redash's own tooling sends none). An empty body leaves v
// as it is when allowEmpty, and is an error otherwise.
func decodeBody(c *echo.Context, v any, allowEmpty bool) error {
	b, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return &Error{Status: http.StatusRequestEntityTooLarge, Message: "request body too large"}
		}
		return badRequest("read request body: %v", err)
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		if allowEmpty {
			return nil
		}
		return badRequest("request body is empty: send a JSON object")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return badRequest("request body is not valid JSON: %s", jsonErrorText(err))
	}
	return nil
}

// jsonErrorText describes a decoding error without Go type names.
func jsonErrorText(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Sprintf("field %q must be %s, not %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
	}
	return err.Error()
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "int64", "int32", "float64", "uint":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "map", "struct":
		return "an object"
	case "slice":
		return "an array"
	}
	return goKind
}

// parseWait reads a hybrid wait in seconds: "" or 0 means no wait.
func (s *Server) parseWait(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	max := s.cfg.MaxWait.Seconds()
	if err != nil || f < 0 || f > max {
		return 0, badRequest("wait must be a number of seconds from 0 to %g", max)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// waitParam reads wait from the query string, or else from the body's raw
// value (a number or a numeric string).
func (s *Server) waitParam(c *echo.Context, body json.RawMessage) (time.Duration, error) {
	if v := c.QueryParam("wait"); v != "" {
		return s.parseWait(v)
	}
	if len(body) == 0 || string(body) == "null" {
		return 0, nil
	}
	return s.parseWait(strings.Trim(string(body), `"`))
}

// Bounds of a list's page_size, as Redash has them.
const (
	defaultPageSize = 25
	maxPageSize     = 250
)

// parsePage reads a list's page (from 1, default 1) and page_size (1 to 250,
// default 25) query parameters, refusing others with Redash's messages.
func parsePage(c *echo.Context) (page, pageSize int, err error) {
	page, pageSize = 1, defaultPageSize
	if v := c.QueryParam("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, 0, badRequest("page must be a whole number from 1, not %q", v)
		}
		if n < 1 {
			return 0, 0, badRequest("Page is out of range.")
		}
		page = n
	}
	if v := c.QueryParam("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			return 0, 0, badRequest("Page size is out of range (1-%d).", maxPageSize)
		}
		pageSize = n
	}
	return page, pageSize, nil
}

// checkPage refuses a page past the end of count items, as Redash does
// when there are any.
func checkPage(page, pageSize, count int) error {
	if count > 0 && page > (count+pageSize-1)/pageSize {
		return badRequest("Page is out of range.")
	}
	return nil
}
