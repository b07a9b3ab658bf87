package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/queryd/queryd/cache"
	"github.com/queryd/queryd/drivers"
	"github.com/queryd/queryd/store"
)

// Config configures a Worker.
type Config struct {
	Concurrency       int           // tasks run at once by this process
	Limits            Limits        // query timeout and retries
	TaskCheckInterval time.Duration // how often idle queues are polled
	HeartbeatInterval time.Duration // how often running jobs are marked alive and checked for cancels
	ShutdownTimeout   time.Duration // how long running tasks may finish on shutdown before they are requeued
	Reconcile         ReconcileConfig
}

// Worker runs tasks from Redis and keeps their jobs' rows up to date.
type Worker struct {
	cfg     Config
	store   *store.Store
	server  *asynq.Server
	handler *queryHandler
	recon   *reconciler
	log     *slog.Logger
}

// New returns a Worker. rdb is shared and stays open after the Worker stops.
func New(cfg Config, rdb redis.UniversalClient, st *store.Store, storage *cache.Storage, registry *drivers.Registry, log *slog.Logger) *Worker {
	server := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:              cfg.Concurrency,
		Queues:                   queuePriorities,
		TaskCheckInterval:        cfg.TaskCheckInterval,
		DelayedTaskCheckInterval: time.Second,
		ShutdownTimeout:          cfg.ShutdownTimeout,
		RetryDelayFunc:           retryDelay,
		// Waiting for a data source's slot is not a failure: it does not
		// use up the task's retries.
		IsFailure: func(err error) bool { return !errors.Is(err, errNoSlot) },
		Logger:    asynqLogger{log.With("component", "asynq")},
		LogLevel:  asynq.WarnLevel,
	})
	conns := newConns(registry)
	return &Worker{
		cfg:    cfg,
		store:  st,
		server: server,
		handler: &queryHandler{
			store:   st,
			storage: storage,
			conns:   conns,
			slots:   &slots{rdb: rdb, lease: cfg.Reconcile.StaleAfter},
			running: newRunning(),
			limits:  cfg.Limits,
			log:     log,
		},
		recon: &reconciler{
			store:     st,
			client:    NewClient(rdb, cfg.Limits),
			inspector: asynq.NewInspectorFromRedisClient(rdb),
			conns:     conns,
			cfg:       cfg.Reconcile,
			log:       log,
		},
		log: log,
	}
}

// retryDelay backs off 2, 4, 8 … seconds, capped at a minute: connection
// failures are worth a quick second try. A task waiting for a data source's
// slot tries again soon.
func retryDelay(n int, err error, _ *asynq.Task) time.Duration {
	if errors.Is(err, errNoSlot) {
		return noSlotDelay
	}
	d := time.Duration(1<<min(n+1, 6)) * time.Second
	return min(d, time.Minute)
}

// Run processes tasks until ctx is done, then shuts down: it stops taking
// tasks, lets running ones finish for ShutdownTimeout, and hands the rest back
// to the queue. It returns an error if the worker could not start.
func (w *Worker) Run(ctx context.Context) error {
	mux := asynq.NewServeMux()
	mux.Handle(TypeQuery, w.handler)
	if err := w.server.Start(mux); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	w.log.Info("worker started", "concurrency", w.cfg.Concurrency)

	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { w.watchCancels(bgCtx) })
	wg.Go(func() { w.recon.run(bgCtx) })

	<-ctx.Done()
	// Heartbeats go on while tasks drain, so their jobs are not taken for dead.
	w.server.Shutdown()
	stopBackground()
	wg.Wait()
	w.handler.conns.close()
	w.log.Info("worker stopped")
	return nil
}

// watchCancels stops running jobs whose cancel was requested: at once when
// the cancel notification arrives, and at the next heartbeat otherwise (a
// notification sent while the listener reconnects is not lost).
func (w *Worker) watchCancels(ctx context.Context) {
	beat := make(chan struct{}, 1)
	poke := func() {
		select {
		case beat <- struct{}{}:
		default:
		}
	}
	go func() {
		err := w.store.Listen(ctx, []string{store.ChannelJobCancel},
			func(_, jobID string) { w.handler.running.cancel(jobID) }, poke, nil)
		if err != nil && ctx.Err() == nil {
			w.log.Error("listen for cancels", "error", err)
		}
	}()
	t := time.NewTicker(w.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-beat:
		}
		held := w.handler.running.held()
		if len(held) == 0 {
			continue
		}
		if err := w.handler.slots.renew(ctx, held); err != nil && ctx.Err() == nil {
			w.log.Error("renew data source slots", "error", err)
		}
		cancelled, err := w.store.Heartbeat(ctx, slices.Collect(maps.Keys(held)))
		if err != nil {
			if ctx.Err() == nil {
				w.log.Error("heartbeat running jobs", "error", err)
			}
			continue
		}
		for _, id := range cancelled {
			w.handler.running.cancel(id)
		}
	}
}

// asynqLogger routes asynq's logs to slog.
type asynqLogger struct{ log *slog.Logger }

func (l asynqLogger) Debug(args ...any) { l.log.Debug(fmt.Sprint(args...)) }
func (l asynqLogger) Info(args ...any)  { l.log.Info(fmt.Sprint(args...)) }
func (l asynqLogger) Warn(args ...any)  { l.log.Warn(fmt.Sprint(args...)) }
func (l asynqLogger) Error(args ...any) { l.log.Error(fmt.Sprint(args...)) }
func (l asynqLogger) Fatal(args ...any) { l.log.Error(fmt.Sprint(args...)) }
