package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/queryd/queryd/store"
	"github.com/queryd/queryd/store/storetest"
)

// fakeClock is a clock the test sets.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// submitCall is one call of fakeSubmitter.SubmitScheduledQuery.
type submitCall struct {
	queryID int64
	now     time.Time
	jobID   string
}

// fakeSubmitter records a pending job for each scheduled run, or fails the
// runs failNext says.
type fakeSubmitter struct {
	store        *store.Store
	dsID, userID int64

	mu    sync.Mutex
	calls []submitCall
	// failNext, if set, is asked before each call: a non-empty message fails it.
	failNext func(queryID int64, call int) string
	// dashCalls are the calls of SubmitScheduledDashboard, failDashboard
	// its failNext.
	dashCalls     []submitCall
	failDashboard func(dashboardID int64, call int) string
}

// SubmitScheduledDashboard records a pending job for each refresh, or fails
// those failDashboard says; submitCall.queryID is the dashboard's ID.
func (f *fakeSubmitter) SubmitScheduledDashboard(ctx context.Context, dashboardID int64, now time.Time) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	call := submitCall{queryID: dashboardID, now: now}
	if f.failDashboard != nil {
		if msg := f.failDashboard(dashboardID, len(f.dashCalls)); msg != "" {
			f.dashCalls = append(f.dashCalls, call)
			return "", errors.New(msg)
		}
	}
	text := fmt.Sprintf("SELECT %d -- dashboard at %s", dashboardID, now.Format(time.RFC3339Nano))
	j, _, err := f.store.CreateQueryJob(ctx, store.Job{DataSourceID: f.dsID, QueryHash: text, QueryText: text, UserID: f.userID})
	if err != nil {
		return "", err
	}
	call.jobID = j.ID
	f.dashCalls = append(f.dashCalls, call)
	return j.ID, nil
}

func (f *fakeSubmitter) dashboardCalls() []submitCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]submitCall(nil), f.dashCalls...)
}

func (f *fakeSubmitter) SubmitScheduledQuery(ctx context.Context, queryID int64, now time.Time) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	call := submitCall{queryID: queryID, now: now}
	if f.failNext != nil {
		if msg := f.failNext(queryID, len(f.calls)); msg != "" {
			f.calls = append(f.calls, call)
			return "", errors.New(msg)
		}
	}
	text := fmt.Sprintf("SELECT %d -- %s", queryID, now.Format(time.RFC3339Nano))
	j, _, err := f.store.CreateQueryJob(ctx, store.Job{DataSourceID: f.dsID, QueryID: &queryID,
		QueryHash: text, QueryText: text, UserID: f.userID})
	if err != nil {
		return "", err
	}
	call.jobID = j.ID
	f.calls = append(f.calls, call)
	return j.ID, nil
}

func (f *fakeSubmitter) called() []submitCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]submitCall(nil), f.calls...)
}

// schedFixture is a store with a data source and a user to own queries.
type schedFixture struct {
	t     *testing.T
	store *store.Store
	url   string
	dsID  int64
	user  int64
	logs  *lockedBuffer
}

func newSchedFixture(t *testing.T) *schedFixture {
	t.Helper()
	st, url := storetest.New(t)
	ctx := context.Background()
	ds, err := st.CreateDataSource(ctx, "warehouse", "fake", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	u, _, err := st.CreateUser(ctx, "owner@example.com", "", false)
	if err != nil {
		t.Fatal(err)
	}
	f := &schedFixture{t: t, store: st, url: url, dsID: ds.ID, user: u.ID, logs: &lockedBuffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("scheduler logs:\n%s", f.logs)
		}
	})
	return f
}

// query saves a query with schedule (raw JSON) as it was set at created.
func (f *schedFixture) query(schedule string, created time.Time) int64 {
	f.t.Helper()
	ctx := context.Background()
	q, err := f.store.CreateQuery(ctx, store.Query{Name: "scheduled", Query: "SELECT 1", QueryHash: "h",
		DataSourceID: &f.dsID, UserID: f.user})
	if err != nil {
		f.t.Fatal(err)
	}
	f.exec(`UPDATE queries SET schedule = $2::jsonb, updated_at = $3 WHERE id = $1`, q.ID, schedule, created)
	return q.ID
}

func (f *schedFixture) exec(sql string, args ...any) {
	f.t.Helper()
	if _, err := f.store.Pool().Exec(context.Background(), sql, args...); err != nil {
		f.t.Fatalf("exec %q: %v", sql, err)
	}
}

// scheduler returns a Scheduler on st (f's store if nil) with a fake
// submitter on the same store.
func (f *schedFixture) scheduler(st *store.Store, clock *fakeClock) (*Scheduler, *fakeSubmitter) {
	if st == nil {
		st = f.store
	}
	sub := &fakeSubmitter{store: st, dsID: f.dsID, userID: f.user}
	return &Scheduler{
		Store: st, Submitter: sub, Clock: clock.Now, Tick: 5 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}, sub
}

// otherStore opens a second store on f's schema over a pool of its own:
// another PostgreSQL session, as another process has.
func (f *schedFixture) otherStore(appName string) *store.Store {
	f.t.Helper()
	cfg, err := pgxpool.ParseConfig(f.url)
	if err != nil {
		f.t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = appName
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	st, err := store.New(pool, storetest.SecretKey)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(st.Close)
	return st
}

// run records one scheduled run as schedule_runs holds it.
type run struct {
	Due, Started time.Time
	Error        string
}

func (f *schedFixture) runs(id int64) []run {
	f.t.Helper()
	return f.runsOf(store.ScheduleQuery, id)
}

// dashboard saves a dashboard with refresh schedule (raw JSON) as it was
// set at created.
func (f *schedFixture) dashboard(schedule string, created time.Time) int64 {
	f.t.Helper()
	d, err := f.store.CreateDashboard(context.Background(), store.Dashboard{Name: "scheduled", UserID: f.user})
	if err != nil {
		f.t.Fatal(err)
	}
	f.exec(`UPDATE dashboards SET refresh_schedule = $2::jsonb, updated_at = $3 WHERE id = $1`, d.ID, schedule, created)
	return d.ID
}

func (f *schedFixture) runsOf(kind store.ScheduleKind, id int64) []run {
	f.t.Helper()
	rows, err := f.store.Pool().Query(context.Background(), `
		SELECT due_at, started_at, error FROM schedule_runs WHERE kind = $1 AND object_id = $2 ORDER BY due_at`, kind, id)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var out []run
	for rows.Next() {
		var r run
		if err := rows.Scan(&r.Due, &r.Started, &r.Error); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		f.t.Fatal(err)
	}
	return out
}

func (f *schedFixture) column(id int64, col string) string {
	f.t.Helper()
	var v string
	if err := f.store.Pool().QueryRow(context.Background(), `SELECT `+col+`::text FROM queries WHERE id = $1`, id).Scan(&v); err != nil {
		f.t.Fatal(err)
	}
	return v
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

var equalTimes = cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })

// TestSchedulerFiresDueRuns drives a scheduler with a fake clock, ticking
// twice at every step, and checks when each schedule fired.
func TestSchedulerFiresDueRuns(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		schedule string
		created  time.Time
		from, to time.Time
		step     time.Duration
		// end ends the job of run i: failed or succeeded; pending if absent.
		end map[int]store.JobStatus
		// submitErr fails the submission of run i.
		submitErr map[int]string
		want      []time.Time // when runs fired, which is when they were due
	}{{
		name:     "every minute",
		schedule: `{"interval": 60}`,
		created:  utc("2027-01-04T10:00:00Z"),
		from:     utc("2027-01-04T09:59:00Z"), to: utc("2027-01-04T10:03:30Z"), step: 10 * time.Second,
		want: []time.Time{utc("2027-01-04T10:00:00Z"), utc("2027-01-04T10:01:00Z"), utc("2027-01-04T10:02:00Z"), utc("2027-01-04T10:03:00Z")},
	}, {
		name:     "weekly on Wednesday",
		schedule: `{"interval": 604800, "time": "09:00", "day_of_week": "Wednesday"}`,
		created:  utc("2027-01-04T10:00:00Z"), // a Monday
		from:     utc("2027-01-04T10:00:00Z"), to: utc("2027-01-19T00:00:00Z"), step: time.Hour,
		want: []time.Time{utc("2027-01-06T09:00:00Z"), utc("2027-01-13T09:00:00Z")},
	}, {
		name:     "daily until a date, in its zone",
		schedule: `{"interval": 86400, "time": "06:00", "until": "2027-01-07", "timezone": "America/New_York"}`,
		created:  utc("2027-01-04T00:00:00Z"),
		from:     utc("2027-01-04T00:00:00Z"), to: utc("2027-01-10T00:00:00Z"), step: 30 * time.Minute,
		want: []time.Time{utc("2027-01-04T11:00:00Z"), utc("2027-01-05T11:00:00Z"), utc("2027-01-06T11:00:00Z")},
	}, {
		name:     "failures put the next run off",
		schedule: `{"interval": 60}`,
		created:  utc("2027-01-04T10:00:00Z"),
		from:     utc("2027-01-04T10:00:00Z"), to: utc("2027-01-04T10:10:00Z"), step: 10 * time.Second,
		// The job fails: 1 failure, +2 min. The submission fails: 2, +4 min.
		// The job succeeds: 0, back to every minute.
		end:       map[int]store.JobStatus{0: store.JobFailed, 2: store.JobSucceeded, 3: store.JobSucceeded},
		submitErr: map[int]string{1: "Invalid parameter values: day (date) expects a date"},
		want: []time.Time{utc("2027-01-04T10:00:00Z"), utc("2027-01-04T10:03:00Z"), utc("2027-01-04T10:08:00Z"),
			utc("2027-01-04T10:09:00Z"), utc("2027-01-04T10:10:00Z")},
	}, {
		// 2027-03-28 02:30 does not exist in Berlin: that day's run is at 03:30 CEST.
		name:     "daily across the spring change of daylight saving time",
		schedule: `{"interval": 86400, "time": "02:30", "timezone": "Europe/Berlin"}`,
		created:  utc("2027-03-26T12:00:00Z"),
		from:     utc("2027-03-26T12:00:00Z"), to: utc("2027-03-30T00:00:00Z"), step: 10 * time.Minute,
		want: []time.Time{utc("2027-03-27T01:30:00Z"), utc("2027-03-28T01:30:00Z"), utc("2027-03-29T00:30:00Z")},
	}, {
		name:     "daily across the end of a leap February",
		schedule: `{"interval": 86400, "time": "23:30", "timezone": "Europe/Berlin"}`,
		created:  utc("2028-02-27T12:00:00Z"),
		from:     utc("2028-02-27T12:00:00Z"), to: utc("2028-03-02T12:00:00Z"), step: 30 * time.Minute,
		want: []time.Time{utc("2028-02-27T22:30:00Z"), utc("2028-02-28T22:30:00Z"), utc("2028-02-29T22:30:00Z"),
			utc("2028-03-01T22:30:00Z")},
	}, {
		name:     "every 30 days across month ends",
		schedule: `{"interval": 2592000, "time": "00:00"}`,
		created:  utc("2027-01-30T12:00:00Z"),
		from:     utc("2027-01-30T12:00:00Z"), to: utc("2027-04-15T00:00:00Z"), step: 6 * time.Hour,
		want: []time.Time{utc("2027-01-31T00:00:00Z"), utc("2027-03-02T00:00:00Z"), utc("2027-04-01T00:00:00Z")},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newSchedFixture(t)
			ctx := context.Background()
			id := f.query(tc.schedule, tc.created)
			clock := &fakeClock{}
			s, sub := f.scheduler(nil, clock)
			sub.failNext = func(_ int64, call int) string { return tc.submitErr[call] }
			ended := 0
			for now := tc.from; !now.After(tc.to); now = now.Add(tc.step) {
				clock.Set(now)
				s.tick(ctx)
				s.tick(ctx) // a second look at the same time fires nothing more
				calls := sub.called()
				for ; ended < len(calls); ended++ {
					f.endJob(calls[ended].jobID, tc.end[ended])
				}
			}

			var fired []time.Time
			for _, c := range sub.called() {
				if c.queryID != id {
					t.Errorf("SubmitScheduledQuery(%d), want only query %d", c.queryID, id)
				}
				fired = append(fired, c.now)
			}
			if diff := cmp.Diff(tc.want, fired, equalTimes); diff != "" {
				t.Errorf("runs fired at (-want +got):\n%s", diff)
			}
			var want []run
			for i, at := range tc.want {
				want = append(want, run{Due: at, Started: at, Error: tc.submitErr[i]})
			}
			if diff := cmp.Diff(want, f.runs(id), equalTimes); diff != "" {
				t.Errorf("schedule_runs (-want +got):\n%s", diff)
			}
			if got := f.column(id, "schedule"); got != jsonbText(t, f, tc.schedule) {
				t.Errorf("schedule after the runs = %s, want unchanged %s", got, tc.schedule)
			}
		})
	}
}

// TestSchedulerRefreshesDashboards drives a scheduler with a fake clock,
// ticking twice at every step, and checks when each dashboard's refresh
// fired.
func TestSchedulerRefreshesDashboards(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		schedule string
		created  time.Time
		from, to time.Time
		step     time.Duration
		// end ends the job of refresh i: failed or succeeded; pending if absent.
		end map[int]store.JobStatus
		// submitErr fails the submission of refresh i.
		submitErr    map[int]string
		want         []time.Time // when refreshes fired, which is when they were due
		wantFailures int
	}{{
		// 2027-01-07 is a Thursday; 09:00 EST is 14:00 UTC.
		name:     "weekdays at 09:00 in New York",
		schedule: `{"cron": "0 9 * * 1-5", "timezone": "America/New_York"}`,
		created:  utc("2027-01-07T00:00:00Z"),
		from:     utc("2027-01-07T00:00:00Z"), to: utc("2027-01-12T23:50:00Z"), step: 10 * time.Minute,
		want: []time.Time{utc("2027-01-07T14:00:00Z"), utc("2027-01-08T14:00:00Z"),
			utc("2027-01-11T14:00:00Z"), utc("2027-01-12T14:00:00Z")},
	}, {
		// New York moves to EDT on Sunday 2027-03-14: 09:00 is 13:00 UTC after.
		name:     "weekdays at 09:00 in New York across the change to daylight saving time",
		schedule: `{"cron": "0 9 * * 1-5", "timezone": "America/New_York"}`,
		created:  utc("2027-03-12T00:00:00Z"),
		from:     utc("2027-03-12T00:00:00Z"), to: utc("2027-03-16T23:50:00Z"), step: 10 * time.Minute,
		want: []time.Time{utc("2027-03-12T14:00:00Z"), utc("2027-03-15T13:00:00Z"), utc("2027-03-16T13:00:00Z")},
	}, {
		name:     "every five minutes",
		schedule: `{"interval": 300}`,
		created:  utc("2027-01-04T10:00:00Z"),
		from:     utc("2027-01-04T09:58:00Z"), to: utc("2027-01-04T10:17:00Z"), step: 20 * time.Second,
		want: []time.Time{utc("2027-01-04T10:00:00Z"), utc("2027-01-04T10:05:00Z"), utc("2027-01-04T10:10:00Z"),
			utc("2027-01-04T10:15:00Z")},
	}, {
		name:     "failed submissions put the next refresh off, failed jobs do not",
		schedule: `{"interval": 60}`,
		created:  utc("2027-01-04T10:00:00Z"),
		from:     utc("2027-01-04T10:00:00Z"), to: utc("2027-01-04T10:11:00Z"), step: 10 * time.Second,
		// Refused: 1 failure, +2 min. Refused again: 2, +4 min. Submitted,
		// its job fails: 0, back to every minute.
		submitErr: map[int]string{0: "no widget of dashboard 1 could run", 1: "the owner of dashboard 1, user 1, is disabled"},
		end:       map[int]store.JobStatus{2: store.JobFailed, 3: store.JobSucceeded},
		want: []time.Time{utc("2027-01-04T10:00:00Z"), utc("2027-01-04T10:03:00Z"), utc("2027-01-04T10:08:00Z"),
			utc("2027-01-04T10:09:00Z"), utc("2027-01-04T10:10:00Z"), utc("2027-01-04T10:11:00Z")},
	}, {
		name:     "failures put a cron refresh off",
		schedule: `{"cron": "*/10 * * * *"}`,
		created:  utc("2027-01-04T09:55:00Z"),
		from:     utc("2027-01-04T09:55:00Z"), to: utc("2027-01-04T10:35:00Z"), step: 30 * time.Second,
		// Refused at 10:00: the next, at 10:10, is put off 2 min; refused
		// again: 10:20 is put off 4 min.
		submitErr:    map[int]string{0: "refused", 1: "refused", 2: "refused"},
		want:         []time.Time{utc("2027-01-04T10:00:00Z"), utc("2027-01-04T10:12:00Z"), utc("2027-01-04T10:24:00Z")},
		wantFailures: 3,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newSchedFixture(t)
			ctx := context.Background()
			id := f.dashboard(tc.schedule, tc.created)
			clock := &fakeClock{}
			s, sub := f.scheduler(nil, clock)
			sub.failDashboard = func(_ int64, call int) string { return tc.submitErr[call] }
			ended := 0
			for now := tc.from; !now.After(tc.to); now = now.Add(tc.step) {
				clock.Set(now)
				s.tick(ctx)
				s.tick(ctx) // a second look at the same time fires nothing more
				calls := sub.dashboardCalls()
				for ; ended < len(calls); ended++ {
					f.endJob(calls[ended].jobID, tc.end[ended])
				}
			}

			if calls := sub.called(); len(calls) != 0 {
				t.Errorf("SubmitScheduledQuery called %d times, want none: only a dashboard is scheduled", len(calls))
			}
			var fired []time.Time
			for _, c := range sub.dashboardCalls() {
				if c.queryID != id {
					t.Errorf("SubmitScheduledDashboard(%d), want only dashboard %d", c.queryID, id)
				}
				fired = append(fired, c.now)
			}
			if diff := cmp.Diff(tc.want, fired, equalTimes); diff != "" {
				t.Errorf("refreshes fired at (-want +got):\n%s", diff)
			}
			var want []run
			for i, at := range tc.want {
				want = append(want, run{Due: at, Started: at, Error: tc.submitErr[i]})
			}
			if diff := cmp.Diff(want, f.runsOf(store.ScheduleDashboard, id), equalTimes); diff != "" {
				t.Errorf("schedule_runs (-want +got):\n%s", diff)
			}
			var failures int
			if err := f.store.Pool().QueryRow(ctx, `SELECT refresh_failures FROM dashboards WHERE id = $1`, id).Scan(&failures); err != nil {
				t.Fatal(err)
			}
			if failures != tc.wantFailures {
				t.Errorf("refresh_failures after the refreshes = %d, want %d", failures, tc.wantFailures)
			}
		})
	}
}

// TestSchedulerSkipsUnparsableDashboardSchedule checks that a dashboard
// whose schedule does not parse is logged once and skipped, and that a
// query with the same ID runs regardless.
func TestSchedulerSkipsUnparsableDashboardSchedule(t *testing.T) {
	t.Parallel()
	f := newSchedFixture(t)
	ctx := context.Background()
	t0 := utc("2027-01-04T10:00:00Z")
	qid := f.query(`{"interval": 60}`, t0)
	// The unparsable dashboard has the query's ID.
	f.exec(`SELECT setval(pg_get_serial_sequence('dashboards', 'id'), $1, false)`, qid)
	id := f.dashboard(`{"cron": "61 * * * *"}`, t0)
	if id != qid {
		t.Fatalf("dashboard id = %d, want %d, the query's", id, qid)
	}
	good := f.dashboard(`{"interval": 60}`, t0)
	clock := &fakeClock{}
	s, sub := f.scheduler(nil, clock)
	for now := t0; !now.After(t0.Add(2 * time.Minute)); now = now.Add(20 * time.Second) {
		clock.Set(now)
		s.tick(ctx)
	}
	var fired []int64
	for _, c := range sub.dashboardCalls() {
		fired = append(fired, c.queryID)
	}
	if want := []int64{good, good, good}; !cmp.Equal(fired, want) {
		t.Errorf("dashboards refreshed = %v, want %v (the good one, every minute)", fired, want)
	}
	if n := len(sub.called()); n != 3 {
		t.Errorf("query %d ran %d times, want 3 next to dashboard %d", qid, n, good)
	}
	logs := f.logs.String()
	if n := strings.Count(logs, "schedule does not parse; dashboard not run"); n != 1 {
		t.Errorf("unparsable dashboard schedule logged %d times over 7 ticks, want once", n)
	}
	if !strings.Contains(logs, fmt.Sprintf("dashboard_id=%d", id)) {
		t.Errorf("logs do not name dashboard_id=%d:\n%s", id, logs)
	}
}

// endJob ends pending job id as status says (0: leaves it pending).
func (f *schedFixture) endJob(id string, status store.JobStatus) {
	f.t.Helper()
	ctx := context.Background()
	var err error
	switch status {
	case 0:
		return
	case store.JobFailed:
		err = f.store.FailJob(ctx, id, "division by zero")
	case store.JobSucceeded:
		if _, err = f.store.ClaimJob(ctx, id); err == nil {
			_, err = f.store.CompleteJob(ctx, id, store.QueryResult{StorageKey: "k"})
		}
	default:
		f.t.Fatalf("endJob(%s, %v): unsupported", id, status)
	}
	if err != nil {
		f.t.Fatalf("end job %s as %v: %v", id, status, err)
	}
}

// jsonbText is schedule as PostgreSQL's jsonb writes it.
func jsonbText(t *testing.T, f *schedFixture, schedule string) string {
	t.Helper()
	var s string
	if err := f.store.Pool().QueryRow(context.Background(), `SELECT $1::jsonb::text`, schedule).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSchedulerSkipsUnparsableSchedule(t *testing.T) {
	t.Parallel()
	f := newSchedFixture(t)
	ctx := context.Background()
	t0 := utc("2027-01-04T10:00:00Z")
	const bad = `{"interval": 86400, "time": "25:00"}`
	badID := f.query(bad, t0)
	goodID := f.query(`{"interval": 60}`, t0)
	clock := &fakeClock{}
	s, sub := f.scheduler(nil, clock)
	for now := t0; !now.After(t0.Add(2 * time.Minute)); now = now.Add(20 * time.Second) {
		clock.Set(now)
		s.tick(ctx)
	}

	var fired []int64
	for _, c := range sub.called() {
		fired = append(fired, c.queryID)
	}
	if want := []int64{goodID, goodID, goodID}; !cmp.Equal(fired, want) {
		t.Errorf("queries fired = %v, want %v (the good one, every minute)", fired, want)
	}
	if got, want := f.column(badID, "schedule"), jsonbText(t, f, bad); got != want {
		t.Errorf("unparsable schedule after ticks = %s, want it kept: %s", got, want)
	}
	if got := f.column(badID, "schedule_failures"); got != "0" {
		t.Errorf("schedule_failures of the unparsable schedule = %s, want 0", got)
	}
	if n := strings.Count(f.logs.String(), "schedule does not parse"); n != 1 {
		t.Errorf("unparsable schedule logged %d times over 7 ticks, want once", n)
	}
	// Fixed, it runs.
	f.exec(`UPDATE queries SET schedule = '{"interval": 60}' WHERE id = $1`, badID)
	s.tick(ctx)
	if calls := sub.called(); calls[len(calls)-1].queryID != badID {
		t.Errorf("last query fired after its schedule was fixed = %d, want %d", calls[len(calls)-1].queryID, badID)
	}
}

// tickCounter counts a scheduler's ticks, and those it led.
type tickCounter struct {
	ticks, led, notLed atomic.Int64
}

func (c *tickCounter) hook(led bool) {
	if led {
		c.led.Add(1)
	} else {
		c.notLed.Add(1)
	}
	c.ticks.Add(1)
}

// startScheduler runs s until the test ends and counts its ticks.
func startScheduler(t *testing.T, s *Scheduler) *tickCounter {
	c := &tickCounter{}
	s.ticked = c.hook
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v, want nil", err)
		}
	})
	return c
}

// waitTicks waits until every counter has ticked twice more, so that each
// has run a whole tick at the clock's current time.
func waitTicks(t *testing.T, counters ...*tickCounter) {
	t.Helper()
	start := make([]int64, len(counters))
	for i, c := range counters {
		start[i] = c.ticks.Load()
	}
	deadline := time.Now().Add(10 * time.Second)
	for i, c := range counters {
		for c.ticks.Load() < start[i]+2 {
			if time.Now().After(deadline) {
				t.Fatalf("scheduler %d did not tick", i)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// TestTwoSchedulersOneLeader runs two schedulers on separate PostgreSQL
// sessions over the same window: the lock lets one lead, each due run fires
// once, and when the leader's session dies leadership moves without a run
// firing twice.
func TestTwoSchedulersOneLeader(t *testing.T) {
	t.Parallel()
	f := newSchedFixture(t)
	t0 := utc("2027-01-04T10:00:00Z")
	id := f.query(`{"interval": 60}`, t0)
	clock := &fakeClock{t: t0.Add(-time.Minute)}
	tag := time.Now().UnixNano()
	names := []string{fmt.Sprintf("sched_%d_a", tag), fmt.Sprintf("sched_%d_b", tag)}
	var stores []*store.Store
	var subs []*fakeSubmitter
	var counters []*tickCounter
	for _, name := range names {
		st := f.otherStore(name)
		s, sub := f.scheduler(st, clock)
		stores, subs = append(stores, st), append(subs, sub)
		counters = append(counters, startScheduler(t, s))
	}
	step := func(to time.Time) {
		for now := clock.Now(); !now.After(to); now = now.Add(30 * time.Second) {
			clock.Set(now)
			waitTicks(t, counters...)
		}
	}
	step(t0.Add(5 * time.Minute))

	leader := 0
	if len(subs[1].called()) > 0 {
		leader = 1
	}
	if n := len(subs[1-leader].called()); n != 0 {
		t.Fatalf("both schedulers submitted runs (%d and %d), want one leader", len(subs[leader].called()), n)
	}
	if counters[1-leader].led.Load() != 0 || counters[1-leader].notLed.Load() == 0 {
		t.Errorf("the other scheduler led %d ticks of %d, want none", counters[1-leader].led.Load(), counters[1-leader].ticks.Load())
	}

	// The leader's sessions die: it stops leading, and one of the two takes
	// the lock again.
	notLed := counters[leader].notLed.Load()
	f.exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, names[leader])
	deadline := time.Now().Add(10 * time.Second)
	for counters[leader].notLed.Load() == notLed {
		if time.Now().After(deadline) {
			t.Fatal("the leader kept leading after its session was terminated")
		}
		time.Sleep(time.Millisecond)
	}
	// Its other dead connections go too, as they would at their next use.
	stores[leader].Pool().Reset()
	step(t0.Add(10 * time.Minute))

	var want []run
	for i := range 11 {
		at := t0.Add(time.Duration(i) * time.Minute)
		want = append(want, run{Due: at, Started: at})
	}
	got := f.runs(id)
	if diff := cmp.Diff(want, got, equalTimes); diff != "" {
		t.Errorf("schedule_runs (-want +got):\n%s", diff)
	}
	if n := len(subs[0].called()) + len(subs[1].called()); n != len(got) {
		t.Errorf("SubmitScheduledQuery called %d times for %d runs, want once per run", n, len(got))
	}
}

// TestSchedulersWithoutLockFireOnce runs two schedulers that both lead,
// bypassing the lock: the claim in schedule_runs alone fires each run once.
func TestSchedulersWithoutLockFireOnce(t *testing.T) {
	t.Parallel()
	f := newSchedFixture(t)
	ctx := context.Background()
	t0 := utc("2027-01-04T10:00:00Z")
	id := f.query(`{"interval": 60}`, t0)
	clock := &fakeClock{t: t0}
	a, subA := f.scheduler(f.otherStore("sched_nolock_a"), clock)
	b, subB := f.scheduler(f.otherStore("sched_nolock_b"), clock)
	a.noLock, b.noLock = true, true

	// Both see the same run due; the second claim is refused.
	runsA, errA := a.dueQueries(ctx, t0)
	runsB, errB := b.dueQueries(ctx, t0)
	if errA != nil || errB != nil || len(runsA) != 1 || len(runsB) != 1 {
		t.Fatalf("dueQueries() = %v, %v; %v, %v, want one run each", runsA, errA, runsB, errB)
	}
	if !a.fire(ctx, runsA[0], t0) {
		t.Errorf("fire(a) = false, want the first claim to fire")
	}
	if b.fire(ctx, runsB[0], t0) {
		t.Errorf("fire(b) of the run a fired = true, want it refused")
	}

	// Both running at once over a window.
	counters := []*tickCounter{startScheduler(t, a), startScheduler(t, b)}
	for now := t0; !now.After(t0.Add(5 * time.Minute)); now = now.Add(15 * time.Second) {
		clock.Set(now)
		waitTicks(t, counters...)
	}
	for i, c := range counters {
		if c.led.Load() == 0 || c.notLed.Load() != 0 {
			t.Errorf("scheduler %d led %d of %d ticks, want all", i, c.led.Load(), c.ticks.Load())
		}
	}
	var want []run
	for i := range 6 {
		at := t0.Add(time.Duration(i) * time.Minute)
		want = append(want, run{Due: at, Started: at})
	}
	got := f.runs(id)
	if diff := cmp.Diff(want, got, equalTimes); diff != "" {
		t.Errorf("schedule_runs (-want +got):\n%s", diff)
	}
	if n := len(subA.called()) + len(subB.called()); n != len(got) {
		t.Errorf("SubmitScheduledQuery called %d times for %d runs, want once per run", n, len(got))
	}
}

func TestSchedulerRunNeedsSetup(t *testing.T) {
	for _, s := range []*Scheduler{
		{},
		{Store: &store.Store{}, Submitter: &fakeSubmitter{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))},
	} {
		if err := s.Run(context.Background()); err == nil {
			t.Errorf("Run() of %+v = nil, want an error", s)
		}
	}
}

// TestScheduledQueue checks that scheduled runs have a queue of their own,
// which workers serve and the reconciler watches.
func TestScheduledQueue(t *testing.T) {
	f := newFixture(t, `{}`)
	ctx := context.Background()
	client := NewClient(f.rdb, testConfig().Limits)
	inspector := asynq.NewInspectorFromRedisClient(f.rdb)
	r := &reconciler{store: f.store, client: client, inspector: inspector, cfg: testConfig().Reconcile,
		log: slog.New(slog.NewTextHandler(io.Discard, nil))}

	live := f.job("rows 1", false)
	if err := client.EnqueueScheduledQuery(ctx, live); err != nil {
		t.Fatal(err)
	}
	if _, err := inspector.GetTaskInfo(QueueScheduled, live); err != nil {
		t.Fatalf("GetTaskInfo(%s, %s) = %v, want the task there", QueueScheduled, live, err)
	}
	dead := f.job("rows 2", false)
	if err := client.EnqueueScheduledQuery(ctx, dead); err != nil {
		t.Fatal(err)
	}
	if err := inspector.ArchiveTask(QueueScheduled, dead); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{live, dead} {
		j, err := f.store.Job(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.ensureQueued(ctx, j); err != nil {
			t.Fatalf("ensureQueued(%s) = %v", id, err)
		}
		if _, err := inspector.GetTaskInfo(QueueQueries, id); !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
			t.Errorf("GetTaskInfo(%s, %s) after ensureQueued = %v, want no task: it stays scheduled", QueueQueries, id, err)
		}
		info, err := inspector.GetTaskInfo(QueueScheduled, id)
		if err != nil || info.State != asynq.TaskStatePending {
			t.Errorf("GetTaskInfo(%s, %s) after ensureQueued = %v, %v, want pending", QueueScheduled, id, info, err)
		}
	}

	f.start(testConfig())
	f.waitStatus(live, store.JobSucceeded)
	f.waitStatus(dead, store.JobSucceeded)
}

// lockedBuffer collects logs written from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
