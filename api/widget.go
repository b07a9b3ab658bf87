package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/queryd/queryd/store"
)

// widgetJSON is Redash's widget object. A text widget has no visualization;
// a widget whose query the caller cannot see is restricted: no text, no
// visualization.
type widgetJSON struct {
	ID            int64              `json:"id"`
	Width         int                `json:"width"`
	Options       json.RawMessage    `json:"options"`
	DashboardID   int64              `json:"dashboard_id"`
	Text          *string            `json:"text,omitempty"`
	UpdatedAt     string             `json:"updated_at"`
	CreatedAt     string             `json:"created_at"`
	Visualization *visualizationJSON `json:"visualization,omitempty"`
	Restricted    bool               `json:"restricted,omitempty"`
}

// newWidgetJSON is w as k sees it; a visualization widget needs its
// Visualization with its Query, as store.DashboardWidgets fills them.
func newWidgetJSON(k caller, w store.Widget) widgetJSON {
	out := widgetJSON{
		ID: w.ID, Width: w.Width, Options: w.Options, DashboardID: w.DashboardID,
		UpdatedAt: redashTime(w.UpdatedAt), CreatedAt: redashTime(w.CreatedAt),
	}
	if w.VisualizationID != nil {
		v := w.Visualization
		if v == nil || v.Query == nil || !k.canSeeQuery(*v.Query) {
			out.Restricted = true
			return out
		}
		vj := newVisualizationJSON(*v, v.Query)
		out.Visualization = &vj
	}
	out.Text = &w.Text
	return out
}

// widgetBody is the body of create and update; absent fields are
// unchanged. DashboardID and VisualizationID are read on create only.
type widgetBody struct {
	DashboardID     *int64          `json:"dashboard_id"`
	VisualizationID *int64          `json:"visualization_id"`
	Text            *string         `json:"text"`
	Width           *int            `json:"width"`
	Options         json.RawMessage `json:"options"`
}

// apply copies b's text, width and options onto w and checks them.
func (b widgetBody) apply(w *store.Widget) error {
	if b.Text != nil {
		w.Text = *b.Text
	}
	if b.Width != nil {
		if *b.Width < 1 {
			return badRequest("width must be a whole number from 1, not %d", *b.Width)
		}
		w.Width = *b.Width
	}
	if b.Options != nil {
		options, err := parseObject(b.Options, "options")
		if err != nil {
			return err
		}
		w.Options = options
	}
	return nil
}

// editableDashboard returns dashboard id if the caller may see and edit it.
func (s *Server) editableDashboard(c *echo.Context, id int64) (store.Dashboard, error) {
	d, err := s.store.Dashboard(c.Request().Context(), id)
	k := currentCaller(c)
	if err == nil && !k.canSeeDashboard(d) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Dashboard{}, notFoundIf(err, "dashboard %d not found", id)
	}
	return d, k.mayEditDashboard(d)
}

// widgetVisualization returns visualization id with its query, if the
// caller may see that query.
func (s *Server) widgetVisualization(c *echo.Context, id int64) (store.Visualization, error) {
	ctx := c.Request().Context()
	v, err := s.store.Visualization(ctx, id)
	if err == nil {
		var q store.Query
		q, err = s.store.Query(ctx, v.QueryID)
		if err == nil && !currentCaller(c).canSeeQuery(q) {
			err = store.ErrNotFound
		}
		v.Query = &q
	}
	if err != nil {
		return store.Visualization{}, notFoundIf(err, "visualization %d not found", id)
	}
	return v, nil
}

// createWidget answers POST /api/widgets: a visualization, or a text, added
// to a dashboard by its editors.
func (s *Server) createWidget(c *echo.Context) error {
	var b widgetBody
	if err := decodeBody(c, &b, false); err != nil {
		return err
	}
	if b.DashboardID == nil {
		return badRequest("dashboard_id is required: the dashboard to add the widget to")
	}
	d, err := s.editableDashboard(c, *b.DashboardID)
	if err != nil {
		return err
	}
	w := store.Widget{DashboardID: d.ID, Width: 1}
	if err := b.apply(&w); err != nil {
		return err
	}
	if b.VisualizationID != nil {
		v, err := s.widgetVisualization(c, *b.VisualizationID)
		if err != nil {
			return err
		}
		w.VisualizationID, w.Visualization = &v.ID, &v
	} else if w.Text == "" {
		return badRequest("a widget needs visualization_id (the visualization to show) or text")
	}
	vis := w.Visualization
	w, err = s.store.CreateWidget(c.Request().Context(), w)
	if err != nil {
		return notFoundIf(err, "dashboard or visualization not found")
	}
	w.Visualization = vis
	s.keys.forget() // the dashboard's key may reach another query now
	return c.JSON(http.StatusOK, newWidgetJSON(currentCaller(c), w))
}

// loadWidget returns the widget the path parameter id names, if the caller
// may edit its dashboard.
func (s *Server) loadWidget(c *echo.Context) (store.Widget, error) {
	id, err := idParam(c, "id")
	if err != nil {
		return store.Widget{}, err
	}
	w, err := s.store.Widget(c.Request().Context(), id)
	if err != nil {
		return store.Widget{}, notFoundIf(err, "widget %d not found", id)
	}
	if _, err := s.editableDashboard(c, w.DashboardID); err != nil {
		return store.Widget{}, err
	}
	return w, nil
}

// updateWidget answers POST /api/widgets/<id>: its text, width and options.
func (s *Server) updateWidget(c *echo.Context) error {
	w, err := s.loadWidget(c)
	if err != nil {
		return err
	}
	var b widgetBody
	if err := decodeBody(c, &b, false); err != nil {
		return err
	}
	if err := b.apply(&w); err != nil {
		return err
	}
	w, err = s.store.UpdateWidget(c.Request().Context(), w)
	if err != nil {
		return notFoundIf(err, "widget %d not found", w.ID)
	}
	if w.VisualizationID != nil {
		v, err := s.widgetVisualization(c, *w.VisualizationID)
		var apiErr *Error
		if err != nil && !errors.As(err, &apiErr) {
			return err
		}
		if err == nil {
			w.Visualization = &v
		}
	}
	return c.JSON(http.StatusOK, newWidgetJSON(currentCaller(c), w))
}

// deleteWidget answers DELETE /api/widgets/<id>.
func (s *Server) deleteWidget(c *echo.Context) error {
	w, err := s.loadWidget(c)
	if err != nil {
		return err
	}
	if err := s.store.DeleteWidget(c.Request().Context(), w.ID); err != nil {
		return notFoundIf(err, "widget %d not found", w.ID)
	}
	s.keys.forget() // the dashboard's key may no longer reach its query
	return c.NoContent(http.StatusNoContent)
}
