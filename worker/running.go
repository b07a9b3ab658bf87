package worker

import (
	"context"
	"errors"
	"sync"
)

// errCancelledByUser is the cause given to a running job's context when a
// user cancels it.
var errCancelledByUser = errors.New("cancelled by user")

// running tracks the jobs this process is executing, so a cancel request
// arriving by notification or heartbeat can stop them.
type running struct {
	mu   sync.Mutex
	jobs map[string]context.CancelCauseFunc
}

func newRunning() *running {
	return &running{jobs: make(map[string]context.CancelCauseFunc)}
}

func (r *running) add(id string, cancel context.CancelCauseFunc) {
	r.mu.Lock()
	r.jobs[id] = cancel
	r.mu.Unlock()
}

func (r *running) remove(id string) {
	r.mu.Lock()
	delete(r.jobs, id)
	r.mu.Unlock()
}

// cancel stops job id if it runs here.
func (r *running) cancel(id string) {
	r.mu.Lock()
	cancel := r.jobs[id]
	r.mu.Unlock()
	if cancel != nil {
		cancel(errCancelledByUser)
	}
}

func (r *running) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]string, 0, len(r.jobs))
	for id := range r.jobs {
		ids = append(ids, id)
	}
	return ids
}
