package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/queryd/queryd/store"
)

// unauditedRoutes are the changing routes the audit middleware leaves out:
// executions, which are audited when their job ends.
var unauditedRoutes = map[string]bool{
	"POST /api/query_results":       true,
	"POST /api/queries/:id/results": true,
}

// auditTimeout bounds the writing of one request's audit entry.
const auditTimeout = 5 * time.Second

// audit records in the audit log every request other than GET, HEAD and
// OPTIONS that an authenticated caller (a user, or a query or dashboard
// key) makes to a route of the group, once it has been answered, whatever
// the answer: refused attempts are on record too, including a key refused a
// route. The entry names the caller, the route ("POST /api/queries/:id"),
// the object (the first path segment, singular, and the :id parameter, or
// for a create the "id" of the JSON answer), the status and the request ID;
// never a body, a query string, a key, a password or data source options.
// Executions are left to the job's end (unauditedRoutes). Unknown routes and
// unauthenticated requests are not recorded.
//
// A failure to write the entry is logged at error level and does not fail
// the request, which has already been answered.
//
// audit goes on the group before authenticate, so that it sees the caller
// authenticate found even when authenticate refuses the route.
func (s *Server) audit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		method := c.Request().Method
		switch {
		case method == http.MethodGet, method == http.MethodHead, method == http.MethodOptions,
			c.RouteInfo().Method != method, unauditedRoutes[method+" "+c.Path()]:
			return next(c)
		}
		var peek *peekWriter
		if !hasParam(c, "id") {
			peek = &peekWriter{ResponseWriter: c.Response()}
			c.SetResponse(peek)
			defer c.SetResponse(peek.ResponseWriter)
		}
		err := next(c)
		k, ok := c.Get(callerKey).(caller)
		if !ok {
			return err
		}
		if err != nil {
			s.handleError(c, err) // answers now, so that the status is known
		}
		e := s.auditEntry(c, k, peek)
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), auditTimeout)
		defer cancel()
		if rerr := s.store.RecordAudit(ctx, e); rerr != nil {
			s.log.Error("record audit entry", "error", rerr, "action", e.Action, "request_id", e.RequestID)
		}
		return err
	}
}

// auditEntry describes the answered request c of caller k; peek holds the
// start of the answer when the route has no :id.
func (s *Server) auditEntry(c *echo.Context, k caller, peek *peekWriter) store.AuditEntry {
	e := store.AuditEntry{
		Action:    c.Request().Method + " " + c.Path(),
		RequestID: c.Response().Header().Get(echo.HeaderXRequestID),
	}
	switch {
	case k.queryID != 0:
		e.ActorKind, e.ActorObjectID = store.ActorQueryKey, &k.queryID
	case k.dashboardID != 0:
		e.ActorKind, e.ActorObjectID = store.ActorDashboardKey, &k.dashboardID
	default:
		e.ActorKind, e.ActorUserID = store.ActorUser, &k.user.ID
	}
	status := http.StatusOK
	if r, err := echo.UnwrapResponse(c.Response()); err == nil {
		status = r.Status
	}
	e.Outcome = strconv.Itoa(status)

	e.ObjectType = objectType(c.Path())
	e.ObjectID = c.Param("id")
	if peek != nil && status >= 200 && status < 300 &&
		strings.HasPrefix(c.Response().Header().Get(echo.HeaderContentType), echo.MIMEApplicationJSON) {
		e.ObjectID = createdID(peek.head)
	}
	switch e.ObjectType {
	case "job":
		e.JobID = e.ObjectID
	case "data_source":
		e.DataSourceID = parseID(e.ObjectID)
	}
	// Other ids of the path (a group's member, a data source of a group)
	// say what was acted on within the object.
	details := map[string]string{}
	for _, p := range c.PathValues() {
		if p.Name != "id" && strings.HasSuffix(p.Name, "id") {
			details[p.Name] = p.Value
		}
		if p.Name == "data_source_id" {
			e.DataSourceID = parseID(p.Value)
		}
	}
	if len(details) > 0 {
		e.Details, _ = json.Marshal(details)
	}
	return e
}

// objectType is what a route acts on: the first segment after /api,
// singular ("/api/data_sources/:id" → "data_source").
func objectType(route string) string {
	seg, _, _ := strings.Cut(strings.TrimPrefix(route, "/api/"), "/")
	switch {
	case strings.HasSuffix(seg, "ies"):
		return strings.TrimSuffix(seg, "ies") + "y"
	case strings.HasSuffix(seg, "ss"):
		return seg
	}
	return strings.TrimSuffix(seg, "s")
}

func hasParam(c *echo.Context, name string) bool {
	_, ok := c.PathValues().Get(name)
	return ok
}

func parseID(s string) *int64 {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return nil
	}
	return &id
}

// peekLimit is how much of an answer peekWriter keeps: enough for the
// leading "id" of any object queryd answers with.
const peekLimit = 1024

// peekWriter passes an answer through, keeping its first peekLimit bytes.
type peekWriter struct {
	http.ResponseWriter
	head []byte
}

func (w *peekWriter) Write(b []byte) (int, error) {
	if n := peekLimit - len(w.head); n > 0 {
		w.head = append(w.head, b[:min(n, len(b))]...)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets Echo and http.ResponseController reach the writer beneath.
func (w *peekWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// createdID is the top-level "id" (a number, or a short string) of the JSON
// object head starts, "" if head does not have one within it.
func createdID(head []byte) string {
	dec := json.NewDecoder(bytes.NewReader(head))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return ""
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return ""
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return ""
		}
		if key != "id" {
			continue
		}
		switch v := v.(type) {
		case json.Number:
			return v.String()
		case string:
			if len(v) <= 100 {
				return v
			}
		}
		return ""
	}
	return ""
}

// auditEntryJSON is an audit log entry as GET /api/audit_logs shows it.
type auditEntryJSON struct {
	ID    int64  `json:"id"`
	At    string `json:"at"`
	Actor struct {
		Kind     store.ActorKind `json:"kind"`
		UserID   *int64          `json:"user_id"`
		ObjectID *int64          `json:"object_id"`
	} `json:"actor"`
	Action       string          `json:"action"`
	ObjectType   string          `json:"object_type"`
	ObjectID     string          `json:"object_id"`
	DataSourceID *int64          `json:"data_source_id"`
	QueryHash    string          `json:"query_hash"`
	JobID        string          `json:"job_id"`
	Outcome      string          `json:"outcome"`
	DurationMS   *int64          `json:"duration_ms"`
	Details      json.RawMessage `json:"details"`
	RequestID    string          `json:"request_id"`
}

func newAuditEntryJSON(e store.AuditEntry) auditEntryJSON {
	out := auditEntryJSON{
		ID: e.ID, At: redashTime(e.At), Action: e.Action, ObjectType: e.ObjectType, ObjectID: e.ObjectID,
		DataSourceID: e.DataSourceID, QueryHash: e.QueryHash, JobID: e.JobID, Outcome: e.Outcome,
		DurationMS: e.DurationMS, Details: e.Details, RequestID: e.RequestID,
	}
	out.Actor.Kind, out.Actor.UserID, out.Actor.ObjectID = e.ActorKind, e.ActorUserID, e.ActorObjectID
	return out
}

// Page sizes of GET /api/audit_logs.
const (
	defaultAuditPage = 100
	maxAuditPage     = 1000
)

// listAuditLogs answers GET /api/audit_logs (admins only): the entries of
// the window fromDate–toDate (both optional, inclusive; RFC 3339 times or
// YYYY-MM-DD dates in UTC, a toDate date meaning through the end of that
// day) after the cursor fetchAfter, oldest first, size of them (default 100,
// at most 1000). "next" is the fetchAfter of the following page, null on
// the last.
func (s *Server) listAuditLogs(c *echo.Context) error {
	f, err := auditFilter(c)
	if err != nil {
		return err
	}
	size := f.Size
	f.Size++ // one more tells whether a next page exists
	entries, err := s.store.AuditLog(c.Request().Context(), f)
	if err != nil {
		return err
	}
	var next *string
	if len(entries) > size {
		entries = entries[:size]
		cursor := strconv.FormatInt(entries[size-1].ID, 10)
		next = &cursor
	}
	results := make([]auditEntryJSON, len(entries))
	for i, e := range entries {
		results[i] = newAuditEntryJSON(e)
	}
	return c.JSON(http.StatusOK, map[string]any{"results": results, "next": next})
}

// auditFilter reads the parameters of GET /api/audit_logs.
func auditFilter(c *echo.Context) (store.AuditFilter, error) {
	f := store.AuditFilter{Size: defaultAuditPage}
	var err error
	if f.From, err = auditTime(c, "fromDate", false); err != nil {
		return f, err
	}
	if f.To, err = auditTime(c, "toDate", true); err != nil {
		return f, err
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return f, badRequest("fromDate must not be after toDate")
	}
	if v := c.QueryParam("fetchAfter"); v != "" {
		f.After, err = strconv.ParseInt(v, 10, 64)
		if err != nil || f.After < 0 {
			return f, badRequest(`fetchAfter must be the "next" cursor of a previous page, a whole number; got %q`, v)
		}
	}
	if v := c.QueryParam("size"); v != "" {
		f.Size, err = strconv.Atoi(v)
		if err != nil || f.Size < 1 || f.Size > maxAuditPage {
			return f, badRequest("size must be a whole number from 1 to %d; got %q", maxAuditPage, v)
		}
	}
	return f, nil
}

// auditTime reads the time parameter name: an RFC 3339 time, or a
// YYYY-MM-DD date in UTC. As the window's end (end), it returns the first
// instant after it: after the time, or after the whole date. Absent is the
// zero time.
func auditTime(c *echo.Context, name string, end bool) (time.Time, error) {
	v := c.QueryParam(name)
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.Parse(time.DateOnly, v); err == nil {
		if end {
			d = d.AddDate(0, 0, 1)
		}
		return d, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, badRequest("%s must be a date (YYYY-MM-DD) or an RFC 3339 time (2024-05-01T12:00:00Z); got %q", name, v)
	}
	if end { // the log keeps microseconds
		t = t.Truncate(time.Microsecond).Add(time.Microsecond)
	}
	return t, nil
}
