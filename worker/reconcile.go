package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/queryd/queryd/drivers"
	"github.com/queryd/queryd/store"
)

// reconciler makes PostgreSQL's job rows and Redis's queues agree, so that no
// accepted job is lost or stuck:
//   - a job pending longer than PendingAfter whose task is gone from Redis
//     (flushed, failed over) or was archived is enqueued again;
//   - a started job whose worker stopped heartbeating for StaleAfter ended
//     with its worker: it is cancelled if a cancel was requested, failed if it
//     used up its attempts, and otherwise handed back and enqueued again.
//
// Every step is a guarded update or an idempotent enqueue, so reconcilers on
// several workers may run at once.
type reconciler struct {
	store     *store.Store
	client    *Client
	inspector *asynq.Inspector
	conns     *conns
	cfg       ReconcileConfig
	log       *slog.Logger
}

// ReconcileConfig sets how often the reconciler runs and when it acts.
type ReconcileConfig struct {
	Interval     time.Duration // how often it runs
	PendingAfter time.Duration // age of a pending job before its task is checked
	StaleAfter   time.Duration // heartbeat age after which a started job's worker is taken for dead
	MaxAttempts  int           // claims a job may use up before a dead worker fails it
}

const reconcileBatch = 500

func (r *reconciler) run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		if err := r.once(ctx); err != nil && ctx.Err() == nil {
			r.log.Error("reconcile jobs", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *reconciler) once(ctx context.Context) error {
	pending, err := r.store.PendingJobs(ctx, r.cfg.PendingAfter, reconcileBatch)
	if err != nil {
		return err
	}
	for _, j := range pending {
		if err := r.ensureQueued(ctx, j); err != nil {
			return err
		}
	}
	stale, err := r.store.StaleJobs(ctx, r.cfg.StaleAfter, reconcileBatch)
	if err != nil {
		return err
	}
	for _, j := range stale {
		if err := r.recover(ctx, j); err != nil {
			return err
		}
	}
	return nil
}

// ensureQueued enqueues pending job j again unless asynq holds a live task
// for it on one of the query queues. It goes back on the queue its dead
// task was on, or QueueQueries when none is left.
func (r *reconciler) ensureQueued(ctx context.Context, j store.Job) error {
	queue := QueueQueries
	for _, q := range queryQueues {
		info, err := r.inspector.GetTaskInfo(q, j.ID)
		switch {
		case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
		case err != nil:
			return fmt.Errorf("inspect task of job %s: %w", j.ID, err)
		case info.State == asynq.TaskStateArchived || info.State == asynq.TaskStateCompleted:
			if err := r.inspector.DeleteTask(q, j.ID); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
				return fmt.Errorf("delete dead task of job %s: %w", j.ID, err)
			}
			queue = q
		default:
			return nil // pending, scheduled, retry or active: it will run
		}
	}
	if err := r.client.enqueueQuery(ctx, j.ID, j.ID, queue); err != nil {
		return err
	}
	r.log.Warn("re-enqueued pending job whose task was gone", "job_id", j.ID, "queue", queue)
	return nil
}

// recover ends or re-runs started job j whose worker died. Its statement
// may still run in the warehouse: it is cancelled there first.
func (r *reconciler) recover(ctx context.Context, j store.Job) error {
	log := r.log.With("job_id", j.ID)
	r.stopInWarehouse(ctx, log, j)
	switch {
	case j.CancelRequested:
		if err := r.store.FinishCancelled(ctx, j.ID); err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		}
		log.Warn("worker died running a cancelled job; marked cancelled")
	case j.Attempts >= r.cfg.MaxAttempts:
		msg := fmt.Sprintf("Query was interrupted %d times by worker failures; giving up.", j.Attempts)
		if err := r.store.FailJob(ctx, j.ID, msg); err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		}
		log.Warn("worker died running job; no attempts left", "attempts", j.Attempts)
	default:
		if err := r.store.RequeueJob(ctx, j.ID); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return nil
			}
			return err
		}
		// Redis may still hold the dead worker's task under the job ID until
		// asynq's own recovery runs; a derived ID runs the job now, and
		// whichever delivery comes second finds it claimed.
		if err := r.client.enqueueQuery(ctx, j.ID, j.ID+":"+strconv.Itoa(j.Attempts), QueueQueries); err != nil {
			return err
		}
		log.Warn("worker died running job; re-enqueued", "attempts", j.Attempts)
	}
	return nil
}

// stopInWarehouse cancels j's statement by the warehouse's query id, where
// the job recorded one and the driver can cancel by id. It is best effort:
// the warehouse's own timeouts remain the backstop.
func (r *reconciler) stopInWarehouse(ctx context.Context, log *slog.Logger, j store.Job) {
	if j.WarehouseQueryID == "" {
		return
	}
	ds, err := r.store.DataSource(ctx, j.DataSourceID)
	if err != nil {
		log.Warn("cancel orphaned statement: load data source", "error", err)
		return
	}
	conn, err := r.conns.get(ctx, ds)
	if err != nil {
		log.Warn("cancel orphaned statement: open data source", "error", err)
		return
	}
	c, ok := conn.(drivers.Canceler)
	if !ok {
		return
	}
	if err := c.CancelQuery(ctx, j.WarehouseQueryID); err != nil {
		log.Warn("cancel orphaned statement", "warehouse_query_id", j.WarehouseQueryID, "error", err)
		return
	}
	log.Info("cancelled orphaned statement in the warehouse", "warehouse_query_id", j.WarehouseQueryID)
}
