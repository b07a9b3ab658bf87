package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/queryd/queryd/api"
	"github.com/queryd/queryd/cache"
	"github.com/queryd/queryd/drivers"
	"github.com/queryd/queryd/drivers/bigquery"
	"github.com/queryd/queryd/drivers/databricks"
	"github.com/queryd/queryd/drivers/mssql"
	"github.com/queryd/queryd/drivers/mysql"
	"github.com/queryd/queryd/drivers/postgres"
	"github.com/queryd/queryd/drivers/snowflake"
	"github.com/queryd/queryd/store"
	"github.com/queryd/queryd/worker"
)

// newRegistry registers every warehouse driver queryd ships, under Redash's
// type names.
func newRegistry() *drivers.Registry {
	r := drivers.NewRegistry()
	r.Register("pg", postgres.New())
	r.Register("redshift", postgres.NewRedshift())
	r.Register("mysql", mysql.New())
	r.Register("bigquery", bigquery.New())
	r.Register("databricks", databricks.New())
	r.Register("mssql", mssql.New())
	r.Register("snowflake", snowflake.New())
	return r
}

// Scheduled runs go on the workers' queue for them.
var _ api.ScheduledEnqueuer = (*worker.Client)(nil)

// app holds the connections every subcommand shares.
type app struct {
	cfg      Config
	log      *slog.Logger
	store    *store.Store
	rdb      *redis.Client
	storage  *cache.Storage
	registry *drivers.Registry
	// now is the scheduler's clock; nil is time.Now.
	now func() time.Time
}

// openApp connects to PostgreSQL, Redis and result storage.
func openApp(ctx context.Context, cfg Config, registry *drivers.Registry, log *slog.Logger) (*app, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, errors.New("QUERYD_DATABASE_URL is not a valid PostgreSQL URL")
	}
	pcfg.MaxConns = cfg.DatabaseMaxConns
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	st, err := store.New(pool, cfg.SecretKey)
	if err != nil {
		pool.Close()
		return nil, err
	}
	ropt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		st.Close()
		return nil, errors.New("QUERYD_REDIS_URL is not a valid Redis URL")
	}
	rdb := redis.NewClient(ropt)
	storage, err := cache.OpenStorage(ctx, cfg.ResultsURL)
	if err != nil {
		st.Close()
		rdb.Close()
		return nil, fmt.Errorf("open result storage: %w", err)
	}
	return &app{cfg: cfg, log: log, store: st, rdb: rdb, storage: storage, registry: registry}, nil
}

func (a *app) close() {
	a.storage.Close()
	a.rdb.Close()
	a.store.Close()
}

func (a *app) limits() worker.Limits {
	return worker.Limits{QueryTimeout: a.cfg.QueryTimeout, MaxRetry: a.cfg.QueryMaxRetry}
}

// newAPI returns the API server, which also submits scheduled runs.
func (a *app) newAPI() *api.Server {
	return api.New(
		api.Config{MaxWait: a.cfg.MaxWait, BodyLimit: 1 << 20, AuthCacheTTL: a.cfg.AuthCacheTTL,
			CancelledStatus: a.cfg.CancelledStatus},
		a.store, a.storage, worker.NewClient(a.rdb, a.limits()), a.registry,
		[]api.Check{
			{Name: "postgres", Check: a.store.Ping},
			{Name: "redis", Check: func(ctx context.Context) error { return a.rdb.Ping(ctx).Err() }},
			{Name: "results", Check: a.storage.Ping},
		},
		a.log,
	)
}

// serveAPI serves HTTP on ln until ctx is done, then drains in-flight
// requests for up to the shutdown timeout.
func (a *app) serveAPI(ctx context.Context, ln net.Listener) error {
	srv := a.newAPI()
	listenCtx, stopListening := context.WithCancel(context.WithoutCancel(ctx))
	defer stopListening()
	listening := make(chan struct{})
	go func() {
		if err := srv.ListenJobEvents(listenCtx, listening); err != nil && listenCtx.Err() == nil {
			a.log.Error("listen for job events", "error", err)
		}
	}()
	select {
	case <-listening:
	case <-ctx.Done():
		return nil
	}

	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	a.log.Info("api listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("drain http: %w", err)
	}
	a.log.Info("api stopped")
	return nil
}

func (a *app) newWorker() *worker.Worker {
	return worker.New(worker.Config{
		Concurrency:       a.cfg.WorkerConcurrency,
		Limits:            a.limits(),
		TaskCheckInterval: a.cfg.TaskCheckInterval,
		HeartbeatInterval: a.cfg.HeartbeatInterval,
		ShutdownTimeout:   a.cfg.ShutdownTimeout,
		Reconcile: worker.ReconcileConfig{
			Interval:     a.cfg.ReconcileInterval,
			PendingAfter: a.cfg.PendingAfter,
			StaleAfter:   a.cfg.StaleAfter,
			MaxAttempts:  a.cfg.QueryMaxRetry + 1,
		},
	}, a.rdb, a.store, a.storage, a.registry, a.log)
}

// serve runs the API (when ln is not nil) and the worker (when runWorker)
// until ctx is done. On shutdown HTTP drains first, then the worker lets
// running tasks finish or hands them back to the queue.
func (a *app) serve(ctx context.Context, ln net.Listener, runWorker bool) error {
	apiCtx, stopAPI := context.WithCancel(ctx)
	defer stopAPI()
	workerCtx, stopWorker := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWorker()

	var wg sync.WaitGroup
	errs := make([]error, 2)
	if ln != nil {
		wg.Go(func() {
			errs[0] = a.serveAPI(apiCtx, ln)
			stopWorker() // the API failed or drained: the worker goes next
		})
	}
	if runWorker {
		wg.Go(func() {
			errs[1] = a.newWorker().Run(workerCtx)
			stopAPI()
		})
	}
	go func() {
		<-ctx.Done()
		stopAPI()
		if ln == nil {
			stopWorker()
		}
	}()
	wg.Wait()
	return errors.Join(errs...)
}

// runScheduler fires due schedules, leading when no other scheduler does,
// until ctx is done. Scheduled runs are submitted through the API's
// execution path, as their queries' owners.
func (a *app) runScheduler(ctx context.Context) error {
	s := &worker.Scheduler{
		Store:     a.store,
		Submitter: a.newAPI(),
		Clock:     a.now,
		Tick:      a.cfg.SchedulerTick,
		Log:       a.log.With("component", "scheduler"),
	}
	return s.Run(ctx)
}

// serveAll runs the API on ln, a worker and the scheduler until ctx is
// done. The scheduler stops first, once the run it is firing is recorded;
// then HTTP drains and the worker finishes or hands back its tasks. If the
// scheduler cannot start, nothing runs.
func (a *app) serveAll(ctx context.Context, ln net.Listener) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var schedErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		if schedErr = a.runScheduler(ctx); schedErr != nil {
			stop()
		}
	})
	err := a.serve(ctx, ln, true)
	wg.Wait()
	return errors.Join(schedErr, err)
}
