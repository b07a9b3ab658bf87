package databricks

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// cancelPrefix and cancelSuffix frame a statement id in the SQL Statement
// Execution API's cancel endpoint.
const (
	cancelPrefix = "/api/2.0/sql/statements/"
	cancelSuffix = "/cancel"
)

// cancelTimeout bounds a CancelQuery whose ctx has no deadline.
const cancelTimeout = 30 * time.Second

// statementIDRE matches a statement id as the driver reports it: a GUID in
// its 8-4-4-4-12 hex form.
var statementIDRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// isCancelPath reports whether path is the cancel endpoint of one statement.
func isCancelPath(path string) bool {
	id, ok := strings.CutPrefix(path, cancelPrefix)
	if !ok {
		return false
	}
	id, ok = strings.CutSuffix(id, cancelSuffix)
	return ok && statementIDRE.MatchString(id)
}

// CancelQuery asks the warehouse to cancel the statement queryID (an id
// this driver reported through drivers.ReportQueryID) with the SQL
// Statement Execution API, POST /api/2.0/sql/statements/<id>/cancel, from
// any process. The API only acknowledges the request: the statement stops
// shortly after.
//
// A 2xx answer is success, and so is 404: the API answers that for a
// statement id it does not know, which is what an id whose statement ended
// long ago (or never existed) looks like, so "already ended" is not an
// error. Any other answer is an error naming the HTTP status and the API's
// error_code and message; an id that is not a GUID is an error without a
// request. No error contains the access token.
func (c *conn) CancelQuery(ctx context.Context, queryID string) error {
	if !statementIDRE.MatchString(queryID) {
		return fmt.Errorf("databricks: cancel query: %q is not a statement id", queryID)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cancelTimeout)
		defer cancel()
	}
	url := "https://" + c.opts.addr() + cancelPrefix + queryID + cancelSuffix
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return fmt.Errorf("databricks: cancel statement %s: %w", queryID, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.opts.token())
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "queryd")
	resp, err := (&http.Client{Transport: c.transport}).Do(req)
	if err != nil {
		return redact(c.opts, fmt.Errorf("databricks: cancel statement %s on %s: %w", queryID, c.opts.addr(), err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 2 || resp.StatusCode == http.StatusNotFound {
		return nil
	}
	var apiErr struct {
		ErrorCode string `json:"error_code"`
		Message   string `json:"message"`
	}
	detail := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &apiErr) == nil && (apiErr.ErrorCode != "" || apiErr.Message != "") {
		detail = strings.TrimSpace(apiErr.ErrorCode + ": " + apiErr.Message)
	}
	if len(detail) > 500 {
		detail = detail[:500] + "…"
	}
	return fmt.Errorf("databricks: cancel statement %s on %s: HTTP %s: %s",
		queryID, c.opts.addr(), resp.Status, redactText(c.opts, detail))
}
