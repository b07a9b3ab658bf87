package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v5"

	"github.com/queryd/queryd/cache"
	"github.com/queryd/queryd/store"
)

// maxNameLength bounds the names of dashboards and visualizations, in
// characters.
const maxNameLength = 255

// dashboardJSON is Redash's dashboard object.
type dashboardJSON struct {
	ID                      int64           `json:"id"`
	Slug                    string          `json:"slug"`
	Name                    string          `json:"name"`
	UserID                  int64           `json:"user_id"`
	User                    userRef         `json:"user"`
	Layout                  json.RawMessage `json:"layout"`
	DashboardFiltersEnabled bool            `json:"dashboard_filters_enabled"`
	// Widgets is null in lists.
	Widgets         []widgetJSON    `json:"widgets"`
	Options         json.RawMessage `json:"options"`
	IsArchived      bool            `json:"is_archived"`
	IsDraft         bool            `json:"is_draft"`
	Tags            []string        `json:"tags"`
	UpdatedAt       string          `json:"updated_at"`
	CreatedAt       string          `json:"created_at"`
	Version         int             `json:"version"`
	CanEdit         bool            `json:"can_edit"`
	RefreshSchedule json.RawMessage `json:"refresh_schedule"`
	RefreshFailures int             `json:"refresh_failures"`
	// RefreshNextRunAt is queryd's: when the next scheduled refresh is due,
	// counting the back-off after failures; null without a schedule.
	RefreshNextRunAt *string `json:"refresh_next_run_at"`
	// RefreshLastRunAt is when the last scheduled refresh started, null if
	// none did.
	RefreshLastRunAt *string `json:"refresh_last_run_at"`
	// APIKey and PublicURL are shown to the dashboard's editors while it is
	// shared.
	APIKey    string `json:"api_key,omitempty"`
	PublicURL string `json:"public_url,omitempty"`
}

// newDashboardJSON is d as k sees it in a list: no widgets, no key.
func newDashboardJSON(k caller, d store.Dashboard) dashboardJSON {
	tags := d.Tags
	if tags == nil {
		tags = []string{}
	}
	return dashboardJSON{
		ID: d.ID, Slug: d.Slug, Name: d.Name, UserID: d.UserID,
		User:   userRef{ID: d.User.ID, Name: d.User.Name, Email: d.User.Email},
		Layout: d.Layout, DashboardFiltersEnabled: d.DashboardFiltersEnabled, Options: d.Options,
		IsArchived: d.IsArchived, IsDraft: d.IsDraft, Tags: tags,
		UpdatedAt: redashTime(d.UpdatedAt), CreatedAt: redashTime(d.CreatedAt), Version: d.Version,
		CanEdit: k.mayEditDashboard(d) == nil, RefreshSchedule: d.RefreshSchedule, RefreshFailures: d.RefreshFailures,
		RefreshNextRunAt: nullTime(nextRefresh(d)), RefreshLastRunAt: nullTime(d.LastRefreshRunAt),
	}
}

// nextRefresh is when d's next scheduled refresh is due, as the scheduler
// counts it; zero when none will be.
func nextRefresh(d store.Dashboard) time.Time {
	if d.IsArchived {
		return time.Time{}
	}
	sched, err := store.ParseDashboardSchedule(d.RefreshSchedule)
	if err != nil || sched == nil {
		return time.Time{}
	}
	return sched.Next(d.LastRefreshRunAt, d.UpdatedAt, d.RefreshFailures)
}

// fullDashboardJSON is d as k sees it on its own: with its widgets
// (restricted where k cannot see their query) and, for its editors, its key
// while it is shared.
func fullDashboardJSON(c *echo.Context, k caller, d store.Dashboard, widgets []store.Widget) dashboardJSON {
	out := newDashboardJSON(k, d)
	out.Widgets = make([]widgetJSON, 0, len(widgets))
	for _, w := range widgets {
		out.Widgets = append(out.Widgets, newWidgetJSON(k, w))
	}
	if d.APIKey != "" && out.CanEdit {
		out.APIKey, out.PublicURL = d.APIKey, publicURL(c, d, d.APIKey)
	}
	return out
}

// publicURL is where a shared dashboard reads with its key alone.
func publicURL(c *echo.Context, d store.Dashboard, key string) string {
	return fmt.Sprintf("%s://%s/api/dashboards/%d?api_key=%s", c.Scheme(), c.Request().Host, d.ID, key)
}

// loadDashboard returns the dashboard the path parameter id names, if the
// caller may see it: by id, or by slug when bySlug and the parameter is not
// a number or the query string says ?legacy, as Redash's clients ask.
func (s *Server) loadDashboard(c *echo.Context, bySlug bool) (store.Dashboard, error) {
	ctx := c.Request().Context()
	x := c.Param("id")
	var d store.Dashboard
	var err error
	id, numErr := strconv.ParseInt(x, 10, 64)
	_, legacy := c.QueryParams()["legacy"]
	switch {
	case bySlug && (numErr != nil || legacy):
		d, err = s.store.DashboardBySlug(ctx, x)
	case numErr != nil || id <= 0:
		return store.Dashboard{}, notFound("%q is not a valid dashboard id", x)
	default:
		d, err = s.store.Dashboard(ctx, id)
	}
	if err == nil && !currentCaller(c).canSeeDashboard(d) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Dashboard{}, notFoundIf(err, "dashboard %s not found", x)
	}
	return d, nil
}

// respondDashboard answers with d whole, its widgets loaded.
func (s *Server) respondDashboard(c *echo.Context, d store.Dashboard) error {
	widgets, err := s.store.DashboardWidgets(c.Request().Context(), d.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, fullDashboardJSON(c, currentCaller(c), d, widgets))
}

// listDashboards answers GET /api/dashboards: a page of the dashboards not
// archived, newest first, filtered by q (in the name) and tags (all of
// them).
func (s *Server) listDashboards(c *echo.Context) error {
	p, err := parsePageRequest(c)
	if err != nil {
		return err
	}
	ds, count, err := s.store.Dashboards(c.Request().Context(), store.DashboardFilter{
		Search: strings.TrimSpace(c.QueryParam("q")), Tags: c.QueryParams()["tags"], Page: p.page, PageSize: p.size,
	})
	if err != nil {
		return err
	}
	if err := p.check(count); err != nil {
		return err
	}
	k := currentCaller(c)
	results := make([]dashboardJSON, 0, len(ds))
	for _, d := range ds {
		results = append(results, newDashboardJSON(k, d))
	}
	return c.JSON(http.StatusOK, pageJSON[dashboardJSON]{Count: count, Page: p.page, PageSize: p.size, Results: results})
}

// getDashboard answers GET /api/dashboards/<id or slug>.
func (s *Server) getDashboard(c *echo.Context) error {
	d, err := s.loadDashboard(c, true)
	if err != nil {
		return err
	}
	return s.respondDashboard(c, d)
}

// dashboardBody is the body of create and update; absent fields are
// unchanged.
type dashboardBody struct {
	Name                    *string         `json:"name"`
	Layout                  json.RawMessage `json:"layout"`
	Options                 json.RawMessage `json:"options"`
	DashboardFiltersEnabled *bool           `json:"dashboard_filters_enabled"`
	Tags                    *[]string       `json:"tags"`
	IsDraft                 *bool           `json:"is_draft"`
	IsArchived              *bool           `json:"is_archived"`
	// RefreshSchedule is {"interval": …} or {"cron": …, "timezone": …}, or
	// null for none; see store.ParseDashboardSchedule.
	RefreshSchedule json.RawMessage `json:"refresh_schedule"`
	Version         *int            `json:"version"`
}

// apply copies b's fields onto d and checks them.
func (b dashboardBody) apply(d *store.Dashboard) error {
	if b.Name != nil {
		d.Name = strings.TrimSpace(*b.Name)
	}
	switch {
	case d.Name == "":
		return badRequest("name is required: the dashboard's name")
	case utf8.RuneCountInString(d.Name) > maxNameLength:
		return badRequest("name is longer than %d characters", maxNameLength)
	}
	if b.Layout != nil {
		if string(b.Layout) == "null" {
			b.Layout = json.RawMessage("[]")
		}
		var items []json.RawMessage
		if json.Unmarshal(b.Layout, &items) != nil {
			return badRequest("layout must be a JSON array")
		}
		d.Layout = b.Layout
	}
	if b.Options != nil {
		options, err := parseDashboardOptions(b.Options)
		if err != nil {
			return err
		}
		d.Options = options
	}
	if b.Tags != nil {
		d.Tags = make([]string, 0, len(*b.Tags))
		for _, t := range *b.Tags {
			if t = strings.TrimSpace(t); t != "" {
				d.Tags = append(d.Tags, t)
			}
		}
	}
	if b.RefreshSchedule != nil {
		sched, err := store.ParseDashboardSchedule(b.RefreshSchedule)
		if err != nil {
			return badRequest("refresh_schedule: %s", err)
		}
		d.RefreshSchedule = nil
		if sched != nil {
			if d.RefreshSchedule, err = sched.MarshalJSON(); err != nil {
				return err
			}
		}
	}
	for _, f := range []struct {
		src *bool
		dst *bool
	}{{b.DashboardFiltersEnabled, &d.DashboardFiltersEnabled}, {b.IsDraft, &d.IsDraft}, {b.IsArchived, &d.IsArchived}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	return nil
}

// parseDashboardOptions checks a dashboard's options: a JSON object (null:
// {}) whose "parameters", if set, holds the values its widgets' queries run
// with, by parameter name.
func parseDashboardOptions(raw json.RawMessage) (json.RawMessage, error) {
	if string(raw) == "null" {
		return json.RawMessage("{}"), nil
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil || obj == nil {
		return nil, badRequest(`options must be a JSON object, such as {"parameters": {"country": "FR"}}`)
	}
	if p, ok := obj["parameters"]; ok && string(p) != "null" {
		var values map[string]json.RawMessage
		if json.Unmarshal(p, &values) != nil || values == nil {
			return nil, badRequest(`options.parameters must be an object of parameter values by name, ` +
				`such as {"country": "FR", "since": "2024-01-01"}`)
		}
	}
	return raw, nil
}

// dashboardValues returns the parameter values stored in options.
func dashboardValues(options json.RawMessage) map[string]json.RawMessage {
	var obj struct {
		Parameters map[string]json.RawMessage `json:"parameters"`
	}
	json.Unmarshal(options, &obj) // checked on write; anything else has no values
	if obj.Parameters == nil {
		return map[string]json.RawMessage{}
	}
	return obj.Parameters
}

// createDashboard answers POST /api/dashboards: a new draft dashboard of the
// caller's.
func (s *Server) createDashboard(c *echo.Context) error {
	var b dashboardBody
	if err := decodeBody(c, &b, false); err != nil {
		return err
	}
	d := store.Dashboard{UserID: currentUser(c).ID, IsDraft: true}
	if err := b.apply(&d); err != nil {
		return err
	}
	d, err := s.store.CreateDashboard(c.Request().Context(), d)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, fullDashboardJSON(c, currentCaller(c), d, nil))
}

// errStaleDashboard answers an update made from an old version.
func errStaleDashboard(d store.Dashboard) error {
	return &Error{Status: http.StatusConflict, Message: fmt.Sprintf(
		"dashboard %d was changed since you loaded it (version %d): reload it and apply your changes again", d.ID, d.Version)}
}

// loadEditableDashboard returns the dashboard named by the id path
// parameter if the caller may edit it: 404 if they cannot see it, 403 if
// they may not change it.
func (s *Server) loadEditableDashboard(c *echo.Context) (store.Dashboard, error) {
	d, err := s.loadDashboard(c, false)
	if err != nil {
		return store.Dashboard{}, err
	}
	return d, currentCaller(c).mayEditDashboard(d)
}

// updateDashboard answers POST /api/dashboards/<id>: a partial update by its
// owner or an admin. A version other than the stored one is a 409.
func (s *Server) updateDashboard(c *echo.Context) error {
	d, err := s.loadEditableDashboard(c)
	if err != nil {
		return err
	}
	var b dashboardBody
	if err := decodeBody(c, &b, false); err != nil {
		return err
	}
	if b.Version != nil && *b.Version != d.Version {
		return errStaleDashboard(d)
	}
	wasArchived := d.IsArchived
	if err := b.apply(&d); err != nil {
		return err
	}
	updated, err := s.store.UpdateDashboard(c.Request().Context(), d)
	if errors.Is(err, store.ErrConflict) {
		return errStaleDashboard(d)
	}
	if err != nil {
		return notFoundIf(err, "dashboard %d not found", d.ID)
	}
	if updated.IsArchived != wasArchived {
		s.keys.forget()
	}
	return s.respondDashboard(c, updated)
}

// archiveDashboard answers DELETE /api/dashboards/<id>: the dashboard leaves
// lists and its key stops working.
func (s *Server) archiveDashboard(c *echo.Context) error {
	d, err := s.loadEditableDashboard(c)
	if err != nil {
		return err
	}
	d, err = s.store.ArchiveDashboard(c.Request().Context(), d.ID)
	if err != nil {
		return notFoundIf(err, "dashboard %s not found", c.Param("id"))
	}
	s.keys.forget()
	return s.respondDashboard(c, d)
}

// shareDashboard answers POST /api/dashboards/<id>/share with the key that
// reads the dashboard and runs its widgets' safe queries, made on first
// share.
func (s *Server) shareDashboard(c *echo.Context) error {
	d, err := s.loadEditableDashboard(c)
	if err != nil {
		return err
	}
	key, err := s.store.ShareDashboard(c.Request().Context(), d.ID)
	if err != nil {
		return notFoundIf(err, "dashboard %d not found", d.ID)
	}
	return c.JSON(http.StatusOK, map[string]string{"public_url": publicURL(c, d, key), "api_key": key})
}

// unshareDashboard answers DELETE /api/dashboards/<id>/share: the key stops
// working.
func (s *Server) unshareDashboard(c *echo.Context) error {
	d, err := s.loadEditableDashboard(c)
	if err != nil {
		return err
	}
	if err := s.store.UnshareDashboard(c.Request().Context(), d.ID); err != nil {
		return notFoundIf(err, "dashboard %d not found", d.ID)
	}
	s.keys.forget()
	return c.NoContent(http.StatusNoContent)
}

// widgetRun is what refreshing one visualization widget did.
type widgetRun struct {
	WidgetID int64 `json:"widget_id"`
	// QueryID is null for a widget whose query the caller cannot see.
	QueryID *int64 `json:"query_id"`
	// Job runs the widget's query; widgets of one query share it.
	Job *jobJSON `json:"job"`
	// QueryResultID is set instead of Job when a result served from the
	// cache.
	QueryResultID *int64 `json:"query_result_id"`
	// Error is "" or why the widget's query did not run, a 4xx message.
	Error string `json:"error"`
}

// msgRestrictedWidget is the error of a widget whose query the caller
// cannot see.
const msgRestrictedWidget = "You do not have access to this widget's query: your groups do not grant its data source."

// refreshBody is the body of POST /api/dashboards/<id>/refresh.
type refreshBody struct {
	// Parameters override the dashboard's options.parameters, by name.
	Parameters map[string]json.RawMessage `json:"parameters"`
}

// postDashboardRefresh answers POST /api/dashboards/<id>/refresh: every
// visualization widget's query runs now, with the dashboard's parameter
// values overridden by the body's.
func (s *Server) postDashboardRefresh(c *echo.Context) error {
	d, err := s.loadDashboard(c, false)
	if err != nil {
		return err
	}
	var b refreshBody
	if err := decodeBody(c, &b, true); err != nil {
		return err
	}
	values := dashboardValues(d.Options)
	for name, v := range b.Parameters {
		values[name] = v
	}
	runs, err := s.refreshDashboard(c.Request().Context(), currentCaller(c), d, values, refreshNow(s.cfg.Now()))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"jobs": runs})
}

// refreshMode is when a dashboard's refresh happens and how its jobs queue.
type refreshMode struct {
	// now is the time relative dates resolve against.
	now time.Time
	// scheduled queues the jobs behind interactive runs.
	scheduled bool
}

// refreshNow is an interactive refresh at now.
func refreshNow(now time.Time) refreshMode { return refreshMode{now: now} }

// refreshDashboard runs, as k, the query of each visualization widget of d
// that k can see, each query once, with max_age 0: with the values among
// values of the parameters the query defines, and the query's defaults for
// the others (relative dates resolve against m.now in the zone of d's
// refresh schedule, UTC without one). It returns one run per visualization
// widget, in the dashboard's order; a widget k cannot see or run has an
// Error and does not stop the others. Only a failure of the store is an
// error.
func (s *Server) refreshDashboard(ctx context.Context, k caller, d store.Dashboard, values map[string]json.RawMessage, m refreshMode) ([]widgetRun, error) {
	widgets, err := s.store.DashboardWidgets(ctx, d.ID)
	if err != nil {
		return nil, err
	}
	loc := dashboardZone(d)
	byQuery := map[int64]widgetRun{}
	runs := []widgetRun{}
	for _, w := range widgets {
		if w.Visualization == nil {
			continue
		}
		q := w.Visualization.Query
		if q == nil || !k.canSeeQuery(*q) {
			runs = append(runs, widgetRun{WidgetID: w.ID, Error: msgRestrictedWidget})
			continue
		}
		run, ok := byQuery[q.ID]
		if !ok {
			if run, err = s.runWidgetQuery(ctx, k, *q, values, loc, m); err != nil {
				return nil, err
			}
			byQuery[q.ID] = run
		}
		run.WidgetID = w.ID
		runs = append(runs, run)
	}
	return runs, nil
}

// runWidgetQuery runs q as k with max_age 0 and the values (or defaults) of
// its parameters. A refusal or invalid value is the run's Error.
func (s *Server) runWidgetQuery(ctx context.Context, k caller, q store.Query, values map[string]json.RawMessage, loc *time.Location, m refreshMode) (widgetRun, error) {
	run := widgetRun{QueryID: &q.ID}
	var cached *store.QueryResult
	var job store.Job
	ex, err := s.savedExecutionAt(ctx, k, q, widgetValues(q, values), cache.MaxAge(0), loc, m.now)
	if err == nil {
		ex.scheduled = m.scheduled
		cached, job, err = s.submit(ctx, ex)
	}
	var apiErr *Error
	switch {
	case errors.As(err, &apiErr):
		run.Error = apiErr.Message
	case err != nil:
		return widgetRun{}, err
	case cached != nil:
		run.QueryResultID = &cached.ID
	default:
		j := s.newJobJSON(job)
		run.Job = &j
	}
	return run, nil
}

// widgetValues picks from values those of the parameters q defines, and
// takes each other one's default value, if it has one.
func widgetValues(q store.Query, values map[string]json.RawMessage) map[string]json.RawMessage {
	_, schema, err := parseQueryOptions(q.Options)
	if err != nil {
		return nil // validated on write; running the query reports it
	}
	out := make(map[string]json.RawMessage, len(schema))
	for _, d := range schema {
		if v, ok := values[d.Name]; ok && string(v) != "null" {
			out[d.Name] = v
		} else if len(d.Value) > 0 && string(d.Value) != "null" {
			out[d.Name] = d.Value
		}
	}
	return out
}

// dashboardZone is the zone of d's refresh schedule, UTC without one.
func dashboardZone(d store.Dashboard) *time.Location {
	sched, err := store.ParseDashboardSchedule(d.RefreshSchedule)
	if err != nil || sched == nil || sched.Timezone == "" {
		return paramZone
	}
	loc, err := time.LoadLocation(sched.Timezone)
	if err != nil {
		return paramZone
	}
	return loc
}
