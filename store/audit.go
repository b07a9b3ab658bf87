package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ActorKind is who acted in an audit entry.
type ActorKind string

// Actor kinds.
const (
	ActorUser         ActorKind = "user"          // a user, through their API key
	ActorQueryKey     ActorKind = "query_key"     // the API key of one query
	ActorDashboardKey ActorKind = "dashboard_key" // the API key of one dashboard
	ActorScheduler    ActorKind = "scheduler"
	ActorCLI          ActorKind = "cli" // an operator running queryd's admin commands
)

// AuditExecute is the Action of an execution's entry. It is recorded in the
// statement or transaction that ends the job, so no ending goes unrecorded:
// CompleteJob, FailJob, FinishCancelled, RequestCancel of a pending job and
// RequeueJob of a job whose cancel was requested.
const AuditExecute = "execute"

// AuditEntry is one row of the audit log: an execution or a change. It
// never holds a request body, an API key, a password or data source options.
type AuditEntry struct {
	ID        int64
	At        time.Time
	ActorKind ActorKind
	// ActorUserID is the user who acted, nil for keys and the CLI.
	ActorUserID *int64
	// ActorObjectID is the query or dashboard of a query or dashboard key.
	ActorObjectID *int64
	// Action is AuditExecute, an API route ("POST /api/queries/:id") or a
	// command ("queryd users create").
	Action string
	// ObjectType and ObjectID name what was acted on ("query", "12").
	ObjectType string
	ObjectID   string
	// DataSourceID, QueryHash and JobID describe executions.
	DataSourceID *int64
	QueryHash    string
	JobID        string
	// Outcome is "succeeded", "failed: <error>" or "cancelled" for
	// executions and the HTTP status ("200", "403") for API requests.
	Outcome string
	// DurationMS is an execution's run time, nil if it never started.
	DurationMS *int64
	// Details is a JSON object with what else identifies the action; {} when
	// nothing does.
	Details   json.RawMessage
	RequestID string
}

const auditColumns = `id, at, actor_kind, actor_user_id, actor_object_id, action, object_type, object_id,
	data_source_id, query_hash, job_id, outcome, duration_ms, details, request_id`

func scanAuditEntry(row pgx.Row) (AuditEntry, error) {
	var e AuditEntry
	err := row.Scan(&e.ID, &e.At, &e.ActorKind, &e.ActorUserID, &e.ActorObjectID, &e.Action, &e.ObjectType,
		&e.ObjectID, &e.DataSourceID, &e.QueryHash, &e.JobID, &e.Outcome, &e.DurationMS, &e.Details, &e.RequestID)
	return e, err
}

// RecordAudit appends e to the audit log. Its ID is ignored; a zero At is
// now; empty Details is {}. An unknown ActorKind, or Details that is not a
// JSON object, is an error.
func (s *Store) RecordAudit(ctx context.Context, e AuditEntry) error {
	var at *time.Time
	if !e.At.IsZero() {
		at = &e.At
	}
	details := e.Details
	if len(details) == 0 {
		details = json.RawMessage(`{}`)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(details, &obj); err != nil || obj == nil {
		return fmt.Errorf("record audit %q: details must be a JSON object", e.Action)
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO audit_log (at, actor_kind, actor_user_id, actor_object_id, action, object_type, object_id,
			data_source_id, query_hash, job_id, outcome, duration_ms, details, request_id)
		VALUES (coalesce($1, now()), $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb, $14)`,
		at, string(e.ActorKind), e.ActorUserID, e.ActorObjectID, e.Action, e.ObjectType, e.ObjectID,
		e.DataSourceID, e.QueryHash, e.JobID, e.Outcome, e.DurationMS, string(details), e.RequestID)
	if err != nil {
		return fmt.Errorf("record audit %q: %w", e.Action, err)
	}
	return nil
}

// AuditFilter selects a page of the audit log.
type AuditFilter struct {
	// From and To bound the window: From <= At < To; zero is unbounded.
	From, To time.Time
	// After is the cursor: only entries with an ID above it.
	After int64
	// Size is the most entries returned; 0 is 100.
	Size int
}

// AuditLog returns the entries of f's window with an ID above f.After,
// oldest first by ID, at most f.Size of them. The last ID of a page is the
// cursor of the next: entries recorded meanwhile come after it.
func (s *Store) AuditLog(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	var from, to *time.Time
	if !f.From.IsZero() {
		from = &f.From
	}
	if !f.To.IsZero() {
		to = &f.To
	}
	size := f.Size
	if size <= 0 {
		size = 100
	}
	rows, err := s.pool.Query(ctx, `
		SELECT `+auditColumns+` FROM audit_log
		WHERE id > $1 AND ($2::timestamptz IS NULL OR at >= $2) AND ($3::timestamptz IS NULL OR at < $3)
		ORDER BY id
		LIMIT $4`, f.After, from, to, size)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	entries, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (AuditEntry, error) { return scanAuditEntry(row) })
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return entries, nil
}

// auditEnded is a WITH item that records, in the statement that ends them,
// the execution of each job of the WITH item ended (which returns the jobs'
// id, status and error) that reached succeeded, failed or cancelled. The
// rest of the job is read from the jobs table as the statement found it;
// the ending's time is now(), which every ending writes as finished_at.
func auditEnded(ended string) string {
	return `, ` + ended + `_audited AS (
			INSERT INTO audit_log (actor_kind, actor_user_id, action, object_type, object_id, data_source_id,
				query_hash, job_id, outcome, duration_ms, details)
			SELECT 'user', j.user_id, 'execute', 'job', j.id, j.data_source_id, j.query_hash, j.id,
				CASE e.status WHEN 3 THEN 'succeeded' WHEN 4 THEN 'failed: ' || left(e.error, 200) ELSE 'cancelled' END,
				floor(extract(epoch FROM now() - j.started_at) * 1000)::bigint,
				CASE WHEN j.query_id IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('query_id', j.query_id) END
			FROM ` + ended + ` e JOIN jobs j ON j.id = e.id
			WHERE e.status IN (3, 4, 5)
		)`
}

// auditJobEnd records, inside tx, the execution of job id if tx has ended
// it (see auditEnded).
func auditJobEnd(ctx context.Context, tx pgx.Tx, id string) error {
	_, err := tx.Exec(ctx, `WITH ended AS (SELECT id, status, error FROM jobs WHERE id = $1)`+
		auditEnded("ended")+` SELECT`, id)
	return err
}
