package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Visualization shows the result of one saved query: a table, a chart, …
type Visualization struct {
	ID          int64
	QueryID     int64
	Type        string
	Name        string
	Description string
	// Options is a JSON object, the client's; empty stores {}. It comes back
	// as PostgreSQL's jsonb writes it.
	Options   json.RawMessage
	CreatedAt time.Time
	UpdatedAt time.Time
	// Query is the visualization's query, filled by DashboardWidgets only.
	Query *Query
}

const visualizationColumns = `visualizations.id, visualizations.query_id, visualizations.type, visualizations.name,
	visualizations.description, visualizations.options, visualizations.created_at, visualizations.updated_at`

func scanVisualization(row pgx.Row) (Visualization, error) {
	var v Visualization
	err := row.Scan(&v.ID, &v.QueryID, &v.Type, &v.Name, &v.Description, &v.Options, &v.CreatedAt, &v.UpdatedAt)
	return v, err
}

// jsonObject returns raw as the text to store, {} when empty, checking that
// it is JSON.
func jsonObject(raw json.RawMessage, what string) (string, error) {
	if len(raw) == 0 {
		return "{}", nil
	}
	if !json.Valid(raw) {
		return "", fmt.Errorf("%s are not JSON", what)
	}
	return string(raw), nil
}

// CreateVisualization records v (its ID and timestamps are ignored). A
// missing query gives ErrNotFound.
func (s *Store) CreateVisualization(ctx context.Context, v Visualization) (Visualization, error) {
	options, err := jsonObject(v.Options, "options")
	if err != nil {
		return Visualization{}, fmt.Errorf("create visualization: %w", err)
	}
	created, err := scanVisualization(s.pool.QueryRow(ctx, `
		INSERT INTO visualizations (query_id, type, name, description, options)
		VALUES ($1, $2, $3, $4, $5::jsonb)
		RETURNING `+visualizationColumns, v.QueryID, v.Type, v.Name, v.Description, options))
	if pgCode(err) == foreignKeyViolation {
		return Visualization{}, fmt.Errorf("create visualization: no query %d: %w", v.QueryID, ErrNotFound)
	}
	if err != nil {
		return Visualization{}, fmt.Errorf("create visualization: %w", err)
	}
	return created, nil
}

// Visualization returns the visualization with id. Missing gives ErrNotFound.
func (s *Store) Visualization(ctx context.Context, id int64) (Visualization, error) {
	v, err := scanVisualization(s.pool.QueryRow(ctx,
		`SELECT `+visualizationColumns+` FROM visualizations WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Visualization{}, fmt.Errorf("visualization %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Visualization{}, fmt.Errorf("visualization %d: %w", id, err)
	}
	return v, nil
}

// QueryVisualizations returns the visualizations of query id, oldest
// first.
func (s *Store) QueryVisualizations(ctx context.Context, id int64) ([]Visualization, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+visualizationColumns+` FROM visualizations
		WHERE query_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("visualizations of query %d: %w", id, err)
	}
	vs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Visualization, error) { return scanVisualization(row) })
	if err != nil {
		return nil, fmt.Errorf("visualizations of query %d: %w", id, err)
	}
	return vs, nil
}

// UpdateVisualization sets the type, name, description and options of
// visualization v.ID (never its query) and bumps its updated_at. Missing
// gives ErrNotFound.
func (s *Store) UpdateVisualization(ctx context.Context, v Visualization) (Visualization, error) {
	options, err := jsonObject(v.Options, "options")
	if err != nil {
		return Visualization{}, fmt.Errorf("update visualization %d: %w", v.ID, err)
	}
	updated, err := scanVisualization(s.pool.QueryRow(ctx, `
		UPDATE visualizations SET type = $2, name = $3, description = $4, options = $5::jsonb, updated_at = now()
		WHERE id = $1
		RETURNING `+visualizationColumns, v.ID, v.Type, v.Name, v.Description, options))
	if errors.Is(err, pgx.ErrNoRows) {
		return Visualization{}, fmt.Errorf("update visualization %d: %w", v.ID, ErrNotFound)
	}
	if err != nil {
		return Visualization{}, fmt.Errorf("update visualization %d: %w", v.ID, err)
	}
	return updated, nil
}

// DeleteVisualization deletes visualization id and the widgets that show
// it. Missing gives ErrNotFound.
func (s *Store) DeleteVisualization(ctx context.Context, id int64) error {
	return s.deleteByID(ctx, "visualizations", "visualization", id)
}
