package worker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/queryd/queryd/drivers"
	"github.com/queryd/queryd/store"
)

// errNoSlot means the job's data source runs as many statements as it may:
// the task waits in Redis, the job stays pending, the worker takes other
// work. It does not count against the task's retries.
var errNoSlot = errors.New("data source at its concurrency limit")

// noSlotDelay is how long a task that found no slot waits before it tries
// again.
const noSlotDelay = 500 * time.Millisecond

// slots is a cluster-wide counting semaphore per data source in Redis: a
// sorted set of the jobs holding a slot, scored by when their lease ends.
// Leases are renewed while a job runs and lapse when its worker dies.
type slots struct {
	rdb   redis.UniversalClient
	lease time.Duration
}

func slotsKey(dataSourceID int64) string {
	return "queryd:ds:" + strconv.FormatInt(dataSourceID, 10) + ":slots"
}

// acquireSlot drops lapsed leases, then gives job a slot if fewer than
// ARGV[3] are held (or renews the one it holds). It returns 1 or 0.
var acquireSlot = redis.NewScript(`
local now, expires, limit, job = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], job) or redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], expires, job)
  redis.call('PEXPIREAT', KEYS[1], expires)
  return 1
end
return 0`)

// acquire takes a slot of data source dsID for job, if one is free.
func (s *slots) acquire(ctx context.Context, dsID int64, job string, limit int) (bool, error) {
	now := time.Now()
	ok, err := acquireSlot.Run(ctx, s.rdb, []string{slotsKey(dsID)},
		now.UnixMilli(), now.Add(s.lease).UnixMilli(), limit, job).Int()
	if err != nil {
		return false, fmt.Errorf("acquire a slot of data source %d: %w", dsID, err)
	}
	return ok == 1, nil
}

// renew extends the leases of running jobs, by data source, and the life of
// their sets.
func (s *slots) renew(ctx context.Context, held map[string]int64) error {
	expires := time.Now().Add(s.lease)
	pipe := s.rdb.Pipeline()
	for job, dsID := range held {
		pipe.ZAddXX(ctx, slotsKey(dsID), redis.Z{Score: float64(expires.UnixMilli()), Member: job})
		pipe.PExpireAt(ctx, slotsKey(dsID), expires)
	}
	_, err := pipe.Exec(ctx)
	return err
}

// release frees job's slot.
func (s *slots) release(ctx context.Context, dsID int64, job string) error {
	return s.rdb.ZRem(ctx, slotsKey(dsID), job).Err()
}

// concurrencyLimit is how many statements data source ds may run at once:
// its max_concurrent_queries option, or the driver's default.
func concurrencyLimit(ds store.DataSource, d drivers.Driver) int {
	if n, err := ds.MaxConcurrentQueries(); err == nil && n > 0 {
		return n
	}
	if n := drivers.DialectOf(d).DefaultConcurrency; n > 0 {
		return n
	}
	return drivers.ANSI.DefaultConcurrency
}
