// Package worker runs queryd's jobs: it defines the task types and their
// payloads, the client that enqueues them on asynq, the handlers that execute
// them on the warehouses, and the reconciler that keeps PostgreSQL's job rows
// and Redis's queues in step so that no accepted job is lost or stuck.
package worker

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// Task types.
const (
	// TypeQuery executes a query job and stores its result.
	TypeQuery = "query:run"
)

// Queues, highest weight first.
const (
	// QueueQueries carries interactive query executions.
	QueueQueries = "queries"
	// QueueScheduled carries scheduled refreshes, served after interactive
	// executions but never starved by them.
	QueueScheduled = "scheduled"
)

// queuePriorities weighs the queues a worker serves.
var queuePriorities = map[string]int{QueueQueries: 6, QueueScheduled: 2}

// queryQueues are the queues a query job's task may be on.
var queryQueues = []string{QueueQueries, QueueScheduled}

// queryPayload names the job to run; the job row in PostgreSQL holds the rest.
type queryPayload struct {
	JobID string `json:"job_id"`
}

// newQueryTask returns the task for jobID on queue. taskID is the job ID on
// the first enqueue; a recovery enqueue uses a derived ID so it does not
// collide with a task Redis may still hold for a dead worker.
func newQueryTask(jobID, taskID, queue string, timeout time.Duration, maxRetry int) (*asynq.Task, error) {
	b, err := json.Marshal(queryPayload{JobID: jobID})
	if err != nil {
		return nil, fmt.Errorf("encode query payload: %w", err)
	}
	return asynq.NewTask(TypeQuery, b,
		asynq.TaskID(taskID),
		asynq.Queue(queue),
		asynq.MaxRetry(maxRetry),
		// asynq's own timeout is a backstop: the handler enforces the query
		// timeout itself so it can record why the job ended.
		asynq.Timeout(timeout+time.Minute),
	), nil
}
