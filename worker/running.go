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
	jobs map[string]runningJob
}

type runningJob struct {
	dataSourceID int64
	cancel       context.CancelCauseFunc
}

func newRunning() *running {
	return &running{jobs: make(map[string]runningJob)}
}

func (r *running) add(id string, dataSourceID int64, cancel context.CancelCauseFunc) {
	r.mu.Lock()
	r.jobs[id] = runningJob{dataSourceID: dataSourceID, cancel: cancel}
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
	j, ok := r.jobs[id]
	r.mu.Unlock()
	if ok {
		j.cancel(errCancelledByUser)
	}
}

// held maps the running jobs to their data sources.
func (r *running) held() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	held := make(map[string]int64, len(r.jobs))
	for id, j := range r.jobs {
		held[id] = j.dataSourceID
	}
	return held
}
