package api

import (
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/queryd/queryd/store"
)

// caller is who a request acts as: a user (through the user's API key), or
// the API key of one query or one dashboard, which reads only that query, or
// that dashboard and its widgets' queries, with their results and jobs.
type caller struct {
	user store.User // the key's owner; the zero User (ID 0) for a query or dashboard key
	// access is what the user's groups grant, per data source.
	access map[int64]store.Access
	// queryID is the query of a query key.
	queryID int64
	// dashboardID is the dashboard of a dashboard key, and dashboardQueries
	// the queries its widgets show.
	dashboardID      int64
	dashboardQueries map[int64]bool
}

// isKey reports whether c is a query or dashboard key rather than a user.
func (c caller) isKey() bool { return c.queryID != 0 || c.dashboardID != 0 }

// dataSource is c's access to data source id: full for admins, what the
// groups grant for users, none for keys (they reach data only through
// their queries).
func (c caller) dataSource(id int64) store.Access {
	switch {
	case c.isKey():
		return store.NoAccess
	case c.user.IsAdmin:
		return store.FullAccess
	}
	return c.access[id]
}

// canSeeQuery reports whether c may read q and its results: a key its own
// query (or its dashboard's), a user any query on a data source their groups
// grant, and a query without a data source only its owner and admins.
func (c caller) canSeeQuery(q store.Query) bool {
	switch {
	case c.queryID != 0:
		return q.ID == c.queryID && !q.IsArchived
	case c.dashboardID != 0:
		return c.dashboardQueries[q.ID] && !q.IsArchived
	case q.DataSourceID == nil:
		return c.user.IsAdmin || q.UserID == c.user.ID
	}
	return c.dataSource(*q.DataSourceID) >= store.ViewOnly
}

// canSeeDashboard reports whether c may read d: a user any dashboard (its
// widgets are restricted per query, see canSeeQuery), a dashboard key its
// own while not archived, a query key none.
func (c caller) canSeeDashboard(d store.Dashboard) bool {
	switch {
	case c.dashboardID != 0:
		return d.ID == c.dashboardID && !d.IsArchived
	case c.queryID != 0:
		return false
	}
	return true
}

// mayEditDashboard checks that c may change, archive, share or add widgets
// to d: its owner and admins.
func (c caller) mayEditDashboard(d store.Dashboard) error {
	if !c.isKey() && (c.user.IsAdmin || d.UserID == c.user.ID) {
		return nil
	}
	return forbidden(msgNoEditPermission)
}

// Messages of refused executions, as Redash words them.
const (
	msgNoRunPermission  = "You do not have permission to run queries with this data source."
	msgUnsafeForKey     = "This query contains potentially unsafe parameters and cannot be executed on a shared dashboard or an embedded visualization."
	msgNoEditPermission = "You don't have permission to edit this resource."
)

// mayRunQuery checks that c, who can see q, may run it: full access runs
// anything; view-only groups and keys run only safe queries (no text
// parameter), since a text value is spliced into the SQL as it is.
func (c caller) mayRunQuery(q store.Query, safe bool) error {
	if q.DataSourceID != nil && c.dataSource(*q.DataSourceID) == store.FullAccess {
		return nil
	}
	switch {
	case !safe && c.isKey():
		return forbidden(msgUnsafeForKey)
	case !safe:
		return forbidden(msgNoRunPermission)
	}
	return nil
}

// mayRunSaved checks that c, who can see q, may run it now: archived
// queries never run.
func (c caller) mayRunSaved(q store.Query) error {
	if q.IsArchived {
		return badRequest("query %d is archived: archived queries do not run (fork it to run its SQL again)", q.ID)
	}
	if q.DataSourceID == nil {
		return badRequest("query %d has no data source: its data source was deleted", q.ID)
	}
	if c.dataSource(*q.DataSourceID) == store.FullAccess {
		return nil
	}
	return c.mayRunQuery(q, querySafe(q))
}

// mayEditQuery checks that c may change, archive or re-key q: admins, and
// its owner while they have full access to its data source.
func (c caller) mayEditQuery(q store.Query) error {
	if c.user.IsAdmin {
		return nil
	}
	if !c.isKey() && q.UserID == c.user.ID && (q.DataSourceID == nil || c.dataSource(*q.DataSourceID) == store.FullAccess) {
		return nil
	}
	return forbidden(msgNoEditPermission)
}

// mayRunOn checks that c may run ad hoc SQL or save queries on data source
// id: a data source c cannot see answers 404 as if it did not exist; a
// view-only one 403.
func (c caller) mayRunOn(id int64) error {
	switch c.dataSource(id) {
	case store.FullAccess:
		return nil
	case store.ViewOnly:
		return forbidden(msgNoRunPermission)
	}
	return notFound("data source %d does not exist", id)
}

// canSeeResult reports whether c may read result r, reached through query q
// (nil when the result is named by id alone): users need access to its data
// source; keys need a q they can see whose current text r is the result of,
// so that a key never reads another text's result.
func (c caller) canSeeResult(r store.QueryResult, q *store.Query) bool {
	if c.isKey() {
		return q != nil && c.canSeeQuery(*q) && q.DataSourceID != nil &&
			*q.DataSourceID == r.DataSourceID && q.QueryHash == r.QueryHash
	}
	return c.dataSource(r.DataSourceID) >= store.ViewOnly
}

// canSeeJob reports whether c may read job j, reached through query q (nil
// on /api/jobs/<id>): keys only the jobs of a query they can see.
func (c caller) canSeeJob(j store.Job, q *store.Query) bool {
	if c.isKey() {
		return q != nil && c.canSeeQuery(*q) && j.QueryID != nil && *j.QueryID == q.ID
	}
	return c.dataSource(j.DataSourceID) >= store.ViewOnly
}

// mayCancelJob checks that c may cancel j: whoever started it, and anyone
// with full access to its data source.
func (c caller) mayCancelJob(j store.Job) error {
	if !c.isKey() && (j.UserID == c.user.ID || c.dataSource(j.DataSourceID) == store.FullAccess) {
		return nil
	}
	return forbidden("Only the user who started this job, or one with full access to its data source, may cancel it.")
}

// keyRoutes are the routes a query or dashboard key may call; on every other
// route such a key is refused. Those under /api/queries/:id further need :id
// to be a query the key can see, which their handlers check.
var keyRoutes = map[string]bool{
	"GET /api/queries/:id":              true,
	"POST /api/queries/:id/results":     true,
	"GET /api/queries/:id/results":      true,
	"GET /api/queries/:id/results.csv":  true,
	"GET /api/queries/:id/results.json": true,
	"GET /api/queries/:id/results/:rid": true,
	"GET /api/queries/:id/jobs/:jid":    true,
	"GET /api/dashboards/:id":           true,
	"GET /api/session":                  true,
}

// checkKeyRoute refuses a query or dashboard key on a route it may not use.
func checkKeyRoute(c *echo.Context, k caller) error {
	if !k.isKey() || keyRoutes[c.Request().Method+" "+c.Path()] {
		return nil
	}
	return &Error{Status: http.StatusForbidden,
		Message: "This API key belongs to a query or dashboard: it reads that object, its results and its jobs only."}
}

// currentCaller is who the request acts as.
func currentCaller(c *echo.Context) caller {
	k, _ := c.Get(callerKey).(caller)
	return k
}
