package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/queryd/queryd/store"
	"github.com/queryd/queryd/store/storetest"
)

// scheduledQuery saves a query on f's data source with schedule (raw JSON,
// "" for SQL NULL) and failures.
func (f fixture) scheduledQuery(t testing.TB, schedule string, failures int) store.Query {
	t.Helper()
	ctx := context.Background()
	q, err := f.s.CreateQuery(ctx, store.Query{Name: unique("q"), Query: "SELECT 1", QueryHash: unique("h"),
		DataSourceID: &f.ds.ID, UserID: f.user.ID})
	if err != nil {
		t.Fatal(err)
	}
	var sched *string
	if schedule != "" {
		sched = &schedule
	}
	exec(t, f.s.Pool(), `UPDATE queries SET schedule = $2::jsonb, schedule_failures = $3 WHERE id = $1`, q.ID, sched, failures)
	q, err = f.s.Query(ctx, q.ID)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// failures returns query id's schedule_failures.
func (f fixture) failures(t testing.TB, id int64) int {
	t.Helper()
	return count(t, f.s.Pool(), `SELECT schedule_failures FROM queries WHERE id = $1`, id)
}

func (f fixture) claim(t testing.TB, kind store.ScheduleKind, id int64, due, started time.Time) bool {
	t.Helper()
	ok, err := f.s.ClaimScheduleRun(context.Background(), kind, id, due, started)
	if err != nil {
		t.Fatalf("ClaimScheduleRun(%s, %d, %s) error = %v", kind, id, due, err)
	}
	return ok
}

func TestScheduledQueries(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	ran := f.scheduledQuery(t, `{"interval": 60}`, 2)
	never := f.scheduledQuery(t, `{"interval": 3600, "time": null}`, 0)
	f.scheduledQuery(t, "", 0)     // no schedule
	f.scheduledQuery(t, `null`, 0) // a JSON null is no schedule either
	archived := f.scheduledQuery(t, `{"interval": 60}`, 0)
	exec(t, f.s.Pool(), `UPDATE queries SET is_archived = true WHERE id = $1`, archived.ID)
	orphan := f.scheduledQuery(t, `{"interval": 60}`, 0)
	exec(t, f.s.Pool(), `UPDATE queries SET data_source_id = NULL WHERE id = $1`, orphan.ID)
	bad := f.scheduledQuery(t, `{"interval": "soon"}`, 0) // listed: the scheduler logs and skips it

	t0 := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, started := range []time.Time{t0, t0.Add(2 * time.Minute), t0.Add(time.Minute)} {
		f.claim(t, store.ScheduleQuery, ran.ID, t0.Add(time.Duration(i)*time.Second), started)
	}
	f.claim(t, store.ScheduleDashboard, never.ID, t0, t0.Add(time.Hour)) // another kind, same id

	got, err := f.s.ScheduledQueries(ctx)
	if err != nil {
		t.Fatalf("ScheduledQueries() error = %v", err)
	}
	want := []store.Scheduled{
		{ID: ran.ID, Schedule: []byte(`{"interval": 60}`), Failures: 2, UpdatedAt: ran.UpdatedAt, LastRunAt: t0.Add(2 * time.Minute)},
		{ID: never.ID, Schedule: []byte(`{"time": null, "interval": 3600}`), UpdatedAt: never.UpdatedAt},
		{ID: bad.ID, Schedule: []byte(`{"interval": "soon"}`), UpdatedAt: bad.UpdatedAt},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("ScheduledQueries() diff (-want +got):\n%s", diff)
	}
}

func TestClaimScheduleRun(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	due := time.Date(2027, 3, 28, 1, 30, 0, 0, time.UTC)
	now := due.Add(3 * time.Second)
	tests := []struct {
		name string
		kind store.ScheduleKind
		id   int64
		due  time.Time
		want bool
	}{
		{"first claim", store.ScheduleQuery, 1, due, true},
		{"same run again", store.ScheduleQuery, 1, due, false},
		{"same instant in another zone", store.ScheduleQuery, 1, due.In(time.FixedZone("CEST", 7200)), false},
		{"next due time", store.ScheduleQuery, 1, due.Add(time.Minute), true},
		{"another query", store.ScheduleQuery, 2, due, true},
		{"a dashboard with the same id", store.ScheduleDashboard, 1, due, true},
	}
	for _, tc := range tests {
		if got := f.claim(t, tc.kind, tc.id, tc.due, now); got != tc.want {
			t.Errorf("%s: ClaimScheduleRun(%s, %d, %s) = %v, want %v", tc.name, tc.kind, tc.id, tc.due, got, tc.want)
		}
	}
	if _, err := f.s.ClaimScheduleRun(context.Background(), "widget", 1, due, now); err == nil {
		t.Errorf("ClaimScheduleRun(widget, …) error = nil, want the kind refused")
	}

	// Claims racing from many sessions: one wins.
	const n = 10
	wins := make(chan bool, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			ok, err := f.s.ClaimScheduleRun(context.Background(), store.ScheduleQuery, 3, due, now)
			if err != nil {
				t.Errorf("ClaimScheduleRun(racing) error = %v", err)
			}
			wins <- ok
		})
	}
	wg.Wait()
	close(wins)
	won := 0
	for ok := range wins {
		if ok {
			won++
		}
	}
	if won != 1 {
		t.Errorf("%d racing ClaimScheduleRun of one run: %d won, want 1", n, won)
	}
}

// TestScheduleRunOutcome checks how a scheduled run's end counts for its
// query's schedule_failures, whether its job ends after the run records it
// (CompleteJob, FailJob) or before (SetScheduleRunJob).
func TestScheduleRunOutcome(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	due := time.Date(2027, 1, 1, 9, 0, 0, 0, time.UTC)
	complete := func(t *testing.T, j store.Job) {
		if _, err := f.s.ClaimJob(ctx, j.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.CompleteJob(ctx, j.ID, store.QueryResult{StorageKey: "k"}); err != nil {
			t.Fatal(err)
		}
	}
	fail := func(t *testing.T, j store.Job) {
		if err := f.s.FailJob(ctx, j.ID, "boom"); err != nil {
			t.Fatal(err)
		}
	}
	cancel := func(t *testing.T, j store.Job) {
		if _, err := f.s.RequestCancel(ctx, j.ID); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name         string
		end          func(*testing.T, store.Job)
		endFirst     bool // the job ends before SetScheduleRunJob
		want         int  // schedule_failures after, from 3
		wantResultID bool
	}{
		{"succeeds after", complete, false, 0, true},
		{"fails after", fail, false, 4, false},
		{"cancelled after", cancel, false, 3, false},
		{"succeeded before", complete, true, 0, true},
		{"failed before", fail, true, 4, false},
		{"cancelled before", cancel, true, 3, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := f.scheduledQuery(t, `{"interval": 60}`, 3)
			// The job's own text differs from the query's (parameters).
			j := f.newJob(t, "")
			f.claim(t, store.ScheduleQuery, q.ID, due, due)
			if tc.endFirst {
				tc.end(t, j)
			}
			if err := f.s.SetScheduleRunJob(ctx, store.ScheduleQuery, q.ID, due, j.ID, ""); err != nil {
				t.Fatalf("SetScheduleRunJob(%d, %s) error = %v", q.ID, j.ID, err)
			}
			if !tc.endFirst {
				tc.end(t, j)
			}
			if got := f.failures(t, q.ID); got != tc.want {
				t.Errorf("schedule_failures of query %d = %d, want %d", q.ID, got, tc.want)
			}
			got, _ := f.s.Query(ctx, q.ID)
			j = f.job(t, j.ID)
			if tc.wantResultID && (got.LatestQueryDataID == nil || j.QueryResultID == nil || *got.LatestQueryDataID != *j.QueryResultID) {
				t.Errorf("Query(%d).LatestQueryDataID = %v, want the run's result %v", q.ID, got.LatestQueryDataID, j.QueryResultID)
			}
			if !tc.wantResultID && got.LatestQueryDataID != nil {
				t.Errorf("Query(%d).LatestQueryDataID = %d, want nil", q.ID, *got.LatestQueryDataID)
			}
		})
	}

	t.Run("submission failed", func(t *testing.T) {
		q := f.scheduledQuery(t, `{"interval": 60}`, 3)
		f.claim(t, store.ScheduleQuery, q.ID, due, due)
		const msg = "Invalid parameter values: day (date) expects a date"
		if err := f.s.SetScheduleRunJob(ctx, store.ScheduleQuery, q.ID, due, "", msg); err != nil {
			t.Fatalf("SetScheduleRunJob(%d, error) error = %v", q.ID, err)
		}
		if got := f.failures(t, q.ID); got != 4 {
			t.Errorf("schedule_failures after a failed submission = %d, want 4", got)
		}
		started, errMsg, ok, err := f.s.LastScheduleRun(ctx, store.ScheduleQuery, q.ID)
		if err != nil || !ok || !started.Equal(due) || errMsg != msg {
			t.Errorf("LastScheduleRun(%d) = %s, %q, %v, %v, want %s, %q, true, nil", q.ID, started, errMsg, ok, err, due, msg)
		}
	})

	t.Run("one job, two queries", func(t *testing.T) {
		a := f.scheduledQuery(t, `{"interval": 60}`, 1)
		b := f.scheduledQuery(t, `{"interval": 60}`, 5)
		j := f.newJob(t, "")
		for _, q := range []store.Query{a, b} {
			f.claim(t, store.ScheduleQuery, q.ID, due, due)
			if err := f.s.SetScheduleRunJob(ctx, store.ScheduleQuery, q.ID, due, j.ID, ""); err != nil {
				t.Fatal(err)
			}
		}
		fail(t, j)
		if ga, gb := f.failures(t, a.ID), f.failures(t, b.ID); ga != 2 || gb != 6 {
			t.Errorf("schedule_failures after their shared job failed = %d, %d, want 2, 6", ga, gb)
		}
	})

	t.Run("not scheduled", func(t *testing.T) {
		q := f.scheduledQuery(t, `{"interval": 60}`, 3)
		j, _, err := f.s.CreateQueryJob(ctx, store.Job{DataSourceID: f.ds.ID, QueryID: &q.ID, QueryHash: unique("h"),
			QueryText: "SELECT 2", UserID: f.user.ID})
		if err != nil {
			t.Fatal(err)
		}
		fail(t, j)
		if got := f.failures(t, q.ID); got != 3 {
			t.Errorf("schedule_failures after an interactive run failed = %d, want 3 (unchanged)", got)
		}
	})

	t.Run("errors", func(t *testing.T) {
		q := f.scheduledQuery(t, `{"interval": 60}`, 0)
		if err := f.s.SetScheduleRunJob(ctx, store.ScheduleQuery, q.ID, due, "", "x"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SetScheduleRunJob(unclaimed run) = %v, want ErrNotFound", err)
		}
		f.claim(t, store.ScheduleQuery, q.ID, due, due)
		if err := f.s.SetScheduleRunJob(ctx, store.ScheduleQuery, q.ID, due, "missing", ""); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SetScheduleRunJob(missing job) = %v, want ErrNotFound", err)
		}
		if got := f.failures(t, q.ID); got != 0 {
			t.Errorf("schedule_failures after refused SetScheduleRunJob = %d, want 0", got)
		}
		if _, _, ok, err := f.s.LastScheduleRun(ctx, store.ScheduleQuery, q.ID+1000); ok || err != nil {
			t.Errorf("LastScheduleRun(never ran) = ok %v, %v, want false, nil", ok, err)
		}
	})
}

// TestScheduleRunOutcomeRace records runs while their jobs end at the same
// moment: each run counts once, whichever comes first.
func TestScheduleRunOutcomeRace(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	q := f.scheduledQuery(t, `{"interval": 60}`, 0)
	const n = 25
	due := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		d := due.Add(time.Duration(i) * time.Minute)
		j := f.newJob(t, "")
		f.claim(t, store.ScheduleQuery, q.ID, d, d)
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := f.s.SetScheduleRunJob(ctx, store.ScheduleQuery, q.ID, d, j.ID, ""); err != nil {
				t.Errorf("SetScheduleRunJob: %v", err)
			}
		})
		wg.Go(func() {
			if err := f.s.FailJob(ctx, j.ID, "boom"); err != nil {
				t.Errorf("FailJob: %v", err)
			}
		})
		wg.Wait()
	}
	if got := f.failures(t, q.ID); got != n {
		t.Errorf("schedule_failures after %d failed runs recorded as their jobs failed = %d, want %d", n, got, n)
	}
}

func TestSchedulerLock(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	other := func(name string) *store.Store { // a second process on the same schema
		cfg, err := pgxpool.ParseConfig(f.url)
		if err != nil {
			t.Fatal(err)
		}
		cfg.ConnConfig.RuntimeParams["application_name"] = name
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		s, err := store.New(pool, storetest.SecretKey)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return s
	}
	bName := "sched_lock_" + unique("b")
	a, b := other("sched_lock_"+unique("a")), other(bName)
	try := func(s *store.Store, who string, want bool) *store.SchedulerLock {
		t.Helper()
		l, ok, err := s.TrySchedulerLock(ctx)
		if err != nil || ok != want {
			t.Fatalf("TrySchedulerLock(%s) = %v, %v, want %v, nil", who, ok, err, want)
		}
		return l
	}

	la := try(a, "a", true)
	try(b, "b while a holds it", false)
	if err := la.Check(ctx); err != nil {
		t.Errorf("Check(a's lock) = %v, want nil", err)
	}
	la.Release(ctx)
	lb := try(b, "b after a released it", true)
	try(a, "a while b holds it", false)

	// b's session ends: the lock goes with it.
	exec(t, f.s.Pool(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, bName)
	if err := lb.Check(ctx); err == nil {
		t.Errorf("Check(lock whose session was terminated) = nil, want an error")
	}
	lb.Release(ctx)
	// The lock goes when the terminated backend has exited, a moment after
	// pg_terminate_backend returns; schedulers retry every tick.
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, ok, err := a.TrySchedulerLock(ctx)
		if err != nil {
			t.Fatalf("TrySchedulerLock(a after b's session ended) error = %v", err)
		}
		if ok {
			l.Release(ctx)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("TrySchedulerLock(a after b's session ended) = false for 10s, want true")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestJobEndStatementsUseIndexes checks that what every job's end adds for
// scheduled runs costs index lookups, not scans of queries or
// schedule_runs (with sequential scans off, so that tiny test tables cannot
// tempt the planner).
func TestJobEndStatementsUseIndexes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	conn, err := f.s.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SET enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, "RESET enable_seqscan")
	for _, tc := range []struct {
		name string
		sql  string
		args []any
	}{
		{"CompleteJob", store.CompleteJobQueries, []any{"job", int64(1), int64(1), "h", int64(7)}},
		{"CompleteJob of an ad hoc job", store.CompleteJobQueries, []any{"job", int64(1), int64(1), "h", nil}},
		{"FailJob", store.FailJobQueries, []any{"job", store.ChannelJobDone}},
	} {
		rows, err := conn.Query(ctx, "EXPLAIN "+tc.sql, tc.args...)
		if err != nil {
			t.Fatalf("EXPLAIN %s: %v", tc.name, err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		plan := strings.Join(lines, "\n")
		if strings.Contains(plan, "Seq Scan") || !strings.Contains(plan, "schedule_runs_job_id_idx") {
			t.Errorf("plan of %s's statement = \n%s\nwant index scans only, schedule_runs_job_id_idx among them", tc.name, plan)
		}
	}
}

// TestScheduledQueriesUsesIndexes checks the scheduler's every-tick listing
// reads only scheduled queries and each one's last run through indexes.
func TestScheduledQueriesUsesIndexes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	conn, err := f.s.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SET enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, "RESET enable_seqscan")
	rows, err := conn.Query(ctx, "EXPLAIN "+store.ScheduledQueriesSQL)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	plan := strings.Join(lines, "\n")
	for _, idx := range []string{"queries_scheduled_idx", "schedule_runs_last_idx"} {
		if strings.Contains(plan, "Seq Scan") || !strings.Contains(plan, idx) {
			t.Errorf("plan of ScheduledQueries = \n%s\nwant index scans only, %s among them", plan, idx)
		}
	}
}

// scheduledDashboard saves a dashboard of f's user with schedule (raw JSON,
// "" for SQL NULL) and failures.
func (f fixture) scheduledDashboard(t testing.TB, schedule string, failures int) store.Dashboard {
	t.Helper()
	ctx := context.Background()
	d, err := f.s.CreateDashboard(ctx, store.Dashboard{Name: unique("d"), UserID: f.user.ID})
	if err != nil {
		t.Fatal(err)
	}
	var sched *string
	if schedule != "" {
		sched = &schedule
	}
	exec(t, f.s.Pool(), `UPDATE dashboards SET refresh_schedule = $2::jsonb, refresh_failures = $3 WHERE id = $1`,
		d.ID, sched, failures)
	d, err = f.s.Dashboard(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestScheduledDashboards(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	ran := f.scheduledDashboard(t, `{"interval": 60}`, 2)
	never := f.scheduledDashboard(t, `{"cron": "0 9 * * 1-5", "timezone": "America/New_York"}`, 0)
	f.scheduledDashboard(t, "", 0)     // no schedule
	f.scheduledDashboard(t, `null`, 0) // a JSON null is no schedule either
	archived := f.scheduledDashboard(t, `{"interval": 60}`, 0)
	exec(t, f.s.Pool(), `UPDATE dashboards SET is_archived = true WHERE id = $1`, archived.ID)
	bad := f.scheduledDashboard(t, `{"cron": "soon"}`, 0) // listed: the scheduler logs and skips it

	t0 := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, started := range []time.Time{t0, t0.Add(2 * time.Minute), t0.Add(time.Minute)} {
		f.claim(t, store.ScheduleDashboard, ran.ID, t0.Add(time.Duration(i)*time.Second), started)
	}
	f.claim(t, store.ScheduleQuery, never.ID, t0, t0.Add(time.Hour)) // another kind, same id

	got, err := f.s.ScheduledDashboards(ctx)
	if err != nil {
		t.Fatalf("ScheduledDashboards() error = %v", err)
	}
	want := []store.Scheduled{
		{ID: ran.ID, Schedule: []byte(`{"interval": 60}`), Failures: 2, UpdatedAt: ran.UpdatedAt, LastRunAt: t0.Add(2 * time.Minute)},
		{ID: never.ID, Schedule: []byte(`{"cron": "0 9 * * 1-5", "timezone": "America/New_York"}`), UpdatedAt: never.UpdatedAt},
		{ID: bad.ID, Schedule: []byte(`{"cron": "soon"}`), UpdatedAt: bad.UpdatedAt},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("ScheduledDashboards() diff (-want +got):\n%s", diff)
	}

	// Reads carry the last run, of their own kind only.
	for _, tc := range []struct {
		id   int64
		want time.Time
	}{{ran.ID, t0.Add(2 * time.Minute)}, {never.ID, time.Time{}}} {
		d, err := f.s.Dashboard(ctx, tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if !d.LastRefreshRunAt.Equal(tc.want) {
			t.Errorf("Dashboard(%d).LastRefreshRunAt = %s, want %s", tc.id, d.LastRefreshRunAt, tc.want)
		}
	}
}

// TestScheduleRunLastRunOfQueries checks that every read of a query carries
// when its last scheduled run started.
func TestScheduleRunLastRunOfQueries(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	ran := f.scheduledQuery(t, `{"interval": 60}`, 0)
	never := f.scheduledQuery(t, `{"interval": 60}`, 0)
	t0 := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	f.claim(t, store.ScheduleQuery, ran.ID, t0, t0.Add(time.Second))
	f.claim(t, store.ScheduleQuery, ran.ID, t0.Add(time.Minute), t0.Add(time.Minute+time.Second))
	f.claim(t, store.ScheduleDashboard, never.ID, t0, t0) // another kind, same id

	q, err := f.s.Query(ctx, ran.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(time.Minute + time.Second); !q.LastScheduleRunAt.Equal(want) {
		t.Errorf("Query(%d).LastScheduleRunAt = %s, want %s", ran.ID, q.LastScheduleRunAt, want)
	}
	list, _, err := f.s.Queries(ctx, store.QueryFilter{AllDataSources: true})
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]time.Time{}
	for _, q := range list {
		got[q.ID] = q.LastScheduleRunAt
	}
	if !got[ran.ID].Equal(q.LastScheduleRunAt) || !got[never.ID].IsZero() {
		t.Errorf("Queries() LastScheduleRunAt = %v, want %s for %d and zero for %d", got, q.LastScheduleRunAt, ran.ID, never.ID)
	}
}

// TestScheduleRunOutcomeOfDashboard checks that a dashboard's refresh counts
// its submission only: failed adds one to refresh_failures, submitted
// (with a job or none) resets it, however the job ends.
func TestScheduleRunOutcomeOfDashboard(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	due := time.Date(2027, 1, 1, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		job    bool
		errMsg string
		fail   bool // the job fails after the run records it
		want   int  // refresh_failures after, from 3
	}{
		{"submission failed", false, "no widget of dashboard could run", false, 4},
		{"submitted", true, "", false, 0},
		{"submitted, its job fails", true, "", true, 0},
		{"no widget to refresh", false, "", false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := f.scheduledDashboard(t, `{"interval": 60}`, 3)
			var jobID string
			if tc.job {
				jobID = f.newJob(t, "").ID
			}
			f.claim(t, store.ScheduleDashboard, d.ID, due, due)
			if err := f.s.SetScheduleRunJob(ctx, store.ScheduleDashboard, d.ID, due, jobID, tc.errMsg); err != nil {
				t.Fatalf("SetScheduleRunJob(dashboard %d, %q, %q) error = %v", d.ID, jobID, tc.errMsg, err)
			}
			if tc.fail {
				if err := f.s.FailJob(ctx, jobID, "boom"); err != nil {
					t.Fatal(err)
				}
			}
			got := count(t, f.s.Pool(), `SELECT refresh_failures FROM dashboards WHERE id = $1`, d.ID)
			if got != tc.want {
				t.Errorf("refresh_failures of dashboard %d = %d, want %d", d.ID, got, tc.want)
			}
			_, msg, ok, err := f.s.LastScheduleRun(ctx, store.ScheduleDashboard, d.ID)
			if err != nil || !ok || msg != tc.errMsg {
				t.Errorf("LastScheduleRun(dashboard %d) = %q, %v, %v, want %q", d.ID, msg, ok, err, tc.errMsg)
			}
		})
	}
}
