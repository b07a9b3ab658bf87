package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestDataSourceConcurrencyLimit runs ten slow queries on a data source
// limited to 2 through two workers (two asynq servers on one Redis, as two
// worker processes would be), and checks that PostgreSQL never runs more
// than 2 of them at once while another data source's job goes through.
func TestDataSourceConcurrencyLimit(t *testing.T) {
	e := startEnv(t, true)
	e.startWorker()
	opts := pgOptions(t)
	opts["max_concurrent_queries"] = 2
	limited := e.createDataSource("limited", opts)
	marker := uniqueName("limited")

	ctx, stopWatching := context.WithCancel(context.Background())
	defer stopWatching()
	peak := 0
	var watched sync.WaitGroup
	watched.Go(func() {
		db := pg(t)
		for ctx.Err() == nil {
			var n int
			err := db.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE state = 'active' AND strpos(query, $1) > 0 AND pid <> pg_backend_pid()`, marker).Scan(&n)
			if err == nil {
				peak = max(peak, n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})

	ids := make([]string, 10)
	for i := range ids {
		var a executeAnswer
		e.do("POST", "/api/query_results", map[string]any{
			"data_source_id": limited, "max_age": 0,
			"query": fmt.Sprintf("SELECT pg_sleep(0.4), %d AS n -- %s", i, marker),
		}, 200, &a)
		ids[i] = a.Job.ID
	}
	// The other data source's job does not wait behind the limited ones.
	start := time.Now()
	other := e.execute("SELECT 'not held up' AS s", map[string]any{"max_age": 0, "wait": 10})
	if other.QueryResult == nil || time.Since(start) > 1500*time.Millisecond {
		t.Errorf("other data source's query = %+v after %s, want its result well before the limited ones end", other, time.Since(start))
	}
	for _, id := range ids {
		if job := e.pollJob(id); job.Status != 3 {
			t.Errorf("limited job %s = %+v, want status 3", id, job)
		}
	}
	stopWatching()
	watched.Wait()
	if peak > 2 {
		t.Errorf("PostgreSQL ran %d of the limited statements at once, want at most 2", peak)
	}
	if peak < 2 {
		t.Errorf("PostgreSQL ran at most %d of the limited statements at once; the test should see 2", peak)
	}
}
