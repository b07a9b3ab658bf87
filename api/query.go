package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/queryd/queryd/cache"
	"github.com/queryd/queryd/store"
)

// queryJSON is a saved query as the API shows it: Redash's serialize_query.
type queryJSON struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Query       string `json:"query"`
	QueryHash   string `json:"query_hash"`
	// Schedule has every key of a schedule (see store.QuerySchedule), or is
	// null.
	Schedule json.RawMessage `json:"schedule"`
	// APIKey is shown only to those who may edit the query (see queryFor);
	// null to everyone else.
	APIKey            *string         `json:"api_key"`
	IsArchived        bool            `json:"is_archived"`
	IsDraft           bool            `json:"is_draft"`
	DataSourceID      *int64          `json:"data_source_id"`
	LatestQueryDataID *int64          `json:"latest_query_data_id"`
	Options           json.RawMessage `json:"options"`
	Version           int             `json:"version"`
	Tags              []string        `json:"tags"`
	// IsSafe is false when running the query splices raw text into its SQL
	// (see paramSchema.isSafe): only users with full access to its data
	// source may run it, never view-only groups nor query or dashboard keys.
	IsSafe         bool     `json:"is_safe"`
	User           userRef  `json:"user"`
	UserID         int64    `json:"user_id"` // User.ID, for older clients
	LastModifiedBy *userRef `json:"last_modified_by"`
	// ScheduleFailures counts the scheduled runs that failed in a row.
	ScheduleFailures int `json:"schedule_failures"`
	// ScheduleNextRunAt is queryd's, not Redash's: when the next scheduled
	// run is due, counting the back-off after failures; in the past while a
	// due run waits for the scheduler's next tick. Null when the query is
	// not scheduled (no schedule, archived, no data source) or its until has
	// passed.
	ScheduleNextRunAt *string `json:"schedule_next_run_at"`
	// ScheduleLastRunAt is when the last scheduled run started, null if none
	// did.
	ScheduleLastRunAt *string `json:"schedule_last_run_at"`
	CreatedAt         string  `json:"created_at"`
	UpdatedAt         string  `json:"updated_at"`
}

// newQueryJSON shows q without its API key; see queryFor.
func newQueryJSON(q store.Query) queryJSON {
	options, schema, err := parseQueryOptions(q.Options)
	if err != nil { // validated on write; show what is stored, as unsafe
		options = q.Options
	}
	tags := q.Tags
	if tags == nil {
		tags = []string{}
	}
	var editor *userRef
	if u := q.LastModifiedBy; u != nil {
		editor = &userRef{ID: u.ID, Name: u.Name, Email: u.Email}
	}
	return queryJSON{
		ID: q.ID, Name: q.Name, Description: q.Description, Query: q.Query, QueryHash: q.QueryHash,
		Schedule: scheduleJSON(q.Schedule), IsArchived: q.IsArchived, IsDraft: q.IsDraft,
		DataSourceID: q.DataSourceID, LatestQueryDataID: q.LatestQueryDataID,
		Options: options, Version: q.Version, Tags: tags, IsSafe: err == nil && schema.isSafe(q.Query),
		User: userRef{ID: q.User.ID, Name: q.User.Name, Email: q.User.Email}, UserID: q.UserID,
		LastModifiedBy: editor, ScheduleFailures: q.ScheduleFailures,
		ScheduleNextRunAt: nullTime(nextQueryRun(q)), ScheduleLastRunAt: nullTime(q.LastScheduleRunAt),
		CreatedAt: redashTime(q.CreatedAt), UpdatedAt: redashTime(q.UpdatedAt),
	}
}

// nextQueryRun is when q's next scheduled run is due, as the scheduler
// counts it; zero when none will be.
func nextQueryRun(q store.Query) time.Time {
	if q.IsArchived || q.DataSourceID == nil {
		return time.Time{}
	}
	sched, err := store.ParseQuerySchedule(q.Schedule)
	if err != nil || sched == nil {
		return time.Time{}
	}
	next, ok := sched.Next(q.LastScheduleRunAt, q.UpdatedAt, q.ScheduleFailures)
	if !ok {
		return time.Time{}
	}
	return next
}

// nullTime is t as the API writes times, nil for the zero time.
func nullTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := redashTime(t)
	return &s
}

// queryFor shows q to k: with its API key only if k may edit q, since the key
// reads q and its results without any group's say and outlives k's own
// access.
func queryFor(k caller, q store.Query) queryJSON {
	j := newQueryJSON(q)
	if q.APIKey != "" && k.mayEditQuery(q) == nil {
		j.APIKey = &q.APIKey
	}
	return j
}

// scheduleJSON shows a stored schedule with every key, or null for none.
func scheduleJSON(raw json.RawMessage) json.RawMessage {
	s, err := store.ParseQuerySchedule(raw)
	switch {
	case err != nil: // validated on write; show what is stored
		return raw
	case s == nil:
		return nil
	}
	b, err := s.MarshalJSON()
	if err != nil {
		return raw
	}
	return b
}

// queryBody is the body of create and update; absent fields are unchanged,
// and fields it does not name (id, api_key, user, created_at, …) are
// ignored, as Redash ignores them.
type queryBody struct {
	Name         *string `json:"name"`
	Description  *string `json:"description"`
	Query        *string `json:"query"`
	DataSourceID *int64  `json:"data_source_id"`
	// Options is {"parameters": [definition, …], …}; see parseQueryOptions.
	Options json.RawMessage `json:"options"`
	// Schedule is {"interval", "time", "day_of_week", "until", "timezone"}
	// (see store.ParseQuerySchedule), or null for none.
	Schedule json.RawMessage `json:"schedule"`
	Tags     *[]string       `json:"tags"`
	IsDraft  *bool           `json:"is_draft"`
	// Version, on update, is the version the edit was made on: a query
	// changed since answers 409. Absent, the edit wins whatever the version.
	Version *int `json:"version"`
}

// apply copies b's fields onto q and checks the result.
func (s *Server) apply(c *echo.Context, b queryBody, q *store.Query) error {
	if b.Name != nil {
		q.Name = strings.TrimSpace(*b.Name)
	}
	if b.Description != nil {
		q.Description = *b.Description
	}
	if b.Query != nil {
		q.Query = *b.Query
	}
	if b.Options != nil {
		options, _, err := parseQueryOptions(b.Options)
		if err != nil {
			return err
		}
		q.Options = options
	}
	if b.Schedule != nil {
		sched, err := store.ParseQuerySchedule(b.Schedule)
		if err != nil {
			return badRequest("%s", err.Error())
		}
		q.Schedule = nil
		if sched != nil {
			if q.Schedule, err = sched.MarshalJSON(); err != nil {
				return err
			}
		}
	}
	if b.Tags != nil {
		q.Tags = cleanTags(*b.Tags)
	}
	if b.IsDraft != nil {
		q.IsDraft = *b.IsDraft
	}
	if b.DataSourceID != nil {
		ds, err := s.store.DataSource(c.Request().Context(), *b.DataSourceID)
		if err != nil {
			return notFoundIf(err, "data source %d does not exist", *b.DataSourceID)
		}
		if err := currentCaller(c).mayRunOn(ds.ID); err != nil {
			return err
		}
		q.DataSourceID = &ds.ID
	}
	switch {
	case q.DataSourceID == nil:
		return badRequest("data_source_id is required")
	case strings.TrimSpace(q.Query) == "":
		return badRequest("query is required: the SQL to save")
	case q.Name == "":
		q.Name = "New Query"
	}
	text, err := s.runText(c.Request().Context(), *q, q.Query)
	if err != nil {
		return err
	}
	// The hash of the text as it runs without parameters, so that its
	// results become the query's latest.
	q.QueryHash = cache.Hash(text)
	return nil
}

// cleanTags trims tags and drops empty and repeated ones, keeping the
// order.
func cleanTags(tags []string) []string {
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		t = strings.TrimSpace(t)
		if t != "" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// createQuery answers POST /api/queries. A new query is a draft, as in
// Redash, unless the body says "is_draft": false.
func (s *Server) createQuery(c *echo.Context) error {
	var b queryBody
	if err := decodeBody(c, &b, false); err != nil {
		return err
	}
	q := store.Query{UserID: currentUser(c).ID, IsDraft: true}
	if err := s.apply(c, b, &q); err != nil {
		return err
	}
	q, err := s.store.CreateQuery(c.Request().Context(), q)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, queryFor(currentCaller(c), q))
}

// loadQuery returns the query named by the id path parameter, if the caller
// may see it.
func (s *Server) loadQuery(c *echo.Context) (store.Query, error) {
	id, err := idParam(c, "id")
	if err != nil {
		return store.Query{}, err
	}
	q, err := s.store.Query(c.Request().Context(), id)
	if err == nil && !currentCaller(c).canSeeQuery(q) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Query{}, notFoundIf(err, "query %d not found", id)
	}
	return q, nil
}

// getQuery answers GET /api/queries/<id>, archived or not, with its
// visualizations as Redash shows them.
func (s *Server) getQuery(c *echo.Context) error {
	q, err := s.loadQuery(c)
	if err != nil {
		return err
	}
	vs, err := s.store.QueryVisualizations(c.Request().Context(), q.ID)
	if err != nil {
		return err
	}
	out := struct {
		queryJSON
		Visualizations []visualizationJSON `json:"visualizations"`
	}{queryFor(currentCaller(c), q), make([]visualizationJSON, len(vs))}
	for i, v := range vs {
		out.Visualizations[i] = newVisualizationJSON(v, nil)
	}
	return c.JSON(http.StatusOK, out)
}

// loadEditableQuery returns the query named by the id path parameter if
// the caller may edit it: 404 if they cannot see it, 403 if they may not
// change it.
func (s *Server) loadEditableQuery(c *echo.Context) (store.Query, error) {
	q, err := s.loadQuery(c)
	if err != nil {
		return store.Query{}, err
	}
	return q, currentCaller(c).mayEditQuery(q)
}

// updateQuery answers POST /api/queries/<id>: a partial update by the
// owner or an admin, refused with 409 if the body's version is not the
// stored one.
func (s *Server) updateQuery(c *echo.Context) error {
	q, err := s.loadEditableQuery(c)
	if err != nil {
		return err
	}
	k := currentCaller(c)
	var b queryBody
	if err := decodeBody(c, &b, false); err != nil {
		return err
	}
	version := 0 // last write wins
	if b.Version != nil {
		version = *b.Version
		if version != q.Version {
			return versionConflict(q.ID, version)
		}
	}
	if err := s.apply(c, b, &q); err != nil {
		return err
	}
	q.LastModifiedByID = &k.user.ID
	id := q.ID
	q, err = s.store.UpdateQuery(c.Request().Context(), q, version)
	if errors.Is(err, store.ErrConflict) { // changed since it was loaded
		return versionConflict(id, version)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, queryFor(k, q))
}

// versionConflict is the 409 of an edit made on a version since replaced.
func versionConflict(id int64, version int) error {
	return &Error{Status: http.StatusConflict, Message: fmt.Sprintf(
		"Query %d was changed by someone else since version %d: reload it and apply your changes again.", id, version)}
}

// archiveQuery answers DELETE /api/queries/<id> with null, as Redash does:
// the query leaves lists and schedules, cannot run, and its API key stops
// working; it can still be read.
func (s *Server) archiveQuery(c *echo.Context) error {
	q, err := s.loadEditableQuery(c)
	if err != nil {
		return err
	}
	if err := s.store.ArchiveQuery(c.Request().Context(), q.ID); err != nil {
		return err
	}
	s.keys.forget() // the query's key may be cached
	return c.JSON(http.StatusOK, nil)
}

// forkQuery answers POST /api/queries/<id>/fork with a copy of the query
// owned by the caller, who needs full access to its data source.
func (s *Server) forkQuery(c *echo.Context) error {
	q, err := s.loadQuery(c)
	if err != nil {
		return err
	}
	k := currentCaller(c)
	if q.DataSourceID != nil {
		if err := k.mayRunOn(*q.DataSourceID); err != nil {
			return err
		}
	}
	forked, err := s.store.ForkQuery(c.Request().Context(), q.ID, k.user.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, queryFor(k, forked))
}

// regenerateQueryAPIKey answers POST /api/queries/<id>/regenerate_api_key
// with the query and its new key; the old key stops working at once.
func (s *Server) regenerateQueryAPIKey(c *echo.Context) error {
	q, err := s.loadEditableQuery(c)
	if err != nil {
		return err
	}
	k := currentCaller(c)
	q, err = s.store.RegenerateQueryAPIKey(c.Request().Context(), q.ID)
	if err != nil {
		return err
	}
	s.keys.forget() // the old key may be cached
	return c.JSON(http.StatusOK, queryFor(k, q))
}

// refreshQuery answers POST /api/queries/<id>/refresh, Redash's older way
// to run a saved query: always a new run (max_age 0), with parameter values
// from p_<name> query-string arguments (p_<name>.start and p_<name>.end for
// ranges), typed and checked as POST /api/queries/<id>/results checks them.
// It answers {"job": …}.
func (s *Server) refreshQuery(c *echo.Context) error {
	q, err := s.loadQuery(c)
	if err != nil {
		return jobError(err)
	}
	values, err := refreshParameters(c.QueryParams())
	if err != nil {
		return jobError(err)
	}
	ctx := c.Request().Context()
	ex, err := s.savedExecution(ctx, currentCaller(c), q, values, 0, paramZone)
	if err != nil {
		return jobError(err)
	}
	_, job, err := s.submit(ctx, ex)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"job": s.newJobJSON(job)})
}

// refreshParameters reads parameter values from p_<name> arguments, each a
// string, and p_<name>.start and p_<name>.end, which together make a range.
func refreshParameters(args url.Values) (map[string]json.RawMessage, error) {
	flat := make(map[string]string)
	ranges := make(map[string]map[string]string)
	for arg, vals := range args {
		name, ok := strings.CutPrefix(arg, "p_")
		if !ok || len(vals) == 0 {
			continue
		}
		base, field, dotted := strings.Cut(name, ".")
		switch {
		case base == "":
			return nil, badRequest("%s names no parameter: use p_<name>=<value>", arg)
		case dotted && field != "start" && field != "end":
			return nil, badRequest("%s: a parameter's value is p_%s, or p_%s.start and p_%s.end for a range", arg, base, base, base)
		case dotted:
			if ranges[base] == nil {
				ranges[base] = make(map[string]string)
			}
			ranges[base][field] = vals[0]
		default:
			flat[base] = vals[0]
		}
	}
	values := make(map[string]json.RawMessage, len(flat)+len(ranges))
	for name, v := range flat {
		if _, ok := ranges[name]; ok {
			return nil, badRequest("p_%s is given both whole and as p_%s.start or p_%s.end: give one or the other", name, name, name)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		values[name] = b
	}
	for name, r := range ranges {
		if len(r) != 2 {
			return nil, badRequest("parameter %s is a range: give both p_%s.start and p_%s.end", name, name, name)
		}
		b, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		values[name] = b
	}
	return values, nil
}

// listQueries answers GET /api/queries: a page ("page", from 1, of
// "page_size", 1 to 250, default 25) of the queries the caller may see and
// that are not archived, newest first, whose name, description or text
// contain "q" and whose tags include every "tags".
func (s *Server) listQueries(c *echo.Context) error {
	p, err := parsePageRequest(c)
	if err != nil {
		return err
	}
	k := currentCaller(c)
	f := store.QueryFilter{
		Search:   strings.TrimSpace(c.QueryParam("q")),
		Tags:     cleanTags(c.QueryParams()["tags"]),
		Page:     p.page,
		PageSize: p.size,
	}
	if k.user.IsAdmin {
		f.AllDataSources = true
	} else {
		f.OwnerID = k.user.ID
		for id, a := range k.access {
			if a >= store.ViewOnly {
				f.DataSources = append(f.DataSources, id)
			}
		}
	}
	qs, count, err := s.store.Queries(c.Request().Context(), f)
	if err != nil {
		return err
	}
	if err := p.check(count); err != nil {
		return err
	}
	results := make([]queryJSON, len(qs))
	for i, q := range qs {
		results[i] = queryFor(k, q)
	}
	return c.JSON(http.StatusOK, pageJSON[queryJSON]{Count: count, Page: p.page, PageSize: p.size, Results: results})
}
