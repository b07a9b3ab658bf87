package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Limits shared by the client that enqueues and the server that runs jobs.
type Limits struct {
	// QueryTimeout bounds one execution of a query job.
	QueryTimeout time.Duration
	// MaxRetry is how many times a query job is retried after errors a retry
	// can fix (connection failures); warehouse errors are never retried.
	MaxRetry int
}

// Client enqueues tasks. It is safe for concurrent use.
type Client struct {
	asynq  *asynq.Client
	limits Limits
}

// NewClient returns a Client over rdb, which the caller keeps and closes.
func NewClient(rdb redis.UniversalClient, limits Limits) *Client {
	return &Client{asynq: asynq.NewClientFromRedisClient(rdb), limits: limits}
}

// EnqueueQuery enqueues the query job jobID under task ID jobID. A task that
// is already queued under that ID counts as success.
func (c *Client) EnqueueQuery(ctx context.Context, jobID string) error {
	return c.enqueueQuery(ctx, jobID, jobID, QueueQueries)
}

// EnqueueScheduledQuery is EnqueueQuery for a scheduled refresh: the task
// goes on QueueScheduled, which workers serve after interactive runs.
func (c *Client) EnqueueScheduledQuery(ctx context.Context, jobID string) error {
	return c.enqueueQuery(ctx, jobID, jobID, QueueScheduled)
}

func (c *Client) enqueueQuery(ctx context.Context, jobID, taskID, queue string) error {
	t, err := newQueryTask(jobID, taskID, queue, c.limits.QueryTimeout, c.limits.MaxRetry)
	if err != nil {
		return err
	}
	if _, err := c.asynq.EnqueueContext(ctx, t); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue job %s: %w", jobID, err)
	}
	return nil
}
