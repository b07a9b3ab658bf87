// Package store is queryd's system of record in PostgreSQL: users and API
// keys, data sources (options encrypted at rest), queries, jobs and query
// result metadata. Rows of results live in result files (package cache).
//
// Not-found is ErrNotFound, never a nil record. A state change is one guarded
// UPDATE … WHERE id = $1 AND status = …; a lost race returns ErrConflict.
package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Errors the store returns; callers test them with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
)

// Notification channels. Payloads are job IDs.
const (
	// ChannelJobDone is notified when a job reaches 3, 4 or 5.
	ChannelJobDone = "queryd_job_done"
	// ChannelJobCancel is notified when a cancel is requested for a job.
	ChannelJobCancel = "queryd_job_cancel"
)

// Store holds the connection pool and the key that seals data source options.
type Store struct {
	pool   *pgxpool.Pool
	sealer *sealer
}

// New returns a Store over pool. secretKey (QUERYD_SECRET_KEY) derives the key
// that encrypts data source options; it must be at least 32 bytes. New does
// not migrate the schema (see Migrate) nor touch the database.
func New(pool *pgxpool.Pool, secretKey string) (*Store, error) {
	sl, err := newSealer(secretKey)
	if err != nil {
		return nil, err
	}
	return &Store{pool: pool, sealer: sl}, nil
}

// Open connects to databaseURL, checks PostgreSQL answers and returns a Store
// (see New). The caller closes it.
func Open(ctx context.Context, databaseURL, secretKey string) (*Store, error) {
	sl, err := newSealer(secretKey)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	s := &Store{pool: pool, sealer: sl}
	if err := s.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Pool exposes the pool for listeners and health checks.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping checks PostgreSQL is reachable.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// Close closes the pool.
func (s *Store) Close() { s.pool.Close() }

// PostgreSQL error codes the store translates into its sentinels.
const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
)

// pgCode returns err's SQLSTATE, or "" if err is not from PostgreSQL.
func pgCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// deleteByID deletes the row of table (a name from our own code, never
// input) with id; noun names it in errors. Missing gives ErrNotFound.
func (s *Store) deleteByID(ctx context.Context, table, noun string, id int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM `+table+` WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete %s %d: %w", noun, id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete %s %d: %w", noun, id, ErrNotFound)
	}
	return nil
}
