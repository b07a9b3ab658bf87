package api

import (
	"strconv"
	"time"

	"github.com/labstack/echo/v5"
)

// redashTime formats t as Redash does: UTC, milliseconds, "Z".
func redashTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// idParam parses the path parameter name as a positive integer ID.
func idParam(c *echo.Context, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, notFound("%q is not a valid id", c.Param(name))
	}
	return id, nil
}
