package api

import (
	"strconv"
	"strings"

	"github.com/labstack/echo/v5"
)

// Bounds of Redash's paginated lists.
const (
	defaultPageSize = 25
	maxPageSize     = 250
	// maxPage keeps offsets far from overflowing.
	maxPage = 1_000_000_000
)

// pageRequest is the page of a list a request asks for.
type pageRequest struct {
	page, size int
}

// parsePageRequest reads "page" (from 1, default 1) and "page_size" (1 to
// 250, default 25), refusing anything else with 400 in Redash's words where
// Redash has some.
func parsePageRequest(c *echo.Context) (pageRequest, error) {
	p := pageRequest{page: 1, size: defaultPageSize}
	if v := c.QueryParam("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil && !isInteger(v) {
			return pageRequest{}, badRequest("page must be a whole number from 1, not %q.", v)
		}
		if err != nil || n < 1 || n > maxPage {
			return pageRequest{}, badRequest("Page is out of range. Pages start at 1.")
		}
		p.page = n
	}
	if v := c.QueryParam("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return pageRequest{}, badRequest("Page size is out of range (1-%d): page_size must be a whole number, not %q.", maxPageSize, v)
		}
		if n < 1 || n > maxPageSize {
			return pageRequest{}, badRequest("Page size is out of range (1-%d).", maxPageSize)
		}
		p.size = n
	}
	return p, nil
}

// check refuses a page past the last of count items; any page of none is
// fine (and empty), as in Redash.
func (p pageRequest) check(count int) error {
	if count == 0 || (p.page-1)*p.size < count {
		return nil
	}
	last := (count + p.size - 1) / p.size
	return badRequest("Page is out of range. With %d a page there are pages 1 to %d.", p.size, last)
}

// pageJSON is a page of a list: Redash's {count, page, page_size, results}.
type pageJSON[T any] struct {
	Count    int `json:"count"`
	Page     int `json:"page"`
	PageSize int `json:"page_size"`
	Results  []T `json:"results"`
}

// isInteger reports whether v is an optionally signed run of digits, of
// any length.
func isInteger(v string) bool {
	v = strings.TrimPrefix(strings.TrimPrefix(v, "-"), "+")
	return v != "" && strings.Trim(v, "0123456789") == ""
}
