package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/queryd/queryd/cache"
	"github.com/queryd/queryd/store"
)

// executeBody is the body of both execution endpoints.
type executeBody struct {
	DataSourceID json.RawMessage            `json:"data_source_id"`
	Query        *string                    `json:"query"`
	MaxAge       json.RawMessage            `json:"max_age"`
	Parameters   map[string]json.RawMessage `json:"parameters"`
	Wait         json.RawMessage            `json:"wait"`
	// ApplyAutoLimit adds the dialect's row limit to an ad hoc SELECT
	// without one; saved queries follow their options.apply_auto_limit.
	ApplyAutoLimit *bool `json:"apply_auto_limit"`
}

// execution is a validated request to run text on a data source.
type execution struct {
	dataSourceID int64
	queryID      *int64
	userID       int64 // who the job runs as: the caller, or a key's query owner
	text         string
	maxAge       cache.MaxAge
	wait         time.Duration
	cacheChecked bool // no fresh enough result exists: skip the lookup
	scheduled    bool // a scheduled refresh: queued behind interactive runs
}

// executeAdHoc answers POST /api/query_results.
func (s *Server) executeAdHoc(c *echo.Context) error {
	var body executeBody
	if err := decodeBody(c, &body, false); err != nil {
		return jobError(err)
	}
	if len(body.DataSourceID) == 0 || string(body.DataSourceID) == "null" {
		return jobError(badRequest("data_source_id is required: the id of the data source to run the query on"))
	}
	dsID, err := strconv.ParseInt(strings.Trim(string(body.DataSourceID), `"`), 10, 64)
	if err != nil || dsID <= 0 {
		return jobError(badRequest("data_source_id must be a positive integer, not %s", body.DataSourceID))
	}
	if body.Query == nil || strings.TrimSpace(*body.Query) == "" {
		return jobError(badRequest("query is required: the SQL to run"))
	}
	ds, err := s.store.DataSource(c.Request().Context(), dsID)
	if err != nil {
		return jobError(notFoundIf(err, "data source %d does not exist", dsID))
	}
	if err := currentCaller(c).mayRunOn(ds.ID); err != nil {
		return jobError(err)
	}
	text, err := applyParameters(*body.Query, body.Parameters)
	if err != nil {
		return jobError(err)
	}
	if body.ApplyAutoLimit != nil && *body.ApplyAutoLimit {
		text = s.types.AutoLimit(ds.Type, text)
	}
	ex, err := s.newExecution(c, body, ds.ID, nil, text)
	if err != nil {
		return jobError(err)
	}
	ex.userID = currentUser(c).ID
	return s.execute(c, ex)
}

// executeQuery answers POST /api/queries/<id>/results. An empty or absent
// body means {} (any cached result).
func (s *Server) executeQuery(c *echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return jobError(err)
	}
	var body executeBody
	if err := decodeBody(c, &body, true); err != nil {
		return jobError(err)
	}
	maxAge, err := cache.ParseMaxAge(body.MaxAge)
	if err != nil {
		return jobError(badRequest("%s", err.Error()))
	}
	// Without parameters the text to run is the stored one, so the query
	// and its cached result come in one round trip.
	var q store.Query
	var cached *store.QueryResult
	plain := len(body.Parameters) == 0 && maxAge != 0
	if plain {
		q, cached, err = s.store.QueryWithLatestResult(c.Request().Context(), id, maxAge.Duration())
	} else {
		q, err = s.store.Query(c.Request().Context(), id)
	}
	k := currentCaller(c)
	if err == nil && !k.canSeeQuery(q) {
		err = store.ErrNotFound
	}
	if err != nil {
		return jobError(notFoundIf(err, "query %d not found", id))
	}
	if err := k.mayRunSaved(q); err != nil {
		return jobError(err)
	}
	plain = plain && !strings.Contains(q.Query, "{{")
	if plain && cached != nil {
		return s.writeQueryResult(c, *cached, page{limit: -1})
	}
	wait, err := s.waitParam(c, body.Wait)
	if err != nil {
		return jobError(err)
	}
	ex, err := s.savedExecution(c.Request().Context(), k, q, body.Parameters, maxAge, paramZone)
	if err != nil {
		return jobError(err)
	}
	ex.wait = wait
	ex.cacheChecked = plain
	return s.execute(c, ex)
}

// savedExecution checks k, who can see saved query q, may run it, and returns the execution
// of its text with values applied (relative dates resolved in loc), as k's
// user or, for a query or dashboard key, as the query's owner.
func (s *Server) savedExecution(ctx context.Context, k caller, q store.Query, values map[string]json.RawMessage, maxAge cache.MaxAge, loc *time.Location) (execution, error) {
	return s.savedExecutionAt(ctx, k, q, values, maxAge, loc, s.cfg.Now())
}

// savedExecutionAt is savedExecution with relative dates resolved against
// now rather than the server's clock.
func (s *Server) savedExecutionAt(ctx context.Context, k caller, q store.Query, values map[string]json.RawMessage, maxAge cache.MaxAge, loc *time.Location, now time.Time) (execution, error) {
	if err := k.mayRunSaved(q); err != nil {
		return execution{}, err
	}
	text, err := s.applySavedParameters(ctx, k, q, values, loc, now)
	if err == nil {
		text, err = s.runText(ctx, q, text)
	}
	if err != nil {
		return execution{}, err
	}
	ex := execution{dataSourceID: *q.DataSourceID, queryID: &q.ID, text: text, maxAge: maxAge, userID: k.user.ID}
	if k.isKey() {
		ex.userID = q.UserID
	}
	return ex, nil
}

// newExecution validates the rest of an ad hoc body for running text, whose
// parameters are applied.
func (s *Server) newExecution(c *echo.Context, body executeBody, dsID int64, queryID *int64, text string) (execution, error) {
	maxAge, err := cache.ParseMaxAge(body.MaxAge)
	if err != nil {
		return execution{}, badRequest("%s", err.Error())
	}
	wait, err := s.waitParam(c, body.Wait)
	if err != nil {
		return execution{}, err
	}
	return execution{dataSourceID: dsID, queryID: queryID, text: text, maxAge: maxAge, wait: wait}, nil
}

// execute answers with a fresh enough cached result, or records a job (or
// joins the identical one in flight), enqueues it, and answers with the job —
// or with its result, if it ends within the requested wait.
func (s *Server) execute(c *echo.Context, ex execution) error {
	ctx := c.Request().Context()
	cached, job, err := s.submit(ctx, ex)
	if err != nil {
		return err
	}
	if cached != nil {
		return s.writeQueryResult(c, *cached, page{limit: -1})
	}
	job, err = s.waitForJob(ctx, job, ex.wait)
	if err != nil {
		return err
	}
	if job.Status == store.JobSucceeded && job.QueryResultID != nil {
		r, err := s.store.QueryResult(ctx, *job.QueryResultID)
		if err != nil {
			return err
		}
		return s.writeQueryResult(c, r, page{limit: -1})
	}
	return c.JSON(http.StatusOK, map[string]any{"job": s.newJobJSON(job)})
}

// submit returns a fresh enough cached result for ex, or else the job that
// will produce one: a new job, recorded then enqueued, or the identical one
// already in flight.
func (s *Server) submit(ctx context.Context, ex execution) (*store.QueryResult, store.Job, error) {
	hash := cache.Hash(ex.text)
	if ex.maxAge != 0 && !ex.cacheChecked {
		r, err := s.store.LatestQueryResult(ctx, ex.dataSourceID, hash, ex.maxAge.Duration())
		if err == nil {
			return &r, store.Job{}, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, store.Job{}, err
		}
	}
	job, created, err := s.store.CreateQueryJob(ctx, store.Job{
		Kind:         "query",
		DataSourceID: ex.dataSourceID,
		QueryID:      ex.queryID,
		QueryHash:    hash,
		QueryText:    ex.text,
		UserID:       ex.userID,
	})
	if err != nil {
		return nil, store.Job{}, err
	}
	switch {
	case created:
		// The job is recorded: if Redis is unreachable now, the reconciler
		// enqueues it later, so the client still gets its job.
		if err := s.enqueueJob(ctx, job.ID, ex.scheduled); err != nil {
			s.log.Warn("enqueue failed; the reconciler will retry", "job_id", job.ID, "error", err)
		}
	case job.Status == store.JobPending && !ex.scheduled:
		// Someone waits for a job that may sit on the scheduled queue: put
		// it on the interactive one too. Already there, this does nothing;
		// of two deliveries the first claims the job and the second finds
		// it claimed.
		if err := s.enqueueJob(ctx, job.ID, false); err != nil {
			s.log.Warn("enqueue of a joined job failed; it runs from its first queue", "job_id", job.ID, "error", err)
		}
	}
	return nil, job, nil
}

// page selects rows of a result; limit < 0 means to the end.
type page struct{ offset, limit int64 }

func (p page) whole() bool { return p.offset == 0 && p.limit < 0 }

// writeQueryResult streams {"query_result": …} with the result's data object
// read from result storage, never held whole in memory.
func (s *Server) writeQueryResult(c *echo.Context, r store.QueryResult, p page) error {
	ctx := c.Request().Context()
	var data io.ReadCloser
	if p.whole() {
		f, err := s.storage.OpenJSON(ctx, r.StorageKey)
		if err != nil {
			return fmt.Errorf("open result %d: %w", r.ID, err)
		}
		data = f
	}
	head, err := json.Marshal(struct {
		ID           int64   `json:"id"`
		QueryHash    string  `json:"query_hash"`
		Query        string  `json:"query"`
		DataSourceID int64   `json:"data_source_id"`
		Runtime      float64 `json:"runtime"`
		RetrievedAt  string  `json:"retrieved_at"`
	}{r.ID, r.QueryHash, r.Query, r.DataSourceID, r.Runtime, redashTime(r.RetrievedAt)})
	if err != nil {
		return err
	}
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	w.WriteHeader(http.StatusOK)
	// head is an object; reopen it to append "data" last.
	io.WriteString(w, `{"query_result":`)
	w.Write(head[:len(head)-1])
	io.WriteString(w, `,"data":`)
	if data != nil {
		defer data.Close()
		err = copyBuffered(w, data)
	} else {
		err = s.storage.WriteJSONPage(ctx, w, r.StorageKey, p.offset, p.limit)
	}
	if err != nil {
		return fmt.Errorf("stream result %d: %w", r.ID, err)
	}
	_, err = io.WriteString(w, "}}")
	return err
}

// copyBuffers holds the buffers result copies go through. blob.Reader's
// own WriteTo allocates 1 MiB per call, which dominates small cached hits.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyBuffered copies r to w through a pooled buffer.
func copyBuffered(w io.Writer, r io.Reader) error {
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	// Hiding r's WriteTo and w's ReadFrom makes CopyBuffer use buf.
	_, err := io.CopyBuffer(struct{ io.Writer }{w}, struct{ io.Reader }{r}, *buf)
	return err
}

// resultRef is "<id>" or "<id>.<format>".
var resultRef = regexp.MustCompile(`^([0-9]+)(?:\.([a-z]+))?$`)

// getQueryResult answers GET /api/query_results/<id>[.csv|.json] and
// /api/queries/<qid>/results/<id>[.csv|.json].
func (s *Server) getQueryResult(c *echo.Context) error {
	param := "id"
	if c.Param("rid") != "" {
		param = "rid"
	}
	m := resultRef.FindStringSubmatch(c.Param(param))
	if m == nil {
		return notFound("%q is not a valid result id", c.Param(param))
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	p, err := parseOutput(c, m[2])
	if err != nil {
		return err
	}
	var q *store.Query
	if param == "rid" {
		qid, err := idParam(c, "id")
		if err != nil {
			return err
		}
		found, err := s.store.Query(c.Request().Context(), qid)
		if err != nil {
			return notFoundIf(err, "query %d not found", qid)
		}
		q = &found
	}
	k := currentCaller(c)
	if q != nil && !k.canSeeQuery(*q) {
		return notFound("query %d not found", q.ID)
	}
	r, err := s.store.QueryResult(c.Request().Context(), id)
	if err == nil && !k.canSeeResult(r, q) {
		err = store.ErrNotFound
	}
	if err != nil {
		return notFoundIf(err, "query result %d not found", id)
	}
	// A result named by id never changes.
	c.Response().Header().Set("Cache-Control", "private,max-age=31557600")
	return s.serveResult(c, r, q, p)
}

// getLatestQueryResult answers GET /api/queries/<id>/results[.csv|.json]
// with the query's latest result.
func (s *Server) getLatestQueryResult(c *echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	format := ""
	if i := strings.LastIndexByte(c.Path(), '.'); i > strings.LastIndexByte(c.Path(), '/') {
		format = c.Path()[i+1:]
	}
	p, err := parseOutput(c, format)
	if err != nil {
		return err
	}
	k := currentCaller(c)
	q, err := s.store.Query(c.Request().Context(), id)
	if err == nil && !k.canSeeQuery(q) {
		err = store.ErrNotFound
	}
	if err != nil {
		return notFoundIf(err, "query %d not found", id)
	}
	if q.LatestQueryDataID == nil {
		return notFound("No cached result found for this query.")
	}
	r, err := s.store.QueryResult(c.Request().Context(), *q.LatestQueryDataID)
	if err == nil && !k.canSeeResult(r, &q) {
		err = store.ErrNotFound
	}
	if err != nil {
		return notFoundIf(err, "No cached result found for this query.")
	}
	return s.serveResult(c, r, &q, p)
}

// output is how to write a result: its format and the rows selected.
type output struct {
	format string // "" (the API's JSON object), "json" (the same, as a download) or "csv"
	page
}

// parseOutput validates a result's format and the limit and offset
// parameters.
func parseOutput(c *echo.Context, format string) (output, error) {
	if format != "" && format != "json" && format != "csv" {
		return output{}, badRequest("unsupported result format %q: use csv or json", format)
	}
	p := page{limit: -1}
	for _, f := range []struct {
		name string
		dst  *int64
	}{{"limit", &p.limit}, {"offset", &p.offset}} {
		v := c.QueryParam(f.name)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return output{}, badRequest("%s must be a non-negative integer, not %q", f.name, v)
		}
		*f.dst = n
	}
	if format == "csv" && !p.whole() {
		return output{}, badRequest("limit and offset apply to JSON results; CSV downloads are whole")
	}
	return output{format: format, page: p}, nil
}

// serveResult writes r as o says.
func (s *Server) serveResult(c *echo.Context, r store.QueryResult, q *store.Query, o output) error {
	p := o.page
	switch o.format {
	case "":
		return s.writeQueryResult(c, r, p)
	case "json":
		c.Response().Header().Set(echo.HeaderContentDisposition, attachment(r, q, "json"))
		return s.writeQueryResult(c, r, p)
	case "csv":
		f, err := s.storage.OpenCSV(c.Request().Context(), r.StorageKey)
		if err != nil {
			return fmt.Errorf("open result %d: %w", r.ID, err)
		}
		defer f.Close()
		h := c.Response().Header()
		h.Set(echo.HeaderContentType, "text/csv; charset=UTF-8")
		h.Set(echo.HeaderContentDisposition, attachment(r, q, "csv"))
		http.ServeContent(c.Response(), c.Request(), "", f.ModTime(), f)
		return nil
	}
	return fmt.Errorf("unhandled result format %q", o.format)
}

// unsafeFilename matches what Redash strips from download names.
var unsafeFilename = regexp.MustCompile(`[<>:"\\/|?*\s]+`)

// attachment is the Content-Disposition of a download: the query's name (or
// id), else the result id, and the day it was retrieved, as Redash names it.
func attachment(r store.QueryResult, q *store.Query, ext string) string {
	name := strconv.FormatInt(r.ID, 10)
	if q != nil {
		name = strings.Trim(unsafeFilename.ReplaceAllString(q.Name, "_"), "_")
		if name == "" || !isASCII(name) {
			name = strconv.FormatInt(q.ID, 10)
		}
	}
	return fmt.Sprintf(`attachment; filename="%s_%s.%s"`, name, r.RetrievedAt.UTC().Format("2006_01_02"), ext)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
