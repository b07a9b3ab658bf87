package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// JobStatus is where a job is in its life; the numbers are Redash's.
//
//	pending (1) → started (2) → succeeded (3) | failed (4) | cancelled (5)
//	started (2) → pending (1)   when requeued
//	pending (1) → failed (4) | cancelled (5)
type JobStatus int

// Job statuses.
const (
	JobPending   JobStatus = 1
	JobStarted   JobStatus = 2
	JobSucceeded JobStatus = 3
	JobFailed    JobStatus = 4
	JobCancelled JobStatus = 5
)

// Done reports whether s is terminal: succeeded, failed or cancelled.
func (s JobStatus) Done() bool { return s == JobSucceeded || s == JobFailed || s == JobCancelled }

// String returns the status's lower-case name, e.g. "pending".
func (s JobStatus) String() string {
	switch s {
	case JobPending:
		return "pending"
	case JobStarted:
		return "started"
	case JobSucceeded:
		return "succeeded"
	case JobFailed:
		return "failed"
	case JobCancelled:
		return "cancelled"
	}
	return fmt.Sprintf("JobStatus(%d)", int(s))
}

// CancelledMessage is the Error of a job cancelled by its user.
const CancelledMessage = "Query cancelled by user."

// Job is one asynchronous run of a query.
type Job struct {
	ID              string // uuid text; also the asynq task ID
	Kind            string // "query" for now
	Status          JobStatus
	DataSourceID    int64
	QueryID         *int64 // saved query, if any
	QueryHash       string
	QueryText       string // final text to execute
	UserID          int64
	Error           string // "" when none
	QueryResultID   *int64 // set when it succeeded
	Attempts        int    // times a worker claimed it
	CancelRequested bool
	CreatedAt       time.Time
	UpdatedAt       time.Time // also when it was last requeued
	StartedAt       *time.Time
	FinishedAt      *time.Time
	HeartbeatAt     *time.Time
	// WarehouseQueryID is the warehouse's own id of the statement the job
	// runs or ran last, "" until the driver reports one.
	WarehouseQueryID string
}

const jobColumns = `id, kind, status, data_source_id, query_id, query_hash, query_text, user_id, error,
	query_result_id, attempts, cancel_requested, created_at, updated_at, started_at, finished_at, heartbeat_at,
	warehouse_query_id`

// scanJob scans a row of jobColumns followed by extra columns into extra.
func scanJob(row pgx.Row, extra ...any) (Job, error) {
	var j Job
	dest := []any{&j.ID, &j.Kind, &j.Status, &j.DataSourceID, &j.QueryID, &j.QueryHash, &j.QueryText,
		&j.UserID, &j.Error, &j.QueryResultID, &j.Attempts, &j.CancelRequested, &j.CreatedAt, &j.UpdatedAt,
		&j.StartedAt, &j.FinishedAt, &j.HeartbeatAt, &j.WarehouseQueryID}
	err := row.Scan(append(dest, extra...)...)
	return j, err
}

func scanJobs(rows pgx.Rows) ([]Job, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Job, error) { return scanJob(row) })
}

// maxCreateTries bounds CreateQueryJob's retries when the in-flight job it
// collided with finishes before it can be read.
const maxCreateTries = 5

// CreateQueryJob records j as a pending job of kind "query" (j.ID is generated
// with uuid.NewString if empty; Kind, Status and the other bookkeeping fields
// are ignored) unless a query job for the same (DataSourceID, QueryHash) is
// already pending or started: then that job is returned with created=false.
// This holds across processes. A missing data source, query or user gives
// ErrNotFound; a taken ID ErrConflict.
func (s *Store) CreateQueryJob(ctx context.Context, j Job) (job Job, created bool, err error) {
	if j.ID == "" {
		j.ID = uuid.NewString()
	}
	for range maxCreateTries {
		job, err = scanJob(s.pool.QueryRow(ctx, `
			INSERT INTO jobs (id, kind, status, data_source_id, query_id, query_hash, query_text, user_id)
			VALUES ($1, 'query', 1, $2, $3, $4, $5, $6)
			ON CONFLICT (data_source_id, query_hash) WHERE kind = 'query' AND status IN (1, 2) DO NOTHING
			RETURNING `+jobColumns,
			j.ID, j.DataSourceID, j.QueryID, j.QueryHash, j.QueryText, j.UserID))
		switch {
		case err == nil:
			return job, true, nil
		case pgCode(err) == uniqueViolation:
			return Job{}, false, fmt.Errorf("create query job: id %q is already taken: %w", j.ID, ErrConflict)
		case pgCode(err) == foreignKeyViolation:
			return Job{}, false, fmt.Errorf("create query job: no such data source, query or user: %w", ErrNotFound)
		case !errors.Is(err, pgx.ErrNoRows):
			return Job{}, false, fmt.Errorf("create query job: %w", err)
		}
		// Another job is in flight: return it, unless it just finished.
		job, err = scanJob(s.pool.QueryRow(ctx, `
			SELECT `+jobColumns+` FROM jobs
			WHERE data_source_id = $1 AND query_hash = $2 AND kind = 'query' AND status IN (1, 2)`,
			j.DataSourceID, j.QueryHash))
		if err == nil {
			return job, false, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return Job{}, false, fmt.Errorf("create query job: %w", err)
		}
	}
	return Job{}, false, fmt.Errorf("create query job: in-flight job finished %d times in a row: %w", maxCreateTries, ErrConflict)
}

// Job returns the job with id. Missing gives ErrNotFound.
func (s *Store) Job(ctx context.Context, id string) (Job, error) {
	j, err := scanJob(s.pool.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Job{}, fmt.Errorf("job %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Job{}, fmt.Errorf("job %q: %w", id, err)
	}
	return j, nil
}

// guardFailed explains why the guarded update op of job id matched no row: it
// returns ErrNotFound if the job does not exist, else the job as it is now
// with ErrConflict.
func (s *Store) guardFailed(ctx context.Context, op, id string) (Job, error) {
	j, err := s.Job(ctx, id)
	if err != nil {
		return Job{}, fmt.Errorf("%s: %w", op, err)
	}
	state := j.Status.String()
	if j.CancelRequested && !j.Status.Done() {
		state += ", cancel requested"
	}
	return j, fmt.Errorf("%s %q: job is %s: %w", op, id, state, ErrConflict)
}

// ClaimJob moves a pending job to started for a new attempt: Attempts+1,
// StartedAt and HeartbeatAt now. A job not pending, or whose cancel was
// requested, gives ErrConflict along with the job as it is, so the caller can
// see why. Missing gives ErrNotFound.
func (s *Store) ClaimJob(ctx context.Context, id string) (Job, error) {
	j, err := scanJob(s.pool.QueryRow(ctx, `
		UPDATE jobs SET status = 2, attempts = attempts + 1, started_at = now(), heartbeat_at = now(), updated_at = now()
		WHERE id = $1 AND status = 1 AND NOT cancel_requested
		RETURNING `+jobColumns, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return s.guardFailed(ctx, "claim job", id)
	}
	if err != nil {
		return Job{}, fmt.Errorf("claim job %q: %w", id, err)
	}
	return j, nil
}

// errGuard aborts a transaction whose guarded update matched no row.
var errGuard = errors.New("guard failed")

// CompleteJob records that started job id succeeded with result r, all or
// nothing: it inserts r (its DataSourceID and QueryHash are the job's; an
// empty Query becomes the job's text; a zero RetrievedAt becomes now), moves
// the job to succeeded with QueryResultID, points the job's saved query,
// every saved query of the same data source and hash and every query whose
// scheduled run the job served at r, resets the schedule_failures of the
// latter, and notifies ChannelJobDone. A job not
// started, or whose cancel was requested, gives ErrConflict and nothing is
// written. Missing gives ErrNotFound.
func (s *Store) CompleteJob(ctx context.Context, id string, r QueryResult) (QueryResult, error) {
	var result QueryResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var queryText string
		var queryID *int64
		err := tx.QueryRow(ctx, `
			UPDATE jobs SET status = 3, updated_at = now(), finished_at = now()
			WHERE id = $1 AND status = 2 AND NOT cancel_requested
			RETURNING data_source_id, query_hash, query_text, query_id`, id).Scan(&r.DataSourceID, &r.QueryHash, &queryText, &queryID)
		if errors.Is(err, pgx.ErrNoRows) {
			return errGuard
		}
		if err != nil {
			return err
		}
		if r.Query == "" {
			r.Query = queryText
		}
		var retrievedAt *time.Time
		if !r.RetrievedAt.IsZero() {
			retrievedAt = &r.RetrievedAt
		}
		result, err = scanQueryResult(tx.QueryRow(ctx, `
			INSERT INTO query_results (data_source_id, query_hash, query, columns, row_count, bytes, runtime,
				retrieved_at, storage_key, checksum)
			VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, coalesce($8, now()), $9, $10)
			RETURNING `+queryResultColumns,
			r.DataSourceID, r.QueryHash, r.Query, marshalColumns(r.Columns), r.RowCount, r.Bytes, r.Runtime,
			retrievedAt, r.StorageKey, r.Checksum))
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE jobs SET query_result_id = $2 WHERE id = $1`, id, result.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, completeJobQueries, id, result.ID, result.DataSourceID, result.QueryHash, queryID); err != nil {
			return err
		}
		if err := auditJobEnd(ctx, tx, id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, ChannelJobDone, id) // sent at commit
		return err
	})
	if errors.Is(err, errGuard) {
		_, err = s.guardFailed(ctx, "complete job", id)
		return QueryResult{}, err
	}
	if err != nil {
		return QueryResult{}, fmt.Errorf("complete job %q: %w", id, err)
	}
	return result, nil
}

// completeJobQueries points at result $2 the queries job $1 refreshes: its
// own ($5), those of the same text ($3, $4) and those whose scheduled runs it
// served, whose schedule_failures it resets. A statement after the job's
// update, it sees a run SetScheduleRunJob recorded while that update waited
// for the job's row. A union, not an OR, so that each part uses its index.
const completeJobQueries = `
	WITH scheduled AS (` + scheduledQueriesOfJob + `)
	UPDATE queries SET latest_query_data_id = $2,
		schedule_failures = CASE WHEN id IN (SELECT object_id FROM scheduled) THEN 0 ELSE schedule_failures END
	WHERE id IN (
		SELECT id FROM queries WHERE data_source_id = $3 AND query_hash = $4
		UNION ALL SELECT $5::bigint
		UNION ALL SELECT object_id FROM scheduled
	)`

// failJobQueries adds one to the schedule_failures of the queries whose
// scheduled runs failed job $1 served and notifies channel $2 (at commit).
// Like completeJobQueries, it runs after the job's update.
const failJobQueries = `
	WITH failed AS (
		UPDATE queries SET schedule_failures = schedule_failures + 1
		WHERE id IN (` + scheduledQueriesOfJob + `)
	)
	SELECT pg_notify($2, $1)`

// finish moves a pending or started job id to the terminal status with msg
// as its Error and notifies ChannelJobDone, in one statement.
func (s *Store) finish(ctx context.Context, op, id string, status JobStatus, msg string) error {
	tag, err := s.pool.Exec(ctx, `
		WITH done AS (
			UPDATE jobs SET status = $2, error = $3, updated_at = now(), finished_at = now()
			WHERE id = $1 AND status IN (1, 2)
			RETURNING id, status, error
		)`+auditEnded("done")+`
		SELECT pg_notify($4, id) FROM done`, id, status, msg, ChannelJobDone)
	if err != nil {
		return fmt.Errorf("%s %q: %w", op, id, err)
	}
	if tag.RowsAffected() == 0 {
		_, err := s.guardFailed(ctx, op, id)
		return err
	}
	return nil
}

// FailJob moves a pending or started job to failed with msg as its Error,
// records the execution in the audit log, adds one to the schedule_failures
// of every query whose scheduled run the job served, and notifies
// ChannelJobDone, all or nothing. A job already
// done gives ErrConflict; missing ErrNotFound.
func (s *Store) FailJob(ctx context.Context, id, msg string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			UPDATE jobs SET status = 4, error = $2, updated_at = now(), finished_at = now()
			WHERE id = $1 AND status IN (1, 2)`, id, msg)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errGuard
		}
		if err := auditJobEnd(ctx, tx, id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, failJobQueries, id, ChannelJobDone)
		return err
	})
	if errors.Is(err, errGuard) {
		_, err = s.guardFailed(ctx, "fail job", id)
		return err
	}
	if err != nil {
		return fmt.Errorf("fail job %q: %w", id, err)
	}
	return nil
}

// FinishCancelled moves a pending or started job to cancelled with
// CancelledMessage and notifies ChannelJobDone. A job already done gives
// ErrConflict; missing ErrNotFound.
func (s *Store) FinishCancelled(ctx context.Context, id string) error {
	return s.finish(ctx, "finish cancelled job", id, JobCancelled, CancelledMessage)
}

// RequestCancel records a user's cancel of job id and returns the job as it
// is after. A pending job goes straight to cancelled with CancelledMessage
// and ChannelJobDone is notified; a started job stays started with
// CancelRequested and ChannelJobCancel is notified so that its worker stops
// it. A job already done is returned unchanged. Missing gives ErrNotFound.
func (s *Store) RequestCancel(ctx context.Context, id string) (Job, error) {
	j, err := scanJob(s.pool.QueryRow(ctx, `
		WITH cancelled AS (
			UPDATE jobs SET cancel_requested = true,
				status = CASE WHEN status = 1 THEN 5 ELSE status END,
				error = CASE WHEN status = 1 THEN $2 ELSE error END,
				finished_at = CASE WHEN status = 1 THEN now() ELSE finished_at END,
				updated_at = now()
			WHERE id = $1 AND status IN (1, 2)
			RETURNING `+jobColumns+`
		)`+auditEnded("cancelled")+`
		SELECT `+jobColumns+`, pg_notify(CASE WHEN status = 5 THEN $3 ELSE $4 END, id) FROM cancelled`,
		id, CancelledMessage, ChannelJobDone, ChannelJobCancel), nil) // nil skips pg_notify's void
	if errors.Is(err, pgx.ErrNoRows) {
		return s.Job(ctx, id) // done already, or missing
	}
	if err != nil {
		return Job{}, fmt.Errorf("request cancel of job %q: %w", id, err)
	}
	return j, nil
}

// RequeueJob moves a started job back to pending, to run again after a
// retryable failure or a worker shutdown — or, if its cancel was requested
// meanwhile, to cancelled (notifying ChannelJobDone), since it must not run
// again. A job not started gives ErrConflict; missing ErrNotFound.
func (s *Store) RequeueJob(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `
		WITH requeued AS (
			UPDATE jobs SET status = CASE WHEN cancel_requested THEN 5 ELSE 1 END,
				error = CASE WHEN cancel_requested THEN $2 ELSE error END,
				finished_at = CASE WHEN cancel_requested THEN now() ELSE finished_at END,
				updated_at = now()
			WHERE id = $1 AND status = 2
			RETURNING id, status, error
		)`+auditEnded("requeued")+`
		SELECT CASE WHEN status = 5 THEN pg_notify($3, id) END FROM requeued`,
		id, CancelledMessage, ChannelJobDone)
	if err != nil {
		return fmt.Errorf("requeue job %q: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		_, err := s.guardFailed(ctx, "requeue job", id)
		return err
	}
	return nil
}

// Heartbeat records that the started jobs among ids are alive (HeartbeatAt =
// now) and returns, in ID order, those whose cancel was requested. IDs of
// jobs not started are ignored.
func (s *Store) Heartbeat(ctx context.Context, ids []string) (cancelRequested []string, err error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `
		WITH beat AS (
			UPDATE jobs SET heartbeat_at = now() WHERE id = ANY($1) AND status = 2
			RETURNING id, cancel_requested
		)
		SELECT id FROM beat WHERE cancel_requested ORDER BY id`, ids)
	if err != nil {
		return nil, fmt.Errorf("heartbeat: %w", err)
	}
	cancelRequested, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("heartbeat: %w", err)
	}
	return cancelRequested, nil
}

// PendingJobs returns at most limit pending jobs created or last requeued
// (UpdatedAt) more than olderThan ago, oldest first.
func (s *Store) PendingJobs(ctx context.Context, olderThan time.Duration, limit int) ([]Job, error) {
	return s.jobs(ctx, "pending jobs", `
		SELECT `+jobColumns+` FROM jobs
		WHERE status = 1 AND updated_at < now() - $1::bigint * interval '1 microsecond'
		ORDER BY updated_at, id
		LIMIT $2`, olderThan.Microseconds(), limit)
}

// StaleJobs returns at most limit started jobs whose last heartbeat is more
// than olderThan ago, stalest first: their worker is likely gone.
func (s *Store) StaleJobs(ctx context.Context, olderThan time.Duration, limit int) ([]Job, error) {
	return s.jobs(ctx, "stale jobs", `
		SELECT `+jobColumns+` FROM jobs
		WHERE status = 2 AND heartbeat_at < now() - $1::bigint * interval '1 microsecond'
		ORDER BY heartbeat_at, id
		LIMIT $2`, olderThan.Microseconds(), limit)
}

// jobs runs a query selecting jobColumns; op names it in errors.
func (s *Store) jobs(ctx context.Context, op, sql string, args ...any) ([]Job, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	jobs, err := scanJobs(rows)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return jobs, nil
}

// SetWarehouseQueryID records the warehouse's id of the statement started
// job id runs. A job not started gives ErrConflict; missing ErrNotFound.
func (s *Store) SetWarehouseQueryID(ctx context.Context, id, queryID string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE jobs SET warehouse_query_id = $2 WHERE id = $1 AND status = 2`, id, queryID)
	if err != nil {
		return fmt.Errorf("set warehouse query id of job %q: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		_, err := s.guardFailed(ctx, "set warehouse query id", id)
		return err
	}
	return nil
}
