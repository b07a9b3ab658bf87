package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/queryd/queryd/store"
	"github.com/queryd/queryd/store/storetest"
	"github.com/queryd/queryd/worker/workertest"
)

// testClock is the scheduler's clock in a test: set by the test, and
// counting reads, one per tick of the leading scheduler.
type testClock struct {
	mu    sync.Mutex
	t     time.Time
	reads int
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads++
	return c.t
}

func (c *testClock) read() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads
}

// set moves the clock to t and waits until the scheduler has ticked at t
// twice, so that a whole tick ran at t.
func (c *testClock) set(tb testing.TB, t time.Time) {
	tb.Helper()
	c.mu.Lock()
	c.t = t
	start := c.reads
	c.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for c.read() < start+2 {
		if time.Now().After(deadline) {
			tb.Fatalf("scheduler did not tick at %s", t)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// startAll starts queryd as `queryd all` runs (API, worker and scheduler in
// one process) with the scheduler on clock, next to the API-only process
// startEnv starts, which the test's requests go to.
func startAll(t *testing.T, clock *testClock) *testEnv {
	t.Helper()
	e := startEnv(t, false)
	cfg := e.cfg
	cfg.SchedulerTick = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a, err := openApp(ctx, cfg, newRegistry(), log)
	if err != nil {
		t.Fatalf("openApp: %v", err)
	}
	a.now = clock.Now
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.serveAll(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serveAll: %v", err)
		}
		a.close()
	})
	return e
}

// scheduleQuery sets query id's schedule as the API will, as of at.
func (e *testEnv) scheduleQuery(id int64, schedule string, at time.Time) {
	e.t.Helper()
	parsed, err := store.ParseQuerySchedule(json.RawMessage(schedule))
	if err != nil {
		e.t.Fatal(err)
	}
	e.storeSchedule(`UPDATE queries SET schedule = $2::jsonb, updated_at = $3 WHERE id = $1`, id, parsed, at)
}

// storeSchedule runs update with id, the parsed schedule as the API stores
// it (so that a later edit through the API sees the same schedule) and at.
func (e *testEnv) storeSchedule(update string, id int64, parsed any, at time.Time) {
	e.t.Helper()
	normal, err := json.Marshal(parsed)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.store.Pool().Exec(context.Background(), update, id, normal, at); err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) unscheduleQuery(id int64) {
	e.t.Helper()
	if _, err := e.store.Pool().Exec(context.Background(), `UPDATE queries SET schedule = NULL WHERE id = $1`, id); err != nil {
		e.t.Fatal(err)
	}
}

// scheduledRun is a row of schedule_runs.
type scheduledRun struct {
	due   time.Time
	jobID string
	err   string
}

// runs returns query id's scheduled runs, by due time.
func (e *testEnv) runs(id int64) []scheduledRun {
	e.t.Helper()
	return e.runsOf(store.ScheduleQuery, id)
}

// runsOf returns the scheduled runs of object id of kind, by due time.
func (e *testEnv) runsOf(kind store.ScheduleKind, id int64) []scheduledRun {
	e.t.Helper()
	rows, err := e.store.Pool().Query(context.Background(), `
		SELECT due_at, coalesce(job_id, ''), error FROM schedule_runs
		WHERE kind = $1 AND object_id = $2 ORDER BY due_at`, kind, id)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []scheduledRun
	for rows.Next() {
		var r scheduledRun
		if err := rows.Scan(&r.due, &r.jobID, &r.err); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// waitRuns waits until query id has n scheduled runs, the last one
// submitted or refused, and returns them.
func (e *testEnv) waitRuns(id int64, n int) []scheduledRun {
	e.t.Helper()
	return e.waitRunsOf(store.ScheduleQuery, id, n)
}

// waitRunsOf waits until object id of kind has n scheduled runs, the last
// one submitted or refused, and returns them.
func (e *testEnv) waitRunsOf(kind store.ScheduleKind, id int64, n int) []scheduledRun {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runs := e.runsOf(kind, id)
		if len(runs) == n && (runs[n-1].jobID != "" || runs[n-1].err != "") {
			return runs
		}
		if len(runs) > n || time.Now().After(deadline) {
			e.t.Fatalf("%s %d has scheduled runs %+v, want %d", kind, id, runs, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitFailures waits until query id's schedule_failures is want.
func (e *testEnv) waitFailures(id int64, want int) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got int
		if err := e.store.Pool().QueryRow(context.Background(),
			`SELECT schedule_failures FROM queries WHERE id = $1`, id).Scan(&got); err != nil {
			e.t.Fatal(err)
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("query %d has schedule_failures %d, want %d", id, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestScheduledQueries runs saved queries on their schedules through the
// real wiring, with the scheduler's clock in the test's hands.
func TestScheduledQueries(t *testing.T) {
	clock := &testClock{t: time.Date(2027, 1, 10, 12, 0, 0, 0, time.UTC)}
	e := startAll(t, clock)
	ctx := context.Background()
	t0 := clock.Now()

	t.Run("every minute", func(t *testing.T) {
		id := e.createSavedQuery(e.key, map[string]any{"name": "answer", "query": "SELECT 42 AS answer"}).ID
		e.scheduleQuery(id, `{"interval": 60}`, t0)
		for i, at := range []time.Time{t0, t0.Add(time.Minute)} {
			clock.set(t, at)
			runs := e.waitRuns(id, i+1)
			if r := runs[i]; !r.due.Equal(at) || r.err != "" {
				t.Fatalf("run %d = %+v, want due %s and a job", i, r, at)
			}
			job := e.pollJob(runs[i].jobID)
			var q savedQuery
			e.do("GET", fmt.Sprintf("/api/queries/%d", id), nil, http.StatusOK, &q)
			if job.Status != 3 || job.QueryResultID == nil || q.LatestQueryDataID == nil || *q.LatestQueryDataID != *job.QueryResultID {
				t.Errorf("run %d: job %+v, query's latest_query_data_id %v, want success and its result latest", i, job, q.LatestQueryDataID)
			}
			checkRunTimes(t, "query", q.ScheduleLastRunAt, q.ScheduleNextRunAt, at, at.Add(time.Minute))
		}
		clock.set(t, t0.Add(time.Minute+59*time.Second))
		if runs := e.runs(id); len(runs) != 2 {
			t.Errorf("runs before the third minute = %+v, want 2", runs)
		}
		fired := 0
		for _, line := range strings.Split(e.logs.String(), "\n") {
			if strings.Contains(line, `"msg":"scheduled run fired"`) && strings.Contains(line, fmt.Sprintf(`"query_id":%d,`, id)) &&
				strings.Contains(line, `"due_at":`) && strings.Contains(line, `"job_id":`) {
				fired++
			}
		}
		if fired != 2 {
			t.Errorf("info lines for fired runs of query %d = %d, want 2 with query_id, due_at and job_id", id, fired)
		}
		e.unscheduleQuery(id)
	})

	t.Run("failures put runs off, a success resets them", func(t *testing.T) {
		start := t0.Add(5 * time.Minute)
		id := e.createSavedQuery(e.key, map[string]any{"name": "broken", "query": "SELECT 1/0 AS boom"}).ID
		e.scheduleQuery(id, `{"interval": 60}`, start)
		clock.set(t, start)
		e.pollJob(e.waitRuns(id, 1)[0].jobID)
		e.waitFailures(id, 1)
		// Due a minute after, put off 2 minutes by the failure.
		q := e.getQuery(id)
		checkRunTimes(t, "query", q.ScheduleLastRunAt, q.ScheduleNextRunAt, start, start.Add(3*time.Minute))

		// Every minute, put off 2 minutes: due at start+3m.
		clock.set(t, start.Add(3*time.Minute-time.Second))
		if runs := e.runs(id); len(runs) != 1 {
			t.Fatalf("runs 1 s before the back-off ends = %+v, want 1", runs)
		}
		clock.set(t, start.Add(3*time.Minute))
		job := e.pollJob(e.waitRuns(id, 2)[1].jobID)
		if job.Status != 4 || !strings.Contains(job.Error, "division by zero") {
			t.Errorf("second run's job = %+v, want failed with division by zero", job)
		}
		e.waitFailures(id, 2)
		q = e.getQuery(id)
		checkRunTimes(t, "query", q.ScheduleLastRunAt, q.ScheduleNextRunAt, start.Add(3*time.Minute), start.Add(8*time.Minute))

		// Fixed; due a minute after, put off 4 more: start+8m.
		e.do("POST", fmt.Sprintf("/api/queries/%d", id), map[string]any{"query": "SELECT 1 AS fixed"}, http.StatusOK, nil)
		clock.set(t, start.Add(8*time.Minute-time.Second))
		if runs := e.runs(id); len(runs) != 2 {
			t.Fatalf("runs 1 s before the second back-off ends = %+v, want 2", runs)
		}
		clock.set(t, start.Add(8*time.Minute))
		if job := e.pollJob(e.waitRuns(id, 3)[2].jobID); job.Status != 3 {
			t.Errorf("third run's job = %+v, want success", job)
		}
		e.waitFailures(id, 0)
		q = e.getQuery(id)
		checkRunTimes(t, "query", q.ScheduleLastRunAt, q.ScheduleNextRunAt, start.Add(8*time.Minute), start.Add(9*time.Minute))
		clock.set(t, start.Add(9*time.Minute))
		e.waitRuns(id, 4)
		e.unscheduleQuery(id)
		if q := e.getQuery(id); q.ScheduleNextRunAt != nil || q.ScheduleLastRunAt == nil {
			t.Errorf("unscheduled query: schedule_next_run_at %v, schedule_last_run_at %v, want null and the last run",
				q.ScheduleNextRunAt, q.ScheduleLastRunAt)
		}
	})

	t.Run("relative date default in the schedule's zone", func(t *testing.T) {
		// 23:30 UTC is 12:30 the next day in Auckland: yesterday there is
		// today in UTC.
		at := time.Date(2027, 1, 10, 23, 30, 0, 0, time.UTC)
		id := e.createSavedQuery(e.key, map[string]any{"name": "daily", "query": "SELECT DATE '{{ day }}' AS day",
			"options": map[string]any{"parameters": []map[string]any{{"name": "day", "type": "date", "value": "d_yesterday"}}}}).ID
		e.scheduleQuery(id, `{"interval": 86400, "time": "12:30", "timezone": "Pacific/Auckland"}`, at.Add(-time.Hour))

		// Owners the scheduler cannot act as: the run is refused, kept with
		// why, and counts as a failure.
		disabled := e.ownedQuery(id, "disabled@example.com")
		if _, err := e.store.SetUserDisabled(ctx, disabled.UserID, true); err != nil {
			t.Fatal(err)
		}
		noAccess := e.ownedQuery(id, "outsider@example.com")
		var builtin int64
		if err := e.store.Pool().QueryRow(ctx, `SELECT id FROM groups WHERE builtin`).Scan(&builtin); err != nil {
			t.Fatal(err)
		}
		if err := e.store.RemoveGroupMember(ctx, builtin, noAccess.UserID); err != nil {
			t.Fatal(err)
		}

		clock.set(t, at)
		runs := e.waitRuns(id, 1)
		if !runs[0].due.Equal(at) {
			t.Errorf("run due at %s, want %s (12:30 in Auckland)", runs[0].due, at)
		}
		j, err := e.store.Job(ctx, runs[0].jobID)
		if err != nil {
			t.Fatal(err)
		}
		if want := "SELECT DATE '2027-01-10' AS day"; j.QueryText != want {
			t.Errorf("scheduled job's SQL = %q, want %q", j.QueryText, want)
		}
		if job := e.pollJob(j.ID); job.Status != 3 {
			t.Errorf("scheduled job = %+v, want success", job)
		}
		for _, tc := range []struct {
			q    store.Query
			want string
		}{
			{disabled, "is disabled"},
			{noAccess, "does not have full access to data source"},
		} {
			runs := e.waitRuns(tc.q.ID, 1)
			if runs[0].jobID != "" || !strings.Contains(runs[0].err, tc.want) {
				t.Errorf("run of query %d = %+v, want no job and an error saying %q", tc.q.ID, runs[0], tc.want)
			}
			e.waitFailures(tc.q.ID, 1)
		}
	})

	t.Run("dashboard refreshes with its own parameter values", func(t *testing.T) {
		// 11:30 UTC is 00:30 the next day in Auckland: yesterday there is
		// today in UTC.
		at := time.Date(2027, 1, 11, 11, 30, 0, 0, time.UTC)
		clock.set(t, at)
		qid := e.saveQuery("by day", "SELECT DATE '{{ day }}' AS day",
			map[string]any{"name": "day", "type": "date", "value": "2000-01-01"})
		d := e.createDashboard(uniqueName("daily"))
		e.addWidget(d.ID, e.visualize(qid), "")
		e.do("POST", fmt.Sprintf("/api/dashboards/%d", d.ID),
			map[string]any{"options": map[string]any{"parameters": map[string]any{"day": "d_yesterday"}}}, http.StatusOK, nil)
		e.scheduleDashboard(d.ID, `{"interval": 300, "timezone": "Pacific/Auckland"}`, at)

		runs := e.waitRunsOf(store.ScheduleDashboard, d.ID, 1)
		if !runs[0].due.Equal(at) || runs[0].err != "" {
			t.Fatalf("refresh = %+v, want due %s and a job", runs[0], at)
		}
		j, err := e.store.Job(ctx, runs[0].jobID)
		if err != nil {
			t.Fatal(err)
		}
		if want := "SELECT DATE '2027-01-11' AS day"; j.QueryText != want {
			t.Errorf("scheduled refresh's SQL = %q, want %q (yesterday in Auckland)", j.QueryText, want)
		}
		job := e.pollJob(j.ID)
		q := e.getQuery(qid)
		if job.Status != 3 || job.QueryResultID == nil || q.LatestQueryDataID == nil || *q.LatestQueryDataID != *job.QueryResultID {
			t.Errorf("refresh's job %+v, query's latest_query_data_id %v, want success and its result latest", job, q.LatestQueryDataID)
		}
		var got dashboardAnswer
		e.do("GET", fmt.Sprintf("/api/dashboards/%d", d.ID), nil, http.StatusOK, &got)
		checkRunTimes(t, "dashboard", got.RefreshLastRunAt, got.RefreshNextRunAt, at, at.Add(5*time.Minute))
		if got.RefreshFailures != 0 {
			t.Errorf("refresh_failures = %d, want 0", got.RefreshFailures)
		}

		// A broken query: the refresh is submitted, so it counts as done;
		// the job's failure is the query's. A refused widget: nothing is
		// submitted, which counts as a failure.
		broken := e.createDashboard(uniqueName("broken"))
		e.addWidget(broken.ID, e.visualize(e.saveQuery("boom", "SELECT 1/0 AS boom")), "")
		refused := e.createDashboard(uniqueName("refused"))
		e.addWidget(refused.ID, e.visualize(e.saveQuery("n", "SELECT {{ n }} AS n", doubleParam)), "")
		e.do("POST", fmt.Sprintf("/api/dashboards/%d", refused.ID),
			map[string]any{"options": map[string]any{"parameters": map[string]any{"n": "many"}}}, http.StatusOK, nil)
		later := at.Add(time.Minute)
		e.scheduleDashboard(broken.ID, `{"interval": 300}`, later)
		e.scheduleDashboard(refused.ID, `{"interval": 300}`, later)
		clock.set(t, later)

		run := e.waitRunsOf(store.ScheduleDashboard, broken.ID, 1)[0]
		if job := e.pollJob(run.jobID); job.Status != 4 || !strings.Contains(job.Error, "division by zero") {
			t.Errorf("broken dashboard's job = %+v, want failed with division by zero", job)
		}
		run = e.waitRunsOf(store.ScheduleDashboard, refused.ID, 1)[0]
		if run.jobID != "" || !strings.Contains(run.err, "no widget of dashboard") || !strings.Contains(run.err, "Invalid parameter values") {
			t.Errorf("refused dashboard's refresh = %+v, want no job and an error naming the widget's invalid value", run)
		}
		for _, tc := range []struct {
			id       int64
			failures int
			next     time.Time
		}{
			{broken.ID, 0, later.Add(5 * time.Minute)},
			{refused.ID, 1, later.Add(5*time.Minute + 2*time.Minute)}, // put off by the failure
		} {
			var got dashboardAnswer
			e.do("GET", fmt.Sprintf("/api/dashboards/%d", tc.id), nil, http.StatusOK, &got)
			if got.RefreshFailures != tc.failures {
				t.Errorf("dashboard %d: refresh_failures = %d, want %d", tc.id, got.RefreshFailures, tc.failures)
			}
			checkRunTimes(t, fmt.Sprintf("dashboard %d", tc.id), got.RefreshLastRunAt, got.RefreshNextRunAt, later, tc.next)
		}
		clock.set(t, later.Add(5*time.Minute))
		if runs := e.waitRunsOf(store.ScheduleDashboard, broken.ID, 2); !runs[1].due.Equal(later.Add(5 * time.Minute)) {
			t.Errorf("broken dashboard's second refresh due %s, want %s: a failed job does not put it off", runs[1].due, later.Add(5*time.Minute))
		}
		if runs := e.runsOf(store.ScheduleDashboard, refused.ID); len(runs) != 1 {
			t.Errorf("refused dashboard's refreshes before its back-off ends = %+v, want 1", runs)
		}
	})
}

// getQuery returns query id as the API shows it.
func (e *testEnv) getQuery(id int64) savedQuery {
	e.t.Helper()
	var q savedQuery
	e.do("GET", fmt.Sprintf("/api/queries/%d", id), nil, http.StatusOK, &q)
	return q
}

// scheduleDashboard sets dashboard id's refresh schedule as the API will, as
// of at.
func (e *testEnv) scheduleDashboard(id int64, schedule string, at time.Time) {
	e.t.Helper()
	parsed, err := store.ParseDashboardSchedule(json.RawMessage(schedule))
	if err != nil {
		e.t.Fatal(err)
	}
	e.storeSchedule(`UPDATE dashboards SET refresh_schedule = $2::jsonb, updated_at = $3 WHERE id = $1`, id, parsed, at)
}

// checkRunTimes checks the last and next run times the API showed for what.
func checkRunTimes(t testing.TB, what string, last, next *string, wantLast, wantNext time.Time) {
	t.Helper()
	const layout = "2006-01-02T15:04:05.000Z"
	if last == nil || *last != wantLast.UTC().Format(layout) {
		t.Errorf("%s: last run at %v, want %s", what, deref(last), wantLast.UTC().Format(layout))
	}
	if next == nil || *next != wantNext.UTC().Format(layout) {
		t.Errorf("%s: next run at %v, want %s", what, deref(next), wantNext.UTC().Format(layout))
	}
}

func deref(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}

// ownedQuery saves a copy of query id, schedule included, owned by a new
// user with email.
func (e *testEnv) ownedQuery(id int64, email string) store.Query {
	e.t.Helper()
	ctx := context.Background()
	u, _, err := e.store.CreateUser(ctx, email, "", false)
	if err != nil {
		e.t.Fatal(err)
	}
	q, err := e.store.Query(ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	// Saved unscheduled, then given the schedule and the original's
	// updated_at in one statement, so that the scheduler never sees the
	// copy due from the moment it was saved.
	schedule := q.Schedule
	q.UserID, q.Schedule = u.ID, nil
	c, err := e.store.CreateQuery(ctx, q)
	if err != nil {
		e.t.Fatal(err)
	}
	var updated time.Time
	if err := e.store.Pool().QueryRow(ctx, `
		UPDATE queries SET schedule = $2, updated_at = $3 WHERE id = $1 RETURNING updated_at`,
		c.ID, schedule, q.UpdatedAt).Scan(&updated); err != nil {
		e.t.Fatal(err)
	}
	c.Schedule, c.UpdatedAt = schedule, updated
	return c
}

func TestSchedulerTickConfig(t *testing.T) {
	base := map[string]string{
		"QUERYD_DATABASE_URL": "postgres://queryd@127.0.0.1/queryd",
		"QUERYD_SECRET_KEY":   storetest.SecretKey,
	}
	cfg, err := loadConfig(base)
	if err != nil || cfg.SchedulerTick != 10*time.Second {
		t.Errorf("loadConfig() SchedulerTick = %s, %v, want 10s, nil", cfg.SchedulerTick, err)
	}
	for _, tick := range []string{"0s", "-1s", "2m"} {
		env := maps.Clone(base)
		env["QUERYD_SCHEDULER_TICK"] = tick
		if _, err := loadConfig(env); err == nil || !strings.Contains(err.Error(), "SCHEDULER_TICK") {
			t.Errorf("loadConfig(QUERYD_SCHEDULER_TICK=%s) error = %v, want one naming QUERYD_SCHEDULER_TICK", tick, err)
		}
	}
}

// TestSchedulerCommand runs `queryd scheduler` until it is told to stop.
func TestSchedulerCommand(t *testing.T) {
	_, schemaURL := storetest.New(t)
	env := map[string]string{
		"QUERYD_DATABASE_URL":   schemaURL,
		"QUERYD_REDIS_URL":      workertest.Redis(t),
		"QUERYD_RESULTS_URL":    "file://" + t.TempDir(),
		"QUERYD_SECRET_KEY":     storetest.SecretKey,
		"QUERYD_SCHEDULER_TICK": "10ms",
		"QUERYD_LOG_LEVEL":      "debug",
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"scheduler"}, env, io.Discard, logs) }()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(logs.String(), `"msg":"scheduler tick"`) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("queryd scheduler did not lead and tick; logs:\n%s", logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("queryd scheduler = %v after its context ended, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("queryd scheduler did not stop when its context ended")
	}
	if !strings.Contains(logs.String(), `"msg":"scheduler stopped"`) {
		t.Errorf("no log line for the scheduler stopping; logs:\n%s", logs)
	}
}
