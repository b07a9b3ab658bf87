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
	Options json.RawMessage
	Tags    []string
	// IsArchived queries are hidden from lists and never scheduled.
	IsArchived bool
	IsDraft    bool
	// Version counts saved edits, for optimistic locking of updates.
	Version int
	// APIKey reads this query and its results only; "" until one is made.
	APIKey           string
	LastModifiedByID *int64
	// Schedule is the refresh schedule as JSON, nil for none.
	Schedule         json.RawMessage
	ScheduleFailures int
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// DefaultQueryOptions are the options of a query saved without any, as
// PostgreSQL's jsonb writes them.
var DefaultQueryOptions = json.RawMessage(`{"parameters": []}`)

const queryColumns = `queries.id, queries.name, queries.description, queries.query, queries.query_hash,
	queries.data_source_id, queries.user_id, queries.latest_query_data_id, queries.options, queries.tags,
	queries.is_archived, queries.is_draft, queries.version, queries.api_key_sealed, queries.last_modified_by_id,
	queries.schedule, queries.schedule_failures, queries.created_at, queries.updated_at`

// queryFields are the scan targets of queryColumns; sealedKey receives the
// sealed API key for openQuery.
func queryFields(q *Query, sealedKey *[]byte) []any {
	return []any{&q.ID, &q.Name, &q.Description, &q.Query, &q.QueryHash, &q.DataSourceID, &q.UserID,
		&q.LatestQueryDataID, &q.Options, &q.Tags, &q.IsArchived, &q.IsDraft, &q.Version, sealedKey,
		&q.LastModifiedByID, &q.Schedule, &q.ScheduleFailures, &q.CreatedAt, &q.UpdatedAt}
}

// openQuery unseals q's API key.
func (s *Store) openQuery(q *Query, sealedKey []byte) error {
	if sealedKey == nil {
		return nil
	}
	key, err := s.sealer.open(sealedKey)
	if err != nil {
		return fmt.Errorf("api key of query %d: %w", q.ID, err)
	}
	q.APIKey = string(key)
	return nil
}

func (s *Store) scanQuery(row pgx.Row) (Query, error) {
	var q Query
	var sealedKey []byte
	if err := row.Scan(queryFields(&q, &sealedKey)...); err != nil {
		return Query{}, err
	}
	return q, s.openQuery(&q, sealedKey)
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

// CreateQuery records q with a new API key (its ID, LatestQueryDataID, APIKey
// and timestamps are ignored) and links it to the newest existing result of its data source and
// hash, if any. A missing data source or user gives ErrNotFound.
func (s *Store) CreateQuery(ctx context.Context, q Query) (Query, error) {
	options, err := queryOptions(q)
	if err != nil {
		return Query{}, fmt.Errorf("create query: %w", err)
	}
	key := newAPIKey()
	created, err := s.scanQuery(s.pool.QueryRow(ctx, `
		INSERT INTO queries (name, description, query, query_hash, data_source_id, user_id, options,
			api_key_hash, api_key_sealed, latest_query_data_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, `+latestResultID("$5", "$4")+`)
		RETURNING `+queryColumns, q.Name, q.Description, q.Query, q.QueryHash, q.DataSourceID, q.UserID, options,
		hashAPIKey(key), s.sealer.seal([]byte(key))))
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
	q, err := s.scanQuery(s.pool.QueryRow(ctx, `SELECT `+queryColumns+` FROM queries WHERE id = $1`, id))
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
	all, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Query, error) { return s.scanQuery(row) })
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
	updated, err := s.scanQuery(s.pool.QueryRow(ctx, `
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
		SELECT `+queryColumns+`,
			r.id, r.data_source_id, r.query_hash, r.query, r.columns, r.row_count, r.bytes, r.runtime,
			r.retrieved_at, r.storage_key, r.checksum
		FROM queries LEFT JOIN LATERAL (
			SELECT * FROM query_results r
			WHERE r.data_source_id = queries.data_source_id AND r.query_hash = queries.query_hash
				AND ($2::bigint < 0 OR r.retrieved_at >= now() - $2::bigint * interval '1 microsecond')
			ORDER BY r.retrieved_at DESC LIMIT 1
		) r ON true
		WHERE queries.id = $1`, id, window)
	var q Query
	var sealedKey []byte
	var r struct {
		id, ds, rows, bytes *int64
		hash, query, key    *string
		checksum            *string
		cols                []byte
		runtime             *float64
		retrievedAt         *time.Time
	}
	err := row.Scan(append(queryFields(&q, &sealedKey),
		&r.id, &r.ds, &r.hash, &r.query, &r.cols, &r.rows, &r.bytes, &r.runtime, &r.retrievedAt, &r.key, &r.checksum)...)
	if err == nil {
		err = s.openQuery(&q, sealedKey)
	}
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

// QueryByAPIKey returns the query, not archived, whose own API key is key.
// Any other key gives ErrNotFound.
func (s *Store) QueryByAPIKey(ctx context.Context, key string) (Query, error) {
	q, err := s.scanQuery(s.pool.QueryRow(ctx, `
		SELECT `+queryColumns+` FROM queries WHERE api_key_hash = $1 AND NOT is_archived`, hashAPIKey(key)))
	if errors.Is(err, pgx.ErrNoRows) {
		return Query{}, fmt.Errorf("query by api key: %w", ErrNotFound)
	}
	if err != nil {
		return Query{}, fmt.Errorf("query by api key: %w", err)
	}
	return q, nil
}

// RegenerateQueryAPIKey gives query id a new API key; the old one stops
// working. A missing query gives ErrNotFound.
func (s *Store) RegenerateQueryAPIKey(ctx context.Context, id int64) (Query, error) {
	key := newAPIKey()
	q, err := s.scanQuery(s.pool.QueryRow(ctx, `
		UPDATE queries SET api_key_hash = $2, api_key_sealed = $3, updated_at = now() WHERE id = $1
		RETURNING `+queryColumns, id, hashAPIKey(key), s.sealer.seal([]byte(key))))
	if errors.Is(err, pgx.ErrNoRows) {
		return Query{}, fmt.Errorf("regenerate api key of query %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Query{}, fmt.Errorf("regenerate api key of query %d: %w", id, err)
	}
	return q, nil
}
