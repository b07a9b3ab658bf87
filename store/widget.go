package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Widget is one box of a dashboard: a visualization, or a text when
// VisualizationID is nil.
type Widget struct {
	ID              int64
	DashboardID     int64
	VisualizationID *int64
	Text            string
	Width           int
	// Options is a JSON object, the client's (position, size, parameter
	// mappings…); empty stores {}. It comes back as PostgreSQL's jsonb
	// writes it.
	Options   json.RawMessage
	CreatedAt time.Time
	UpdatedAt time.Time
	// Visualization, with its Query, is filled by DashboardWidgets only.
	Visualization *Visualization
}

const widgetColumns = `widgets.id, widgets.dashboard_id, widgets.visualization_id, widgets.text, widgets.width,
	widgets.options, widgets.created_at, widgets.updated_at`

func widgetFields(w *Widget) []any {
	return []any{&w.ID, &w.DashboardID, &w.VisualizationID, &w.Text, &w.Width, &w.Options, &w.CreatedAt, &w.UpdatedAt}
}

func scanWidget(row pgx.Row) (Widget, error) {
	var w Widget
	err := row.Scan(widgetFields(&w)...)
	return w, err
}

// CreateWidget records w (its ID and timestamps are ignored). A missing
// dashboard or visualization gives ErrNotFound.
func (s *Store) CreateWidget(ctx context.Context, w Widget) (Widget, error) {
	options, err := jsonObject(w.Options, "options")
	if err != nil {
		return Widget{}, fmt.Errorf("create widget: %w", err)
	}
	created, err := scanWidget(s.pool.QueryRow(ctx, `
		INSERT INTO widgets (dashboard_id, visualization_id, text, width, options)
		VALUES ($1, $2, $3, $4, $5::jsonb)
		RETURNING `+widgetColumns, w.DashboardID, w.VisualizationID, w.Text, w.Width, options))
	if pgCode(err) == foreignKeyViolation {
		return Widget{}, fmt.Errorf("create widget: no such dashboard or visualization: %w", ErrNotFound)
	}
	if err != nil {
		return Widget{}, fmt.Errorf("create widget: %w", err)
	}
	return created, nil
}

// Widget returns the widget with id. Missing gives ErrNotFound.
func (s *Store) Widget(ctx context.Context, id int64) (Widget, error) {
	w, err := scanWidget(s.pool.QueryRow(ctx, `SELECT `+widgetColumns+` FROM widgets WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Widget{}, fmt.Errorf("widget %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Widget{}, fmt.Errorf("widget %d: %w", id, err)
	}
	return w, nil
}

// UpdateWidget sets the text, width and options of widget w.ID (never its
// dashboard or visualization) and bumps its updated_at. Missing gives
// ErrNotFound.
func (s *Store) UpdateWidget(ctx context.Context, w Widget) (Widget, error) {
	options, err := jsonObject(w.Options, "options")
	if err != nil {
		return Widget{}, fmt.Errorf("update widget %d: %w", w.ID, err)
	}
	updated, err := scanWidget(s.pool.QueryRow(ctx, `
		UPDATE widgets SET text = $2, width = $3, options = $4::jsonb, updated_at = now()
		WHERE id = $1
		RETURNING `+widgetColumns, w.ID, w.Text, w.Width, options))
	if errors.Is(err, pgx.ErrNoRows) {
		return Widget{}, fmt.Errorf("update widget %d: %w", w.ID, ErrNotFound)
	}
	if err != nil {
		return Widget{}, fmt.Errorf("update widget %d: %w", w.ID, err)
	}
	return updated, nil
}

// DeleteWidget deletes widget id. Missing gives ErrNotFound.
func (s *Store) DeleteWidget(ctx context.Context, id int64) error {
	return s.deleteByID(ctx, "widgets", "widget", id)
}

// DashboardWidgets returns the widgets of dashboard id, oldest first, each
// visualization widget with its Visualization and that visualization's
// Query (nil only if the query was deleted between the two round trips it
// takes). A missing dashboard has none.
func (s *Store) DashboardWidgets(ctx context.Context, id int64) ([]Widget, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT `+widgetColumns+`,
			v.id, v.query_id, v.type, v.name, v.description, v.options, v.created_at, v.updated_at
		FROM widgets LEFT JOIN visualizations v ON v.id = widgets.visualization_id
		WHERE widgets.dashboard_id = $1
		ORDER BY widgets.id`, id)
	if err != nil {
		return nil, fmt.Errorf("widgets of dashboard %d: %w", id, err)
	}
	widgets, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Widget, error) {
		var w Widget
		var v struct {
			id, queryID            *int64
			typ, name, description *string
			options                []byte
			createdAt, updatedAt   *time.Time
		}
		err := row.Scan(append(widgetFields(&w),
			&v.id, &v.queryID, &v.typ, &v.name, &v.description, &v.options, &v.createdAt, &v.updatedAt)...)
		if err == nil && v.id != nil {
			w.Visualization = &Visualization{ID: *v.id, QueryID: *v.queryID, Type: *v.typ, Name: *v.name,
				Description: *v.description, Options: v.options, CreatedAt: *v.createdAt, UpdatedAt: *v.updatedAt}
		}
		return w, err
	})
	if err != nil {
		return nil, fmt.Errorf("widgets of dashboard %d: %w", id, err)
	}
	var queryIDs []int64
	for _, w := range widgets {
		if w.Visualization != nil {
			queryIDs = append(queryIDs, w.Visualization.QueryID)
		}
	}
	if len(queryIDs) == 0 {
		return widgets, nil
	}
	rows, err = s.pool.Query(ctx, `SELECT `+queryColumns+queryFrom("queries")+` WHERE queries.id = ANY($1)`, queryIDs)
	if err != nil {
		return nil, fmt.Errorf("queries of dashboard %d: %w", id, err)
	}
	queries, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Query, error) { return s.scanQuery(row) })
	if err != nil {
		return nil, fmt.Errorf("queries of dashboard %d: %w", id, err)
	}
	byID := make(map[int64]*Query, len(queries))
	for i := range queries {
		byID[queries[i].ID] = &queries[i]
	}
	for _, w := range widgets {
		if w.Visualization != nil {
			w.Visualization.Query = byID[w.Visualization.QueryID]
		}
	}
	return widgets, nil
}
