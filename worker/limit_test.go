package worker

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/queryd/queryd/worker/workertest"
)

func TestSlots(t *testing.T) {
	opt, err := redis.ParseURL(workertest.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx := context.Background()
	s := &slots{rdb: rdb, lease: 300 * time.Millisecond}
	acquire := func(ds int64, job string, want bool) {
		t.Helper()
		got, err := s.acquire(ctx, ds, job, 2)
		if err != nil || got != want {
			t.Fatalf("acquire(ds %d, %s, limit 2) = %v, %v; want %v", ds, job, got, err, want)
		}
	}

	acquire(1, "a", true)
	acquire(1, "b", true)
	acquire(1, "c", false) // full
	acquire(1, "a", true)  // a holder renews its own slot
	acquire(2, "c", true)  // another data source has slots of its own
	if err := s.release(ctx, 1, "b"); err != nil {
		t.Fatal(err)
	}
	acquire(1, "c", true)
	acquire(1, "d", false)

	// Renewed leases outlive their first term; a lapsed one frees its slot.
	for range 3 {
		time.Sleep(150 * time.Millisecond)
		if err := s.renew(ctx, map[string]int64{"a": 1}); err != nil {
			t.Fatal(err)
		}
	}
	acquire(1, "d", true) // c's lease lapsed, a's did not
	acquire(1, "e", false)
}
