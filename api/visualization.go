package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v5"

	"github.com/queryd/queryd/store"
)

// maxVisualizationType bounds a visualization's type, in characters.
const maxVisualizationType = 100

// visualizationJSON is Redash's visualization object; on a dashboard's
// widgets it carries its query whole, as GET /api/queries/<id> shows it.
type visualizationJSON struct {
	ID          int64           `json:"id"`
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Options     json.RawMessage `json:"options"`
	UpdatedAt   string          `json:"updated_at"`
	CreatedAt   string          `json:"created_at"`
	Query       *queryJSON      `json:"query,omitempty"`
}

// newVisualizationJSON is v, with q when it is not nil.
func newVisualizationJSON(v store.Visualization, q *store.Query) visualizationJSON {
	out := visualizationJSON{
		ID: v.ID, Type: v.Type, Name: v.Name, Description: v.Description, Options: v.Options,
		UpdatedAt: redashTime(v.UpdatedAt), CreatedAt: redashTime(v.CreatedAt),
	}
	if q != nil {
		qj := newQueryJSON(*q)
		out.Query = &qj
	}
	return out
}

// visualizationBody is the body of create and update; absent fields are
// unchanged. QueryID is read on create only.
type visualizationBody struct {
	QueryID     *int64          `json:"query_id"`
	Type        *string         `json:"type"`
	Name        *string         `json:"name"`
	Description *string         `json:"description"`
	Options     json.RawMessage `json:"options"`
}

// apply copies b's fields onto v and checks them.
func (b visualizationBody) apply(v *store.Visualization) error {
	if b.Type != nil {
		v.Type = strings.TrimSpace(*b.Type)
	}
	if b.Name != nil {
		v.Name = strings.TrimSpace(*b.Name)
	}
	if b.Description != nil {
		v.Description = *b.Description
	}
	switch {
	case v.Type == "":
		return badRequest("type is required: the kind of visualization, such as TABLE or CHART")
	case utf8.RuneCountInString(v.Type) > maxVisualizationType:
		return badRequest("type is longer than %d characters", maxVisualizationType)
	case utf8.RuneCountInString(v.Name) > maxNameLength:
		return badRequest("name is longer than %d characters", maxNameLength)
	case v.Name == "":
		v.Name = v.Type
	}
	if b.Options != nil {
		options, err := parseObject(b.Options, "options")
		if err != nil {
			return err
		}
		v.Options = options
	}
	return nil
}

// parseObject checks that raw, the field named field, is a JSON object; null
// is {}.
func parseObject(raw json.RawMessage, field string) (json.RawMessage, error) {
	if string(raw) == "null" {
		return json.RawMessage("{}"), nil
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil || obj == nil {
		return nil, badRequest("%s must be a JSON object", field)
	}
	return raw, nil
}

// visualizedQuery returns saved query id, if the caller may see it and
// edit it; one it may not see answers as missing under notFoundMsg.
func (s *Server) visualizedQuery(c *echo.Context, id int64, notFoundMsg string) (store.Query, error) {
	q, err := s.store.Query(c.Request().Context(), id)
	k := currentCaller(c)
	if err == nil && !k.canSeeQuery(q) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Query{}, notFoundIf(err, "%s", notFoundMsg)
	}
	return q, k.mayEditQuery(q)
}

// createVisualization answers POST /api/visualizations, for those who may
// edit the query.
func (s *Server) createVisualization(c *echo.Context) error {
	var b visualizationBody
	if err := decodeBody(c, &b, false); err != nil {
		return err
	}
	if b.QueryID == nil {
		return badRequest("query_id is required: the saved query to visualize")
	}
	q, err := s.visualizedQuery(c, *b.QueryID, fmt.Sprintf("query %d not found", *b.QueryID))
	if err != nil {
		return err
	}
	v := store.Visualization{QueryID: q.ID}
	if err := b.apply(&v); err != nil {
		return err
	}
	v, err = s.store.CreateVisualization(c.Request().Context(), v)
	if err != nil {
		return notFoundIf(err, "query %d not found", q.ID)
	}
	return c.JSON(http.StatusOK, newVisualizationJSON(v, nil))
}

// loadVisualization returns the visualization the path parameter id names,
// if the caller may see its query and edit it.
func (s *Server) loadVisualization(c *echo.Context) (store.Visualization, error) {
	id, err := idParam(c, "id")
	if err != nil {
		return store.Visualization{}, err
	}
	msg := fmt.Sprintf("visualization %d not found", id)
	v, err := s.store.Visualization(c.Request().Context(), id)
	if err != nil {
		return store.Visualization{}, notFoundIf(err, "%s", msg)
	}
	if _, err := s.visualizedQuery(c, v.QueryID, msg); err != nil {
		return store.Visualization{}, err
	}
	return v, nil
}

// updateVisualization answers POST /api/visualizations/<id>: a partial
// update; the query stays.
func (s *Server) updateVisualization(c *echo.Context) error {
	v, err := s.loadVisualization(c)
	if err != nil {
		return err
	}
	var b visualizationBody
	if err := decodeBody(c, &b, false); err != nil {
		return err
	}
	if err := b.apply(&v); err != nil {
		return err
	}
	v, err = s.store.UpdateVisualization(c.Request().Context(), v)
	if err != nil {
		return notFoundIf(err, "visualization %d not found", v.ID)
	}
	return c.JSON(http.StatusOK, newVisualizationJSON(v, nil))
}

// deleteVisualization answers DELETE /api/visualizations/<id>: it goes, with
// the widgets that show it.
func (s *Server) deleteVisualization(c *echo.Context) error {
	v, err := s.loadVisualization(c)
	if err != nil {
		return err
	}
	if err := s.store.DeleteVisualization(c.Request().Context(), v.ID); err != nil {
		return notFoundIf(err, "visualization %d not found", v.ID)
	}
	s.keys.forget() // dashboard keys may no longer reach its query
	return c.NoContent(http.StatusNoContent)
}
