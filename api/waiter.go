package api

import (
	"context"
	"sync"
	"time"

	"github.com/queryd/queryd/store"
)

// waiters wakes requests holding for a job (hybrid wait) when the job ends.
// Completion arrives by PostgreSQL notification, from any worker.
type waiters struct {
	mu sync.Mutex
	m  map[string]map[chan struct{}]struct{}
}

func newWaiters() *waiters {
	return &waiters{m: make(map[string]map[chan struct{}]struct{})}
}

// add registers interest in job id; the channel is closed when it may have
// ended. Call the returned func to unregister.
func (w *waiters) add(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	w.mu.Lock()
	if w.m[id] == nil {
		w.m[id] = make(map[chan struct{}]struct{})
	}
	w.m[id][ch] = struct{}{}
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if set, ok := w.m[id]; ok {
			if _, ok := set[ch]; ok {
				delete(set, ch)
				if len(set) == 0 {
					delete(w.m, id)
				}
			}
		}
	}
}

// wake closes the channels waiting for job id.
func (w *waiters) wake(id string) {
	w.mu.Lock()
	set := w.m[id]
	delete(w.m, id)
	w.mu.Unlock()
	for ch := range set {
		close(ch)
	}
}

// wakeAll closes every channel, for when notifications may have been missed.
func (w *waiters) wakeAll() {
	w.mu.Lock()
	all := w.m
	w.m = make(map[string]map[chan struct{}]struct{})
	w.mu.Unlock()
	for _, set := range all {
		for ch := range set {
			close(ch)
		}
	}
}

// ListenJobEvents relays job completions to waiting requests until ctx is
// done. ready, if not nil, is closed once it listens.
func (s *Server) ListenJobEvents(ctx context.Context, ready chan<- struct{}) error {
	return s.store.Listen(ctx, []string{store.ChannelJobDone},
		func(_, id string) { s.waiters.wake(id) }, s.waiters.wakeAll, ready)
}

// waitForJob returns job id once it is done or wait has passed, whichever
// comes first.
func (s *Server) waitForJob(ctx context.Context, job store.Job, wait time.Duration) (store.Job, error) {
	if job.Status.Done() || wait <= 0 {
		return job, nil
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		ch, unregister := s.waiters.add(job.ID)
		// Re-read after registering, so an end just before it is not missed.
		j, err := s.store.Job(ctx, job.ID)
		if err != nil || j.Status.Done() {
			unregister()
			if ctx.Err() != nil {
				return job, nil
			}
			return j, err
		}
		job = j
		select {
		case <-ch:
		case <-ctx.Done():
			unregister()
			return job, nil
		}
	}
}
