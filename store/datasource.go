package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// DataSource is a warehouse queries run against.
type DataSource struct {
	ID        int64
	Name      string
	Type      string          // the driver's registered name
	Options   json.RawMessage // decrypted; encrypted at rest (column options_sealed bytea)
	CreatedAt time.Time
	UpdatedAt time.Time
}

const dataSourceColumns = `id, name, type, options_sealed, created_at, updated_at`

// scanDataSource scans a row of dataSourceColumns and unseals its options.
func (s *Store) scanDataSource(row pgx.Row) (DataSource, error) {
	var ds DataSource
	var sealed []byte
	if err := row.Scan(&ds.ID, &ds.Name, &ds.Type, &sealed, &ds.CreatedAt, &ds.UpdatedAt); err != nil {
		return DataSource{}, err
	}
	options, err := s.sealer.open(sealed)
	if err != nil {
		return DataSource{}, fmt.Errorf("options of data source %d: %w", ds.ID, err)
	}
	ds.Options = options
	return ds, nil
}

// sealOptions checks options is JSON ("{}" if empty) and seals it.
func (s *Store) sealOptions(options json.RawMessage) ([]byte, error) {
	if len(options) == 0 {
		options = json.RawMessage("{}")
	}
	if !json.Valid(options) {
		return nil, errors.New("options are not valid JSON")
	}
	return s.sealer.seal(options), nil
}

// CreateDataSource records a data source, granted in full to the builtin
// group; options are stored encrypted and default to {}. A name already taken gives ErrConflict.
func (s *Store) CreateDataSource(ctx context.Context, name, typ string, options json.RawMessage) (DataSource, error) {
	sealed, err := s.sealOptions(options)
	if err != nil {
		return DataSource{}, fmt.Errorf("create data source %q: %w", name, err)
	}
	ds, err := s.scanDataSource(s.pool.QueryRow(ctx, `
		WITH d AS (
			INSERT INTO data_sources (name, type, options_sealed) VALUES ($1, $2, $3)
			RETURNING `+dataSourceColumns+`
		), g AS (
			INSERT INTO data_source_groups (data_source_id, group_id) SELECT d.id, groups.id FROM d, groups WHERE groups.builtin
		)
		SELECT `+dataSourceColumns+` FROM d`, name, typ, sealed))
	if pgCode(err) == uniqueViolation {
		return DataSource{}, fmt.Errorf("create data source: name %q is already taken: %w", name, ErrConflict)
	}
	if err != nil {
		return DataSource{}, fmt.Errorf("create data source %q: %w", name, err)
	}
	return ds, nil
}

// DataSource returns the data source with id. Missing gives ErrNotFound.
func (s *Store) DataSource(ctx context.Context, id int64) (DataSource, error) {
	ds, err := s.scanDataSource(s.pool.QueryRow(ctx, `SELECT `+dataSourceColumns+` FROM data_sources WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return DataSource{}, fmt.Errorf("data source %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return DataSource{}, fmt.Errorf("data source %d: %w", id, err)
	}
	return ds, nil
}

// DataSources returns every data source ordered by lower(name), then id.
func (s *Store) DataSources(ctx context.Context) ([]DataSource, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+dataSourceColumns+` FROM data_sources ORDER BY lower(name), id`)
	if err != nil {
		return nil, fmt.Errorf("data sources: %w", err)
	}
	all, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (DataSource, error) { return s.scanDataSource(row) })
	if err != nil {
		return nil, fmt.Errorf("data sources: %w", err)
	}
	return all, nil
}

// UpdateDataSource sets the name, type and options of data source ds.ID and
// bumps its updated_at. A name already taken gives ErrConflict; a missing data
// source ErrNotFound.
func (s *Store) UpdateDataSource(ctx context.Context, ds DataSource) (DataSource, error) {
	sealed, err := s.sealOptions(ds.Options)
	if err != nil {
		return DataSource{}, fmt.Errorf("update data source %d: %w", ds.ID, err)
	}
	updated, err := s.scanDataSource(s.pool.QueryRow(ctx, `
		UPDATE data_sources SET name = $2, type = $3, options_sealed = $4, updated_at = now()
		WHERE id = $1
		RETURNING `+dataSourceColumns, ds.ID, ds.Name, ds.Type, sealed))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return DataSource{}, fmt.Errorf("update data source %d: %w", ds.ID, ErrNotFound)
	case pgCode(err) == uniqueViolation:
		return DataSource{}, fmt.Errorf("update data source %d: name %q is already taken: %w", ds.ID, ds.Name, ErrConflict)
	case err != nil:
		return DataSource{}, fmt.Errorf("update data source %d: %w", ds.ID, err)
	}
	return updated, nil
}

// DeleteDataSource deletes the data source with id, its jobs and its results;
// its queries stay, with no data source. Missing gives ErrNotFound.
func (s *Store) DeleteDataSource(ctx context.Context, id int64) error {
	return s.deleteByID(ctx, "data_sources", "data source", id)
}

// ConcurrencyOption is the data source option that caps how many of its
// statements run at once across all workers. Drivers ignore it.
const ConcurrencyOption = "max_concurrent_queries"

// MaxConcurrentQueries returns ds's ConcurrencyOption, or 0 when it is not
// set. A value that is not an integer from 1 to 1000 is an error saying so.
func (ds DataSource) MaxConcurrentQueries() (int, error) {
	var opts map[string]json.RawMessage
	if err := json.Unmarshal(ds.Options, &opts); err != nil {
		return 0, errors.New("options must be a JSON object")
	}
	raw, ok := opts[ConcurrencyOption]
	if !ok || string(raw) == "null" {
		return 0, nil
	}
	var n int
	if err := json.Unmarshal(raw, &n); err != nil || n < 1 || n > 1000 {
		return 0, fmt.Errorf("option %q: must be an integer from 1 to 1000, not %s", ConcurrencyOption, raw)
	}
	return n, nil
}
