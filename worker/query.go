package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/queryd/queryd/cache"
	"github.com/queryd/queryd/drivers"
	"github.com/queryd/queryd/store"
)

// queryHandler executes query jobs: claim the job, run its SQL, stream the
// rows into result files, record the result. Running a task twice never
// produces two results for one job: the claim and the completion are guarded
// updates, and result files are written under a fresh key that only a
// successful completion makes reachable.
type queryHandler struct {
	store   *store.Store
	storage *cache.Storage
	conns   *conns
	slots   *slots
	running *running
	limits  Limits
	log     *slog.Logger
	// beforeClaim, when set (in tests), runs between taking the slot and
	// claiming the job: where another delivery may claim it first.
	beforeClaim func(jobID string)
}

// storeTimeout bounds the bookkeeping writes made after a job's own context
// has ended.
const storeTimeout = 10 * time.Second

func (h *queryHandler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	var p queryPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.JobID == "" {
		return fmt.Errorf("decode query payload %q: %v: %w", t.Payload(), err, asynq.SkipRetry)
	}
	log := h.log.With("job_id", p.JobID)

	job, err := h.store.Job(ctx, p.JobID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		log.Warn("job to run does not exist; dropping its task")
		return nil
	case err != nil:
		return fmt.Errorf("load job %s: %w", p.JobID, err)
	case job.Status != store.JobPending:
		// Done (or cancelled while pending), or running under another
		// delivery of the same job.
		log.Debug("job not pending; skipping", "status", int(job.Status))
		return nil
	}
	ds, err := h.store.DataSource(ctx, job.DataSourceID)
	if err != nil {
		return h.retryOrFail(ctx, log, job.ID, fmt.Errorf("data source %d: %w", job.DataSourceID, err))
	}
	d, err := h.conns.registry.Driver(ds.Type)
	if err != nil {
		return h.fail(ctx, log, job.ID, err.Error())
	}
	ok, err := h.slots.acquire(ctx, ds.ID, job.ID, concurrencyLimit(ds, d))
	if err != nil {
		return err
	}
	if !ok {
		return errNoSlot // wait in Redis, not in a worker slot
	}
	// The slot is the job's, whichever delivery took it: only the delivery
	// that claims the job, or one that finds nobody running it, gives it up.
	release := func() {
		bg, done := background(ctx)
		defer done()
		if err := h.slots.release(bg, ds.ID, p.JobID); err != nil {
			log.Warn("release data source slot; its lease will lapse", "error", err)
		}
	}

	if h.beforeClaim != nil {
		h.beforeClaim(p.JobID)
	}
	job, err = h.store.ClaimJob(ctx, p.JobID)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrConflict):
		// Deleted, cancelled or claimed since it was loaded: another
		// delivery running it keeps the slot.
		if now, lerr := h.store.Job(ctx, p.JobID); lerr != nil || now.Status != store.JobStarted {
			release()
		}
		return nil
	case err != nil:
		release()
		return fmt.Errorf("claim job %s: %w", p.JobID, err)
	}
	defer release()
	log = log.With("data_source_id", job.DataSourceID, "attempt", job.Attempts)
	log.Info("query started")

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	h.running.add(job.ID, ds.ID, cancel)
	defer h.running.remove(job.ID)
	runCtx, cancelTimeout := context.WithTimeoutCause(runCtx, h.limits.QueryTimeout, errQueryTimeout)
	defer cancelTimeout()

	started := time.Now()
	runCtx = drivers.WithJobID(drivers.WithQueryIDFunc(runCtx, func(queryID string) {
		h.recordQueryID(ctx, log, job.ID, queryID)
	}), job.ID)
	res, err := h.execute(runCtx, job, ds)
	return h.record(ctx, runCtx, log, job.ID, res, time.Since(started), err)
}

// record ends job jobID as its execution turned out: succeeded with res,
// cancelled, timed out, failed, or handed back to the queue. ctx is the
// task's context and runCtx the execution's.
func (h *queryHandler) record(ctx, runCtx context.Context, log *slog.Logger, jobID string, res store.QueryResult, elapsed time.Duration, err error) error {
	bg, done := background(ctx)
	defer done()
	if err == nil {
		res.Runtime = elapsed.Seconds()
		saved, err := h.store.CompleteJob(bg, jobID, res)
		if err != nil {
			h.discard(bg, log, res.StorageKey)
			if errors.Is(err, store.ErrConflict) {
				// Cancelled while the last rows were written.
				return h.finishCancelled(bg, log, jobID)
			}
			return h.retryOrFail(ctx, log, jobID, fmt.Errorf("record result: %w", err))
		}
		log.Info("query succeeded", "query_result_id", saved.ID, "rows", saved.RowCount,
			"bytes", saved.Bytes, "duration_ms", elapsed.Milliseconds())
		return nil
	}

	cause := context.Cause(runCtx)
	var qerr *drivers.QueryError
	var oerr *drivers.OptionsError
	switch {
	case errors.Is(cause, errCancelledByUser):
		return h.finishCancelled(bg, log, jobID)
	case errors.Is(cause, errQueryTimeout):
		return h.fail(ctx, log, jobID, fmt.Sprintf("Query exceeded the execution time limit of %s.", h.limits.QueryTimeout))
	case ctx.Err() != nil:
		// The worker is shutting down or lost its lease: hand the job back so
		// the next delivery of the task runs it again.
		if rerr := h.store.RequeueJob(bg, jobID); rerr != nil && !errors.Is(rerr, store.ErrConflict) {
			log.Error("requeue interrupted job", "error", rerr)
		}
		log.Info("query interrupted; job back to pending", "error", ctx.Err())
		return ctx.Err()
	case errors.As(err, &qerr):
		return h.fail(ctx, log, jobID, qerr.Message)
	case errors.As(err, &oerr):
		return h.fail(ctx, log, jobID, err.Error())
	default:
		return h.retryOrFail(ctx, log, jobID, err)
	}
}

var errQueryTimeout = errors.New("query timeout")

// execute runs job's SQL on ds and writes its rows to result files. It
// returns the result to record, without ID and runtime.
func (h *queryHandler) execute(ctx context.Context, job store.Job, ds store.DataSource) (store.QueryResult, error) {
	conn, err := h.conns.get(ctx, ds)
	if err != nil {
		return store.QueryResult{}, err
	}
	rows, err := conn.Query(ctx, job.QueryText)
	if err != nil {
		return store.QueryResult{}, err
	}
	defer rows.Close()

	key := resultKey(time.Now())
	w, err := h.storage.NewWriter(ctx, key, rows.Columns())
	if err != nil {
		return store.QueryResult{}, err
	}
	defer w.Abort()
	dest := make([]any, len(rows.Columns()))
	for {
		err := rows.Next(dest)
		if err == io.EOF {
			break
		}
		if err != nil {
			return store.QueryResult{}, err
		}
		if err := w.WriteRow(dest); err != nil {
			return store.QueryResult{}, fmt.Errorf("write result: %w", err)
		}
	}
	if err := rows.Close(); err != nil {
		return store.QueryResult{}, err
	}
	sum, err := w.Close()
	if err != nil {
		return store.QueryResult{}, fmt.Errorf("write result: %w", err)
	}
	return store.QueryResult{
		DataSourceID: job.DataSourceID,
		QueryHash:    job.QueryHash,
		Query:        job.QueryText,
		Columns:      w.Columns(),
		RowCount:     sum.Rows,
		Bytes:        sum.CSVBytes,
		RetrievedAt:  time.Now(),
		StorageKey:   key,
		Checksum:     sum.Checksum,
	}, nil
}

// resultKey is a fresh storage key, grouped by day for housekeeping.
func resultKey(now time.Time) string {
	return "results/" + now.UTC().Format("2006/01/02") + "/" + uuid.NewString()
}

// fail records msg as the job's error. The task is not retried.
func (h *queryHandler) fail(ctx context.Context, log *slog.Logger, jobID, msg string) error {
	bg, done := background(ctx)
	defer done()
	if err := h.store.FailJob(bg, jobID, msg); err != nil && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("record failure of job %s: %w", jobID, err)
	}
	log.Info("query failed", "error", msg)
	return fmt.Errorf("%s: %w", msg, asynq.SkipRetry)
}

// retryOrFail hands the job back for asynq to retry err, or fails it when no
// retries are left.
func (h *queryHandler) retryOrFail(ctx context.Context, log *slog.Logger, jobID string, err error) error {
	n, _ := asynq.GetRetryCount(ctx)
	max, _ := asynq.GetMaxRetry(ctx)
	if n >= max {
		return h.fail(ctx, log, jobID, err.Error())
	}
	bg, done := background(ctx)
	defer done()
	if rerr := h.store.RequeueJob(bg, jobID); rerr != nil && !errors.Is(rerr, store.ErrConflict) {
		return fmt.Errorf("requeue job %s: %w (after %w)", jobID, rerr, err)
	}
	log.Warn("query failed; will retry", "error", err, "retry", n+1, "max_retry", max)
	return err
}

func (h *queryHandler) finishCancelled(ctx context.Context, log *slog.Logger, jobID string) error {
	if err := h.store.FinishCancelled(ctx, jobID); err != nil && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("record cancel of job %s: %w", jobID, err)
	}
	log.Info("query cancelled")
	return nil
}

// recordQueryID records the warehouse's id of the statement job runs, so a
// cancel can reach it from any process. Failing to record it costs only that.
func (h *queryHandler) recordQueryID(ctx context.Context, log *slog.Logger, jobID, queryID string) {
	bg, done := background(ctx)
	defer done()
	if err := h.store.SetWarehouseQueryID(bg, jobID, queryID); err != nil {
		log.Warn("record warehouse query id", "warehouse_query_id", queryID, "error", err)
	}
}

func (h *queryHandler) discard(ctx context.Context, log *slog.Logger, key string) {
	if err := h.storage.Delete(ctx, key); err != nil {
		log.Error("delete unrecorded result files", "key", key, "error", err)
	}
}

// background returns a context for bookkeeping that outlives ctx's
// cancellation but not by long.
func background(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
}
