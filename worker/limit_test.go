package worker

import (
	"context"
	"io"
	"log/slog"
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

// TestSecondDeliveryKeepsRunningJobsSlot checks that a second delivery of a
// job, which finds it claimed by the first between taking the job's slot
// and claiming it, leaves the slot to the delivery running the job; and
// that one which finds nobody running it gives the slot up.
func TestSecondDeliveryKeepsRunningJobsSlot(t *testing.T) {
	f := newFixture(t, `{}`)
	ctx := context.Background()
	h := &queryHandler{store: f.store, storage: f.storage, conns: newConns(f.reg),
		slots: &slots{rdb: f.rdb, lease: time.Minute}, running: newRunning(), limits: testConfig().Limits,
		log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, tc := range []struct {
		name     string
		first    func(jobID string) error // what happens before the second delivery claims
		wantSlot bool
	}{
		{"another delivery claimed it", func(id string) error { _, err := f.store.ClaimJob(ctx, id); return err }, true},
		{"it was cancelled", func(id string) error { return f.store.FinishCancelled(ctx, id) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := f.job("SELECT '"+tc.name+"'", false)
			h.beforeClaim = func(jobID string) {
				if err := tc.first(jobID); err != nil {
					t.Fatal(err)
				}
			}
			task, err := newQueryTask(id, id, QueueQueries, time.Minute, 1)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.ProcessTask(ctx, task); err != nil {
				t.Fatalf("ProcessTask(second delivery) = %v, want nil", err)
			}
			err = f.rdb.ZScore(ctx, slotsKey(f.dsID), id).Err()
			if held := err == nil; held != tc.wantSlot {
				t.Errorf("slot of job %s held after the second delivery = %v (%v), want %v", id, held, err, tc.wantSlot)
			}
		})
	}
}
