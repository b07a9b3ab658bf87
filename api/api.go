// Package api is queryd's HTTP API: Redash's query-execution dialect
// (/api/query_results, /api/queries/<id>/results, /api/jobs/<id>, result
// downloads) plus data sources, queries and health checks, served by Echo.
//
// Handlers bind, validate, call the store or the enqueuer, and respond; they
// return errors, and one error handler (errors.go) maps them to statuses.
package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v5"
	"github.com/labstack/echo/v5/middleware"

	"github.com/queryd/queryd/cache"
	"github.com/queryd/queryd/store"
)

// Enqueuer hands a recorded job to the workers.
type Enqueuer interface {
	EnqueueQuery(ctx context.Context, jobID string) error
}

// DataSourceTypes knows the data source types queryd can run: it validates
// their options, names their secret fields and tests connections.
type DataSourceTypes interface {
	Types() []string
	ValidateOptions(typ string, options json.RawMessage) error
	SecretOptions(typ string) []string
	Test(ctx context.Context, typ string, options json.RawMessage) error
	// AutoLimit adds the type's row limit to sql when its last statement
	// is a SELECT without one.
	AutoLimit(typ, sql string) string
}

// Check is a named readiness check (PostgreSQL, Redis, result storage).
type Check struct {
	Name  string
	Check func(context.Context) error
}

// Config holds the API's tunables.
type Config struct {
	// MaxWait caps the wait parameter of hybrid waits.
	MaxWait time.Duration
	// BodyLimit caps request bodies, in bytes.
	BodyLimit int64
	// AuthCacheTTL is how long a verified API key is trusted without asking
	// the database again; 0 asks every time.
	AuthCacheTTL time.Duration
	// CancelledStatus is the status a cancelled job reports: 5, or Redash's
	// 4 for clients that poll until 3 or 4; 0 means 5.
	CancelledStatus int
	// Now is the clock relative parameter dates (d_yesterday, …) are
	// resolved against; nil is time.Now.
	Now func() time.Time
}

// Server is the HTTP API.
type Server struct {
	cfg     Config
	store   *store.Store
	storage *cache.Storage
	enqueue Enqueuer
	types   DataSourceTypes
	checks  []Check
	waiters *waiters
	keys    *keyCache
	log     *slog.Logger
	echo    *echo.Echo
}

// New returns the API server. Call ListenJobEvents to serve hybrid waits.
func New(cfg Config, st *store.Store, storage *cache.Storage, enq Enqueuer, types DataSourceTypes, checks []Check, log *slog.Logger) *Server {
	s := &Server{
		cfg:     cfg,
		store:   st,
		storage: storage,
		enqueue: enq,
		types:   types,
		checks:  checks,
		waiters: newWaiters(),
		keys:    newKeyCache(cfg.AuthCacheTTL),
		log:     log,
	}
	e := echo.New()
	e.Logger = log
	e.HTTPErrorHandler = s.handleError
	e.Use(middleware.RequestID())
	e.Use(s.logRequests())
	e.Use(middleware.Recover())
	e.Use(middleware.BodyLimit(cfg.BodyLimit))
	if s.cfg.Now == nil {
		s.cfg.Now = time.Now
	}
	s.echo = e
	s.routes()
	return s
}

// Handler serves the API.
func (s *Server) Handler() http.Handler { return s.echo }

// Routes lists the routes served, as "METHOD /path/:param", sorted.
func (s *Server) Routes() []string {
	var out []string
	for _, r := range s.echo.Router().Routes() {
		if strings.HasPrefix(r.Method, "echo_") { // Echo's own not-found handlers
			continue
		}
		out = append(out, r.Method+" "+r.Path)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (s *Server) routes() {
	e := s.echo
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)

	a := e.Group("/api", s.audit, s.authenticate)
	a.POST("/query_results", s.executeAdHoc)
	a.GET("/query_results/:id", s.getQueryResult)

	a.GET("/jobs/:id", s.getJob)
	a.DELETE("/jobs/:id", s.cancelJob)

	a.GET("/queries", s.listQueries)
	a.POST("/queries", s.createQuery)
	a.GET("/queries/:id", s.getQuery)
	a.POST("/queries/:id", s.updateQuery)
	a.DELETE("/queries/:id", s.archiveQuery)
	a.POST("/queries/:id/fork", s.forkQuery)
	a.POST("/queries/:id/regenerate_api_key", s.regenerateQueryAPIKey)
	a.POST("/queries/:id/refresh", s.refreshQuery)
	a.POST("/queries/:id/results", s.executeQuery)
	a.GET("/queries/:id/results", s.getLatestQueryResult)
	a.GET("/queries/:id/results.csv", s.getLatestQueryResult)
	a.GET("/queries/:id/results.json", s.getLatestQueryResult)
	a.GET("/queries/:id/results/:rid", s.getQueryResult)
	a.GET("/queries/:id/jobs/:jid", s.getJob)

	a.GET("/dashboards", s.listDashboards)
	a.POST("/dashboards", s.createDashboard)
	a.GET("/dashboards/:id", s.getDashboard)
	a.POST("/dashboards/:id", s.updateDashboard)
	a.DELETE("/dashboards/:id", s.archiveDashboard)
	a.POST("/dashboards/:id/share", s.shareDashboard)
	a.DELETE("/dashboards/:id/share", s.unshareDashboard)
	a.POST("/dashboards/:id/refresh", s.postDashboardRefresh)

	a.POST("/visualizations", s.createVisualization)
	a.POST("/visualizations/:id", s.updateVisualization)
	a.DELETE("/visualizations/:id", s.deleteVisualization)

	a.POST("/widgets", s.createWidget)
	a.POST("/widgets/:id", s.updateWidget)
	a.DELETE("/widgets/:id", s.deleteWidget)

	a.GET("/data_sources", s.listDataSources)
	a.GET("/data_sources/types", s.listDataSourceTypes)
	a.POST("/data_sources", s.createDataSource, adminOnly)
	a.GET("/data_sources/:id", s.getDataSource)
	a.POST("/data_sources/:id", s.updateDataSource, adminOnly)
	a.DELETE("/data_sources/:id", s.deleteDataSource, adminOnly)
	a.POST("/data_sources/:id/test", s.testDataSource, adminOnly)

	a.GET("/session", s.getSession)
	a.GET("/users", s.listUsers)
	a.POST("/users", s.createUser, adminOnly)
	a.GET("/users/:id", s.getUser)
	a.POST("/users/:id", s.updateUser)
	a.POST("/users/:id/disable", s.disableUser, adminOnly)
	a.DELETE("/users/:id/disable", s.disableUser, adminOnly)
	a.POST("/users/:id/regenerate_api_key", s.regenerateUserAPIKey)

	a.GET("/groups", s.listGroups)
	a.POST("/groups", s.createGroup, adminOnly)
	a.GET("/groups/:id", s.getGroup)
	a.POST("/groups/:id", s.updateGroup, adminOnly)
	a.DELETE("/groups/:id", s.deleteGroup, adminOnly)
	a.POST("/groups/:id/members", s.addGroupMember, adminOnly)
	a.DELETE("/groups/:id/members/:user_id", s.removeGroupMember, adminOnly)
	a.POST("/groups/:id/data_sources", s.grantDataSource, adminOnly)
	a.POST("/groups/:id/data_sources/:data_source_id", s.grantDataSource, adminOnly)
	a.DELETE("/groups/:id/data_sources/:data_source_id", s.revokeDataSource, adminOnly)

	a.GET("/audit_logs", s.listAuditLogs, adminOnly)
}

// logRequests logs one line per request with its request ID.
func (s *Server) logRequests() echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogURIPath: true, LogMethod: true, LogLatency: true, LogRequestID: true,
		HandleError: true,
		LogValuesFunc: func(c *echo.Context, v middleware.RequestLoggerValues) error {
			level := slog.LevelInfo
			if v.Status >= 500 {
				level = slog.LevelError
			}
			s.log.LogAttrs(c.Request().Context(), level, "request",
				slog.String("method", v.Method), slog.String("path", v.URIPath),
				slog.Int("status", v.Status), slog.Int64("duration_ms", v.Latency.Milliseconds()),
				slog.String("request_id", v.RequestID))
			return nil
		},
	})
}
