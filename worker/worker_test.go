package worker

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/queryd/queryd/cache"
	"github.com/queryd/queryd/drivers"
	"github.com/queryd/queryd/drivers/drivertest"
	"github.com/queryd/queryd/store"
	"github.com/queryd/queryd/store/storetest"
	"github.com/queryd/queryd/worker/workertest"
)

// fixture is a store, a private Redis and a fake warehouse registered as
// "fake", with one data source on it.
type fixture struct {
	t       *testing.T
	store   *store.Store
	rdb     *redis.Client
	fake    *drivertest.Fake
	reg     *drivers.Registry
	dsID    int64
	user    int64
	storage *cache.Storage
}

func newFixture(t *testing.T, options string) *fixture {
	t.Helper()
	st, _ := storetest.New(t)
	opt, err := redis.ParseURL(workertest.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	storage, err := cache.OpenStorage(context.Background(), "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { storage.Close() })
	f := &fixture{t: t, store: st, rdb: rdb, fake: drivertest.NewFake(), reg: drivers.NewRegistry(), storage: storage}
	f.reg.Register("fake", f.fake)
	ctx := context.Background()
	ds, err := st.CreateDataSource(ctx, "warehouse", "fake", json.RawMessage(options))
	if err != nil {
		t.Fatal(err)
	}
	u, _, err := st.CreateUser(ctx, "w@example.com", "", false)
	if err != nil {
		t.Fatal(err)
	}
	f.dsID, f.user = ds.ID, u.ID
	return f
}

func testConfig() Config {
	return Config{
		Concurrency:       4,
		Limits:            Limits{QueryTimeout: time.Minute, MaxRetry: 1},
		TaskCheckInterval: 10 * time.Millisecond,
		HeartbeatInterval: 100 * time.Millisecond,
		ShutdownTimeout:   200 * time.Millisecond,
		Reconcile: ReconcileConfig{
			Interval:     100 * time.Millisecond,
			PendingAfter: 300 * time.Millisecond,
			StaleAfter:   600 * time.Millisecond,
			MaxAttempts:  2,
		},
	}
}

// start runs a worker with cfg until the returned stop is called or the
// test ends.
func (f *fixture) start(cfg Config) (stop func()) {
	f.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := New(cfg, f.rdb, f.store, f.storage, f.reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var stopped bool
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			f.t.Errorf("Run: %v", err)
		}
	}
	f.t.Cleanup(stop)
	return stop
}

// job records a query job for sql and enqueues it unless enqueue is false.
func (f *fixture) job(sql string, enqueue bool) string {
	f.t.Helper()
	j, _, err := f.store.CreateQueryJob(context.Background(), store.Job{
		Kind: "query", DataSourceID: f.dsID, QueryHash: cache.Hash(sql), QueryText: sql, UserID: f.user,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	if enqueue {
		if err := NewClient(f.rdb, testConfig().Limits).EnqueueQuery(context.Background(), j.ID); err != nil {
			f.t.Fatal(err)
		}
	}
	return j.ID
}

// waitStatus waits until job id reaches status want.
func (f *fixture) waitStatus(id string, want store.JobStatus) store.Job {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		j, err := f.store.Job(context.Background(), id)
		if err != nil {
			f.t.Fatal(err)
		}
		if j.Status == want {
			return j
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("job %s in status %d (error %q), want %d", id, j.Status, j.Error, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestQueryJobStoresResult(t *testing.T) {
	f := newFixture(t, `{}`)
	f.start(testConfig())
	id := f.job("rows 2500", true)
	j := f.waitStatus(id, store.JobSucceeded)
	r, err := f.store.QueryResult(context.Background(), *j.QueryResultID)
	if err != nil {
		t.Fatal(err)
	}
	if r.RowCount != 2500 || len(r.Columns) != 7 || r.Bytes == 0 || r.Checksum == "" {
		t.Errorf("result = %+v, want 2500 rows of 7 columns with bytes and checksum", r)
	}
	csv, err := f.storage.OpenCSV(context.Background(), r.StorageKey)
	if err != nil {
		t.Fatalf("OpenCSV(%s): %v", r.StorageKey, err)
	}
	defer csv.Close()
	b, _ := io.ReadAll(csv)
	if lines := strings.Count(string(b), "\r\n"); lines != 2501 || int64(len(b)) != r.Bytes {
		t.Errorf("CSV has %d lines and %d bytes, want 2501 lines and %d bytes", lines, len(b), r.Bytes)
	}
}

func TestWarehouseErrorFailsWithoutRetry(t *testing.T) {
	f := newFixture(t, `{}`)
	f.start(testConfig())
	j := f.waitStatus(f.job("fail permission denied for table secrets", true), store.JobFailed)
	if j.Error != "permission denied for table secrets" || j.Attempts != 1 {
		t.Errorf("job = error %q after %d attempts, want the warehouse's message after 1", j.Error, j.Attempts)
	}
}

func TestConnectionErrorIsRetriedThenFails(t *testing.T) {
	f := newFixture(t, `{"fail_open": true}`)
	f.start(testConfig())
	j := f.waitStatus(f.job("rows 1", true), store.JobFailed)
	if j.Attempts != 2 || j.Error == "" {
		t.Errorf("job = %d attempts, error %q; want 2 attempts (MaxRetry 1) and the connection error", j.Attempts, j.Error)
	}
}

func TestQueryTimeout(t *testing.T) {
	f := newFixture(t, `{}`)
	cfg := testConfig()
	cfg.Limits.QueryTimeout = 300 * time.Millisecond
	f.start(cfg)
	id := f.job("sleep 1m", true)
	j := f.waitStatus(id, store.JobFailed)
	if !strings.Contains(j.Error, "exceeded the execution time limit of 300ms") {
		t.Errorf("error = %q, want the time limit", j.Error)
	}
	if f.fake.Running("sleep 1m") {
		t.Error("the statement still runs after the timeout")
	}
}

func TestDeadWorkersJobIsRerun(t *testing.T) {
	f := newFixture(t, `{}`)
	ctx := context.Background()
	// A worker claimed the job and died: the row says started, nobody beats.
	id := f.job("rows 3", false)
	if _, err := f.store.ClaimJob(ctx, id); err != nil {
		t.Fatal(err)
	}
	f.start(testConfig())
	j := f.waitStatus(id, store.JobSucceeded)
	if j.Attempts != 2 {
		t.Errorf("attempts = %d, want 2 (the dead one and the re-run)", j.Attempts)
	}
}

func TestDeadWorkersCancelledJobEndsCancelled(t *testing.T) {
	f := newFixture(t, `{}`)
	ctx := context.Background()
	id := f.job("rows 3", false)
	if _, err := f.store.ClaimJob(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.RequestCancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	f.start(testConfig())
	if j := f.waitStatus(id, store.JobCancelled); j.Error != store.CancelledMessage {
		t.Errorf("error = %q, want %q", j.Error, store.CancelledMessage)
	}
}

func TestJobThatKillsWorkersGivesUp(t *testing.T) {
	f := newFixture(t, `{}`)
	ctx := context.Background()
	id := f.job("rows 3", false)
	for range 2 { // MaxAttempts claims, each by a worker that died
		if _, err := f.store.ClaimJob(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := f.store.RequeueJob(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.store.ClaimJob(ctx, id); err != nil {
		t.Fatal(err)
	}
	f.start(testConfig())
	if j := f.waitStatus(id, store.JobFailed); !strings.Contains(j.Error, "interrupted 3 times") {
		t.Errorf("error = %q, want the give-up message", j.Error)
	}
}

func TestShutdownHandsRunningJobBack(t *testing.T) {
	f := newFixture(t, `{}`)
	stop := f.start(testConfig())
	id := f.job("sleep 1500ms", true)
	f.waitStatus(id, store.JobStarted)
	stop() // ShutdownTimeout 200ms: the job cannot finish in time
	if j := f.waitStatus(id, store.JobPending); j.Attempts != 1 {
		t.Errorf("attempts = %d after shutdown, want 1", j.Attempts)
	}
	f.start(testConfig())
	f.waitStatus(id, store.JobSucceeded)
}

func TestPendingJobWithArchivedTaskRunsAgain(t *testing.T) {
	f := newFixture(t, `{}`)
	id := f.job("rows 2", true)
	// Its task was archived (say, retries exhausted while PostgreSQL was
	// down) though the job is still pending.
	if err := asynq.NewInspectorFromRedisClient(f.rdb).ArchiveTask(QueueQueries, id); err != nil {
		t.Fatal(err)
	}
	f.start(testConfig())
	f.waitStatus(id, store.JobSucceeded)
}

func TestDeadWorkersStatementIsCancelledInWarehouse(t *testing.T) {
	f := newFixture(t, `{}`)
	ctx := context.Background()
	// The dead worker's statement still runs in the warehouse.
	conn, err := f.fake.Open(ctx, json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ids := make(chan string, 1)
	orphan := make(chan error, 1)
	go func() {
		orphan <- drivertest.Drain(drivers.WithQueryIDFunc(ctx, func(id string) { ids <- id }), conn, "sleep 1m -- orphan")
	}()
	queryID := <-ids

	id := f.job("rows 1", false)
	if _, err := f.store.ClaimJob(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := f.store.SetWarehouseQueryID(ctx, id, queryID); err != nil {
		t.Fatal(err)
	}
	f.start(testConfig())
	select {
	case err := <-orphan:
		if err == nil || err == io.EOF {
			t.Errorf("orphaned statement ended with %v, want it cancelled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the dead worker's statement still runs 10s later")
	}
	f.waitStatus(id, store.JobSucceeded)
}
