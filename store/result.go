package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/queryd/queryd/drivers"
)

// QueryResult describes one stored result of running a query: its rows
// live in a CSV file under StorageKey (package cache).
type QueryResult struct {
	ID           int64
	DataSourceID int64
	QueryHash    string
	Query        string // the executed text
	Columns      []drivers.Column
	RowCount     int64
	Bytes        int64   // size of the CSV file
	Runtime      float64 // seconds
	RetrievedAt  time.Time
	StorageKey   string // key prefix in result storage
	Checksum     string // sha256 hex of the CSV file
}

// column is how query_results.columns stores a drivers.Column, whose own JSON
// form leaves out DatabaseType.
type column struct {
	Name         string             `json:"name"`
	Type         drivers.ColumnType `json:"type"`
	DatabaseType string             `json:"database_type"`
}

func marshalColumns(cols []drivers.Column) string {
	rows := make([]column, len(cols))
	for i, c := range cols {
		rows[i] = column(c)
	}
	b, _ := json.Marshal(rows) // strings only: cannot fail
	return string(b)
}

func unmarshalColumns(b []byte) ([]drivers.Column, error) {
	var rows []column
	if err := json.Unmarshal(b, &rows); err != nil {
		return nil, fmt.Errorf("columns: %w", err)
	}
	cols := make([]drivers.Column, len(rows))
	for i, r := range rows {
		cols[i] = drivers.Column(r)
	}
	return cols, nil
}

const queryResultColumns = `id, data_source_id, query_hash, query, columns, row_count, bytes, runtime,
	retrieved_at, storage_key, checksum`

func scanQueryResult(row pgx.Row) (QueryResult, error) {
	var r QueryResult
	var cols []byte
	err := row.Scan(&r.ID, &r.DataSourceID, &r.QueryHash, &r.Query, &cols, &r.RowCount, &r.Bytes, &r.Runtime,
		&r.RetrievedAt, &r.StorageKey, &r.Checksum)
	if err != nil {
		return QueryResult{}, err
	}
	if r.Columns, err = unmarshalColumns(cols); err != nil {
		return QueryResult{}, fmt.Errorf("query result %d: %w", r.ID, err)
	}
	return r, nil
}

// QueryResult returns the result with id. Missing gives ErrNotFound.
func (s *Store) QueryResult(ctx context.Context, id int64) (QueryResult, error) {
	r, err := scanQueryResult(s.pool.QueryRow(ctx, `SELECT `+queryResultColumns+` FROM query_results WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return QueryResult{}, fmt.Errorf("query result %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return QueryResult{}, fmt.Errorf("query result %d: %w", id, err)
	}
	return r, nil
}

// LatestQueryResult returns the newest result of (dataSourceID, hash)
// retrieved within maxAge of now; maxAge < 0 means any age. None gives
// ErrNotFound. It is one index lookup, fit for the hot path.
func (s *Store) LatestQueryResult(ctx context.Context, dataSourceID int64, hash string, maxAge time.Duration) (QueryResult, error) {
	var row pgx.Row
	if maxAge < 0 {
		row = s.pool.QueryRow(ctx, `
			SELECT `+queryResultColumns+` FROM query_results
			WHERE data_source_id = $1 AND query_hash = $2
			ORDER BY retrieved_at DESC LIMIT 1`, dataSourceID, hash)
	} else {
		row = s.pool.QueryRow(ctx, `
			SELECT `+queryResultColumns+` FROM query_results
			WHERE data_source_id = $1 AND query_hash = $2 AND retrieved_at >= now() - $3::bigint * interval '1 microsecond'
			ORDER BY retrieved_at DESC LIMIT 1`, dataSourceID, hash, maxAge.Microseconds())
	}
	r, err := scanQueryResult(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return QueryResult{}, fmt.Errorf("latest query result of data source %d: %w", dataSourceID, ErrNotFound)
	}
	if err != nil {
		return QueryResult{}, fmt.Errorf("latest query result of data source %d: %w", dataSourceID, err)
	}
	return r, nil
}
