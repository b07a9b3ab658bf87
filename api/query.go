package api

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/queryd/queryd/cache"
	"github.com/queryd/queryd/store"
)

// queryJSON is a saved query as the API shows it.
type queryJSON struct {
	ID                int64           `json:"id"`
	Name              string          `json:"name"`
	Description       string          `json:"description"`
	Query             string          `json:"query"`
	QueryHash         string          `json:"query_hash"`
	DataSourceID      *int64          `json:"data_source_id"`
	LatestQueryDataID *int64          `json:"latest_query_data_id"`
	UserID            int64           `json:"user_id"`
	Options           json.RawMessage `json:"options"`
	// IsSafe is false when running the query splices raw text into its SQL
	// (see paramSchema.isSafe): only users with full access to its data
	// source may run it, never view-only groups nor query or dashboard keys.
	IsSafe    bool   `json:"is_safe"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

func newQueryJSON(q store.Query) queryJSON {
	options, schema, err := parseQueryOptions(q.Options)
	if err != nil { // validated on write; show what is stored, as unsafe
		options = q.Options
	}
	return queryJSON{
		ID: q.ID, Name: q.Name, Description: q.Description, Query: q.Query, QueryHash: q.QueryHash,
		DataSourceID: q.DataSourceID, LatestQueryDataID: q.LatestQueryDataID, UserID: q.UserID,
		Options: options, IsSafe: err == nil && schema.isSafe(q.Query),
		CreatedAt: redashTime(q.CreatedAt), UpdatedAt: redashTime(q.UpdatedAt),
	}
}

// queryBody is the body of create and update; absent fields are unchanged.
type queryBody struct {
	Name         *string `json:"name"`
	Description  *string `json:"description"`
	Query        *string `json:"query"`
	DataSourceID *int64  `json:"data_source_id"`
	// Options is {"parameters": [definition, …], …}; see parseQueryOptions.
	Options json.RawMessage `json:"options"`
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
	q.QueryHash = cache.Hash(q.Query)
	return nil
}

// createQuery answers POST /api/queries.
func (s *Server) createQuery(c *echo.Context) error {
	var b queryBody
	if err := decodeBody(c, &b, false); err != nil {
		return err
	}
	q := store.Query{UserID: currentUser(c).ID}
	if err := s.apply(c, b, &q); err != nil {
		return err
	}
	q, err := s.store.CreateQuery(c.Request().Context(), q)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newQueryJSON(q))
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

// getQuery answers GET /api/queries/<id>.
func (s *Server) getQuery(c *echo.Context) error {
	q, err := s.loadQuery(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newQueryJSON(q))
}

// updateQuery answers POST /api/queries/<id>: a partial update.
func (s *Server) updateQuery(c *echo.Context) error {
	q, err := s.loadQuery(c)
	if err != nil {
		return err
	}
	if err := currentCaller(c).mayEditQuery(q); err != nil {
		return err
	}
	var b queryBody
	if err := decodeBody(c, &b, false); err != nil {
		return err
	}
	if err := s.apply(c, b, &q); err != nil {
		return err
	}
	q, err = s.store.UpdateQuery(c.Request().Context(), q, 0)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newQueryJSON(q))
}

// listQueries answers GET /api/queries with the queries the caller may see,
// newest first.
func (s *Server) listQueries(c *echo.Context) error {
	qs, _, err := s.store.Queries(c.Request().Context(), store.QueryFilter{AllDataSources: true})
	if err != nil {
		return err
	}
	k := currentCaller(c)
	out := make([]queryJSON, 0, len(qs))
	for _, q := range qs {
		if !k.canSeeQuery(q) {
			continue
		}
		out = append(out, newQueryJSON(q))
	}
	return c.JSON(http.StatusOK, out)
}
