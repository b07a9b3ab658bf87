package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ScheduleKind is what a scheduled run refreshes.
type ScheduleKind string

// Kinds of scheduled runs.
const (
	ScheduleQuery     ScheduleKind = "query"
	ScheduleDashboard ScheduleKind = "dashboard"
)

// Scheduled is a query or dashboard the scheduler considers: not archived,
// with a schedule (and, for a query, a data source).
type Scheduled struct {
	ID int64
	// Schedule is the stored schedule, as ParseQuerySchedule or
	// ParseDashboardSchedule reads it.
	Schedule json.RawMessage
	// Failures counts the scheduled runs in a row that failed (for a
	// dashboard, whose submission failed).
	Failures int
	// UpdatedAt is when the object, and so its schedule, last changed: the
	// "created" of a schedule that never ran.
	UpdatedAt time.Time
	// LastRunAt is when its last scheduled run started; zero if none did.
	LastRunAt time.Time
}

const scheduledQueries = `
	SELECT q.id, q.schedule, q.schedule_failures, q.updated_at, r.started_at
	FROM queries q LEFT JOIN LATERAL (
		SELECT started_at FROM schedule_runs
		WHERE kind = 'query' AND object_id = q.id
		ORDER BY started_at DESC LIMIT 1
	) r ON true
	WHERE q.schedule IS NOT NULL AND NOT q.is_archived
		AND q.schedule <> 'null'::jsonb AND q.data_source_id IS NOT NULL
	ORDER BY q.id`

// ScheduledQueries returns, by ID, every query that is not archived and has
// a schedule (not null) and a data source, with when its last scheduled run
// started.
func (s *Store) ScheduledQueries(ctx context.Context) ([]Scheduled, error) {
	return s.scheduled(ctx, scheduledQueries, "scheduled queries")
}

// scheduled runs sql, which selects id, schedule, failures, updated_at
// and last run, and collects its rows; what names them in errors.
func (s *Store) scheduled(ctx context.Context, sql, what string) ([]Scheduled, error) {
	rows, err := s.pool.Query(ctx, sql)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Scheduled, error) {
		var o Scheduled
		var last *time.Time
		err := row.Scan(&o.ID, &o.Schedule, &o.Failures, &o.UpdatedAt, &last)
		if last != nil {
			o.LastRunAt = *last
		}
		return o, err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

const scheduledDashboards = `
	SELECT d.id, d.refresh_schedule, d.refresh_failures, d.updated_at, r.started_at
	FROM dashboards d LEFT JOIN LATERAL (
		SELECT started_at FROM schedule_runs
		WHERE kind = 'dashboard' AND object_id = d.id
		ORDER BY started_at DESC LIMIT 1
	) r ON true
	WHERE d.refresh_schedule IS NOT NULL AND NOT d.is_archived AND d.refresh_schedule <> 'null'::jsonb
	ORDER BY d.id`

// ScheduledDashboards returns, by ID, every dashboard that is not archived
// and has a refresh schedule (not null), with when its last scheduled refresh
// started.
func (s *Store) ScheduledDashboards(ctx context.Context) ([]Scheduled, error) {
	return s.scheduled(ctx, scheduledDashboards, "scheduled dashboards")
}

// ClaimScheduleRun records that the run of object id of kind due at due
// starts at started, and reports whether this call recorded it: false when
// that run was claimed already, by this scheduler or another, so that a due
// run fires once however many schedulers see it.
func (s *Store) ClaimScheduleRun(ctx context.Context, kind ScheduleKind, id int64, due, started time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO schedule_runs (kind, object_id, due_at, started_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (kind, object_id, due_at) DO NOTHING`, kind, id, due, started)
	if err != nil {
		return false, fmt.Errorf("claim scheduled run of %s %d due %s: %w", kind, id, due.Format(time.RFC3339), err)
	}
	return tag.RowsAffected() == 1, nil
}

// SetScheduleRunJob records how the claimed run of object id of kind due at
// due was submitted: the job that runs it, or errMsg when submitting failed
// (jobID ""). For a query, a failed submission counts as a failed run
// (schedule_failures + 1), and a job that has ended already counts as its
// outcome does: success resets schedule_failures to 0 and makes its result
// the query's latest, failure adds one, cancel leaves it. A job that ends
// later is counted by CompleteJob and FailJob; either way each run counts
// once. For a dashboard, only the submission counts: a failed one (errMsg
// set) adds one to refresh_failures, any other resets it to 0; how the
// refresh's jobs end is their queries' business. A run not claimed, or a
// missing job, gives ErrNotFound.
func (s *Store) SetScheduleRunJob(ctx context.Context, kind ScheduleKind, id int64, due time.Time, jobID, errMsg string) error {
	op := fmt.Sprintf("set job of scheduled run of %s %d due %s", kind, id, due.Format(time.RFC3339))
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var status JobStatus
		var resultID *int64
		if jobID != "" {
			// The lock orders this with the job's end: either the job ends
			// after this commits, and its end sees the run, or it ended
			// before, and this sees how.
			err := tx.QueryRow(ctx, `SELECT status, query_result_id FROM jobs WHERE id = $1 FOR SHARE`, jobID).
				Scan(&status, &resultID)
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("no job %q: %w", jobID, ErrNotFound)
			}
			if err != nil {
				return err
			}
		}
		var job *string
		if jobID != "" {
			job = &jobID
		}
		tag, err := tx.Exec(ctx, `
			UPDATE schedule_runs SET job_id = $4, error = $5
			WHERE kind = $1 AND object_id = $2 AND due_at = $3`, kind, id, due, job, errMsg)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("run not claimed: %w", ErrNotFound)
		}
		if kind == ScheduleDashboard {
			_, err = tx.Exec(ctx, `
				UPDATE dashboards SET refresh_failures = CASE WHEN $2 THEN refresh_failures + 1 ELSE 0 END
				WHERE id = $1`, id, errMsg != "")
			return err
		}
		if kind != ScheduleQuery {
			return nil
		}
		switch {
		case errMsg != "" || status == JobFailed:
			_, err = tx.Exec(ctx, `UPDATE queries SET schedule_failures = schedule_failures + 1 WHERE id = $1`, id)
		case status == JobSucceeded:
			_, err = tx.Exec(ctx, `
				UPDATE queries SET schedule_failures = 0, latest_query_data_id = coalesce($2, latest_query_data_id)
				WHERE id = $1`, id, resultID)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// LastScheduleRun returns when the last scheduled run of object id of kind
// started and why its submission failed ("" if it did not); ok is false
// when it never ran.
func (s *Store) LastScheduleRun(ctx context.Context, kind ScheduleKind, id int64) (started time.Time, errMsg string, ok bool, err error) {
	err = s.pool.QueryRow(ctx, `
		SELECT started_at, error FROM schedule_runs WHERE kind = $1 AND object_id = $2
		ORDER BY started_at DESC LIMIT 1`, kind, id).Scan(&started, &errMsg)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, "", false, nil
	}
	if err != nil {
		return time.Time{}, "", false, fmt.Errorf("last scheduled run of %s %d: %w", kind, id, err)
	}
	return started, errMsg, true, nil
}

// scheduledQueriesOfJob selects the IDs of the queries whose scheduled runs
// job $1 serves; schedule_runs_job_id_idx makes it cheap for every job.
const scheduledQueriesOfJob = `SELECT object_id FROM schedule_runs WHERE job_id = $1 AND kind = 'query'`

// SchedulerLock is a PostgreSQL session holding the scheduler's advisory
// lock: while it lives, no other scheduler on the same database and schema
// leads.
type SchedulerLock struct {
	conn *pgxpool.Conn
}

// TrySchedulerLock takes the scheduler's advisory lock (one per schema) on a
// connection of the pool that it keeps until Release. ok is false, with no
// error, when another session holds the lock.
func (s *Store) TrySchedulerLock(ctx context.Context) (lock *SchedulerLock, ok bool, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("scheduler lock: %w", err)
	}
	var schema string
	if err := conn.QueryRow(ctx, `SELECT coalesce(current_schema(), '')`).Scan(&schema); err != nil {
		conn.Release()
		return nil, false, fmt.Errorf("scheduler lock: %w", err)
	}
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, schedulerLockID(schema)).Scan(&ok); err != nil {
		conn.Release()
		return nil, false, fmt.Errorf("scheduler lock: %w", err)
	}
	if !ok {
		conn.Release()
		return nil, false, nil
	}
	return &SchedulerLock{conn: conn}, true, nil
}

// Check reports whether the lock is still held: an error means its session
// is gone, and with it the lock. The caller then Releases it.
func (l *SchedulerLock) Check(ctx context.Context) error {
	if err := l.conn.Ping(ctx); err != nil {
		return fmt.Errorf("scheduler lock lost: %w", err)
	}
	return nil
}

// Release gives the lock up, at once when its session is alive, and closes
// the session, whose end releases every lock it held.
func (l *SchedulerLock) Release(ctx context.Context) {
	// A closed session's locks go only when its backend has exited, after
	// Close returns: unlocking first lets another scheduler lead at once.
	l.conn.Exec(ctx, `SELECT pg_advisory_unlock_all()`)
	l.conn.Conn().Close(ctx)
	l.conn.Release() // a closed connection leaves the pool
}

// schedulerLockID is the advisory lock of the scheduler of schema, like
// migrationLockID one per schema so that schemas (one per test) have a
// leader each.
func schedulerLockID(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("queryd scheduler " + schema))
	return int64(h.Sum64())
}
