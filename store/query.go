package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Query is a saved query.
type Query struct {
	ID                int64
	Name              string
	Description       string
	Query             string
	QueryHash         string // computed by the caller (package cache) and stored
	DataSourceID      *int64 // nil once its data source is deleted
	UserID            int64
	LatestQueryDataID *int64 // newest result of (DataSourceID, QueryHash), if any
	// Options is a JSON object, Redash's query options: {"parameters": […],
	// …}. The store checks only that it is JSON; empty stores
	// DefaultQueryOptions. It comes back as PostgreSQL's jsonb writes it.
	Options   json.RawMessage
	CreatedAt time.Time
	UpdatedAt time.Time
}

// DefaultQueryOptions are the options of a query saved without any, as
// PostgreSQL's jsonb writes them.
var DefaultQueryOptions = json.RawMessage(`{"parameters": []}`)

const queryColumns = `id, name, description, query, query_hash, data_source_id, user_id,
	latest_query_data_id, options, created_at, updated_at`

func scanQuery(row pgx.Row) (Query, error) {
	var q Query
	err := row.Scan(&q.ID, &q.Name, &q.Description, &q.Query, &q.QueryHash, &q.DataSourceID, &q.UserID,
		&q.LatestQueryDataID, &q.Options, &q.CreatedAt, &q.UpdatedAt)
	return q, err
}

// queryOptions returns q's options as the text to store, checking that they
// are JSON.
func queryOptions(q Query) (string, error) {
	if len(q.Options) == 0 {
		return string(DefaultQueryOptions), nil
	}
	if !json.Valid(q.Options) {
		return "", errors.New("options are not JSON")
	}
	return string(q.Options), nil
}

// latestResultID is a subquery for the newest result of (data source $ds,
// hash $hash), NULL if none; it takes the placeholders to use.
func latestResultID(ds, hash string) string {
	return `(SELECT id FROM query_results WHERE data_source_id = ` + ds + ` AND query_hash = ` + hash + `
		ORDER BY retrieved_at DESC LIMIT 1)`
}

// CreateQuery records q (its ID, LatestQueryDataID and timestamps are
// ignored) and links it to the newest existing result of its data source and
// hash, if any. A missing data source or user gives ErrNotFound.
func (s *Store) CreateQuery(ctx context.Context, q Query) (Query, error) {
	options, err := queryOptions(q)
	if err != nil {
		return Query{}, fmt.Errorf("create query: %w", err)
	}
	created, err := scanQuery(s.pool.QueryRow(ctx, `
		INSERT INTO queries (name, description, query, query_hash, data_source_id, user_id, options, latest_query_data_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, `+latestResultID("$5", "$4")+`)
		RETURNING `+queryColumns, q.Name, q.Description, q.Query, q.QueryHash, q.DataSourceID, q.UserID, options))
	if pgCode(err) == foreignKeyViolation {
		return Query{}, fmt.Errorf("create query: no such data source or user: %w", ErrNotFound)
	}
	if err != nil {
		return Query{}, fmt.Errorf("create query: %w", err)
	}
	return created, nil
}

// Query returns the saved query with id. Missing gives ErrNotFound.
func (s *Store) Query(ctx context.Context, id int64) (Query, error) {
	q, err := scanQuery(s.pool.QueryRow(ctx, `SELECT `+queryColumns+` FROM queries WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Query{}, fmt.Errorf("query %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Query{}, fmt.Errorf("query %d: %w", id, err)
	}
	return q, nil
}

// Queries returns every saved query, newest first.
func (s *Store) Queries(ctx context.Context) ([]Query, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+queryColumns+` FROM queries ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, fmt.Errorf("queries: %w", err)
	}
	all, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Query, error) { return scanQuery(row) })
	if err != nil {
		return nil, fmt.Errorf("queries: %w", err)
	}
	return all, nil
}

// UpdateQuery sets the name, description, query, query_hash, options and
// data_source_id of saved query q.ID and bumps its updated_at. If the data
// source or hash changes, LatestQueryDataID moves to the newest result of the
// new pair (nil if none), so it never points at another text's result. A
// missing query or data source gives ErrNotFound.
func (s *Store) UpdateQuery(ctx context.Context, q Query) (Query, error) {
	options, err := queryOptions(q)
	if err != nil {
		return Query{}, fmt.Errorf("update query %d: %w", q.ID, err)
	}
	updated, err := scanQuery(s.pool.QueryRow(ctx, `
		UPDATE queries SET name = $2, description = $3, query = $4, query_hash = $5, data_source_id = $6,
			options = $7::jsonb,
			latest_query_data_id = CASE
				WHEN query_hash = $5 AND data_source_id IS NOT DISTINCT FROM $6 THEN latest_query_data_id
				ELSE `+latestResultID("$6", "$5")+`
			END,
			updated_at = now()
		WHERE id = $1
		RETURNING `+queryColumns, q.ID, q.Name, q.Description, q.Query, q.QueryHash, q.DataSourceID, options))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return Query{}, fmt.Errorf("update query %d: %w", q.ID, ErrNotFound)
	case pgCode(err) == foreignKeyViolation:
		return Query{}, fmt.Errorf("update query %d: no such data source: %w", q.ID, ErrNotFound)
	case err != nil:
		return Query{}, fmt.Errorf("update query %d: %w", q.ID, err)
	}
	return updated, nil
}

// QueryWithLatestResult returns the saved query with id and, in the same
// round trip, the newest result of its stored text — (DataSourceID,
// QueryHash) — retrieved within maxAge of now (maxAge < 0: any age), or nil
// if none qualifies. It serves cache hits of saved queries without
// parameters. Missing gives ErrNotFound.
func (s *Store) QueryWithLatestResult(ctx context.Context, id int64, maxAge time.Duration) (Query, *QueryResult, error) {
	window := maxAge.Microseconds()
	if maxAge < 0 {
		window = -1 // any age, even for windows under a microsecond
	}
	row := s.pool.QueryRow(ctx, `
		SELECT q.id, q.name, q.description, q.query, q.query_hash, q.data_source_id, q.user_id,
			q.latest_query_data_id, q.options, q.created_at, q.updated_at,
			r.id, r.data_source_id, r.query_hash, r.query, r.columns, r.row_count, r.bytes, r.runtime,
			r.retrieved_at, r.storage_key, r.checksum
		FROM queries q LEFT JOIN LATERAL (
			SELECT * FROM query_results r
			WHERE r.data_source_id = q.data_source_id AND r.query_hash = q.query_hash
				AND ($2::bigint < 0 OR r.retrieved_at >= now() - $2::bigint * interval '1 microsecond')
			ORDER BY r.retrieved_at DESC LIMIT 1
		) r ON true
		WHERE q.id = $1`, id, window)
	var q Query
	var r struct {
		id, ds, rows, bytes *int64
		hash, query, key    *string
		checksum            *string
		cols                []byte
		runtime             *float64
		retrievedAt         *time.Time
	}
	err := row.Scan(&q.ID, &q.Name, &q.Description, &q.Query, &q.QueryHash, &q.DataSourceID, &q.UserID,
		&q.LatestQueryDataID, &q.Options, &q.CreatedAt, &q.UpdatedAt,
		&r.id, &r.ds, &r.hash, &r.query, &r.cols, &r.rows, &r.bytes, &r.runtime, &r.retrievedAt, &r.key, &r.checksum)
	if errors.Is(err, pgx.ErrNoRows) {
		return Query{}, nil, fmt.Errorf("query %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Query{}, nil, fmt.Errorf("query %d: %w", id, err)
	}
	if r.id == nil {
		return q, nil, nil
	}
	cols, err := unmarshalColumns(r.cols)
	if err != nil {
		return Query{}, nil, fmt.Errorf("query result %d: %w", *r.id, err)
	}
	return q, &QueryResult{
		ID: *r.id, DataSourceID: *r.ds, QueryHash: *r.hash, Query: *r.query, Columns: cols, RowCount: *r.rows,
		Bytes: *r.bytes, Runtime: *r.runtime, RetrievedAt: *r.retrievedAt, StorageKey: *r.key, Checksum: *r.checksum,
	}, nil
}
