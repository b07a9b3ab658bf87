package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"

	"github.com/queryd/queryd/store"
)

func TestJobStatusDone(t *testing.T) {
	tests := []struct {
		status store.JobStatus
		want   bool
	}{
		{store.JobPending, false},
		{store.JobStarted, false},
		{store.JobSucceeded, true},
		{store.JobFailed, true},
		{store.JobCancelled, true},
	}
	for _, tc := range tests {
		if got := tc.status.Done(); got != tc.want {
			t.Errorf("JobStatus(%d).Done() = %v, want %v", tc.status, got, tc.want)
		}
	}
}

func TestCreateQueryJob(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	q, err := f.s.CreateQuery(ctx, store.Query{Name: "q", Query: "SELECT 1", QueryHash: "h", DataSourceID: &f.ds.ID, UserID: f.user.ID})
	if err != nil {
		t.Fatal(err)
	}
	in := store.Job{
		Kind:         "ignored",
		Status:       store.JobSucceeded, // ignored
		DataSourceID: f.ds.ID,
		QueryID:      &q.ID,
		QueryHash:    "h",
		QueryText:    "SELECT 1",
		UserID:       f.user.ID,
		Attempts:     7, // ignored
	}
	j, created, err := f.s.CreateQueryJob(ctx, in)
	if err != nil || !created {
		t.Fatalf("CreateQueryJob(%+v) = created %v, %v, want true, nil", in, created, err)
	}
	if _, err := uuid.Parse(j.ID); err != nil {
		t.Errorf("CreateQueryJob: ID = %q, want a UUID", j.ID)
	}
	want := store.Job{
		ID: j.ID, Kind: "query", Status: store.JobPending, DataSourceID: f.ds.ID, QueryID: &q.ID,
		QueryHash: "h", QueryText: "SELECT 1", UserID: f.user.ID, CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt,
	}
	if diff := cmp.Diff(want, j); diff != "" || j.CreatedAt.IsZero() {
		t.Errorf("CreateQueryJob(%+v) diff (-want +got):\n%s", in, diff)
	}
	if got := f.job(t, j.ID); !cmp.Equal(j, got) {
		t.Errorf("Job(%s) = %+v, want %+v", j.ID, got, j)
	}

	// The same (data source, hash) while in flight: the same job.
	again, created, err := f.s.CreateQueryJob(ctx, store.Job{DataSourceID: f.ds.ID, QueryHash: "h", QueryText: "SELECT 1", UserID: f.user.ID})
	if err != nil || created || !cmp.Equal(again, j) {
		t.Errorf("CreateQueryJob(same) = %+v, created %v, %v, want %+v, false, nil", again, created, err, j)
	}

	other := createDataSource(t, f.s)
	tests := []struct {
		name    string
		in      store.Job
		created bool
		wantErr error
	}{
		{"given ID", store.Job{ID: "my-id", DataSourceID: f.ds.ID, QueryHash: "h2", UserID: f.user.ID}, true, nil},
		{"ID taken", store.Job{ID: "my-id", DataSourceID: f.ds.ID, QueryHash: "h3", UserID: f.user.ID}, false, store.ErrConflict},
		{"same hash other data source", store.Job{DataSourceID: other.ID, QueryHash: "h", UserID: f.user.ID}, true, nil},
		{"missing data source", store.Job{DataSourceID: other.ID + 1000, QueryHash: "h", UserID: f.user.ID}, false, store.ErrNotFound},
		{"missing user", store.Job{DataSourceID: f.ds.ID, QueryHash: "h4", UserID: f.user.ID + 1000}, false, store.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, created, err := f.s.CreateQueryJob(ctx, tc.in)
			if created != tc.created || !errIs(err, tc.wantErr) {
				t.Fatalf("CreateQueryJob(%+v) = created %v, %v, want %v, %v", tc.in, created, err, tc.created, tc.wantErr)
			}
			if tc.in.ID != "" && err == nil && got.ID != tc.in.ID {
				t.Errorf("CreateQueryJob(%+v).ID = %q, want %q", tc.in, got.ID, tc.in.ID)
			}
		})
	}
	if got, err := f.s.Job(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Job(missing) = %+v, %v, want ErrNotFound", got, err)
	}
}

func TestCreateQueryJobConcurrentDedup(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const n = 20
	type outcome struct {
		id      string
		created bool
		err     error
	}
	outcomes := make([]outcome, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			j, created, err := f.s.CreateQueryJob(context.Background(), store.Job{
				DataSourceID: f.ds.ID, QueryHash: "same", QueryText: "SELECT 1", UserID: f.user.ID,
			})
			outcomes[i] = outcome{j.ID, created, err}
		})
	}
	close(start)
	wg.Wait()

	createdCount := 0
	for i, o := range outcomes {
		if o.err != nil {
			t.Errorf("CreateQueryJob call %d error = %v", i, o.err)
		}
		if o.created {
			createdCount++
		}
		if o.id != outcomes[0].id {
			t.Errorf("CreateQueryJob call %d ID = %q, want %q like call 0", i, o.id, outcomes[0].id)
		}
	}
	if createdCount != 1 {
		t.Errorf("CreateQueryJob × %d: %d created, want exactly 1", n, createdCount)
	}
	if rows := count(t, f.s.Pool(), `SELECT count(*) FROM jobs WHERE query_hash = 'same'`); rows != 1 {
		t.Errorf("jobs rows for the hash = %d, want 1", rows)
	}
}

func TestCreateQueryJobDedupFreesWhenDone(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	tests := []struct {
		name string
		end  func(id string) error
	}{
		{"succeeded", func(id string) error {
			if _, err := f.s.ClaimJob(ctx, id); err != nil {
				return err
			}
			_, err := f.s.CompleteJob(ctx, id, store.QueryResult{})
			return err
		}},
		{"failed", func(id string) error { return f.s.FailJob(ctx, id, "boom") }},
		{"cancelled", func(id string) error { return f.s.FinishCancelled(ctx, id) }},
		{"cancel requested while pending", func(id string) error { _, err := f.s.RequestCancel(ctx, id); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hash := unique("hash")
			first := f.newJob(t, hash)
			if err := tc.end(first.ID); err != nil {
				t.Fatalf("ending job: %v", err)
			}
			second, created, err := f.s.CreateQueryJob(ctx, store.Job{DataSourceID: f.ds.ID, QueryHash: hash, UserID: f.user.ID})
			if err != nil || !created || second.ID == first.ID {
				t.Errorf("CreateQueryJob(%s) after the job %s = %s, created %v, %v, want a new job", hash, tc.name, second.ID, created, err)
			}
		})
	}
}

// jobState builds a job in one state of the machine.
type jobState struct {
	name   string
	status store.JobStatus
	cancel bool // cancel requested
}

var (
	pending                = jobState{"pending", store.JobPending, false}
	started                = jobState{"started", store.JobStarted, false}
	succeeded              = jobState{"succeeded", store.JobSucceeded, false}
	failed                 = jobState{"failed", store.JobFailed, false}
	cancelled              = jobState{"cancelled", store.JobCancelled, true}
	startedCancelRequested = jobState{"started, cancel requested", store.JobStarted, true}
	allStates              = []jobState{pending, started, succeeded, failed, cancelled, startedCancelRequested}
)

// jobIn returns a new job in state st, driven there through the store.
func (f fixture) jobIn(t testing.TB, st jobState) store.Job {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("building a %s job: %v", st.name, err)
		}
	}
	var j store.Job
	switch st {
	case pending:
		j = f.newJob(t, "")
	case started:
		j = f.startedJob(t, "")
	case succeeded:
		j = f.startedJob(t, "")
		_, err := f.s.CompleteJob(ctx, j.ID, store.QueryResult{})
		must(err)
	case failed:
		j = f.newJob(t, "")
		must(f.s.FailJob(ctx, j.ID, "boom"))
	case cancelled:
		j = f.newJob(t, "")
		_, err := f.s.RequestCancel(ctx, j.ID)
		must(err)
	case startedCancelRequested:
		j = f.startedJob(t, "")
		_, err := f.s.RequestCancel(ctx, j.ID)
		must(err)
	default:
		t.Fatalf("unknown state %v", st)
	}
	j = f.job(t, j.ID)
	if j.Status != st.status || j.CancelRequested != st.cancel {
		t.Fatalf("built job %+v, want status %v, cancel requested %v", j, st.status, st.cancel)
	}
	return j
}

// TestJobTransitions runs every guarded transition from every state.
func TestJobTransitions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()

	type op struct {
		name string
		do   func(id string) error
		// allowed maps the states it applies to onto the status after.
		allowed map[jobState]store.JobStatus
	}
	ops := []op{
		{"ClaimJob", func(id string) error { _, err := f.s.ClaimJob(ctx, id); return err },
			map[jobState]store.JobStatus{pending: store.JobStarted}},
		{"CompleteJob", func(id string) error { _, err := f.s.CompleteJob(ctx, id, store.QueryResult{}); return err },
			map[jobState]store.JobStatus{started: store.JobSucceeded}},
		{"FailJob", func(id string) error { return f.s.FailJob(ctx, id, "boom") },
			map[jobState]store.JobStatus{pending: store.JobFailed, started: store.JobFailed,
				startedCancelRequested: store.JobFailed}},
		{"FinishCancelled", func(id string) error { return f.s.FinishCancelled(ctx, id) },
			map[jobState]store.JobStatus{pending: store.JobCancelled, started: store.JobCancelled,
				startedCancelRequested: store.JobCancelled}},
		{"RequeueJob", func(id string) error { return f.s.RequeueJob(ctx, id) },
			// A job whose cancel was requested must not run again.
			map[jobState]store.JobStatus{started: store.JobPending, startedCancelRequested: store.JobCancelled}},
	}
	for _, op := range ops {
		for _, st := range allStates {
			t.Run(op.name+"/"+st.name, func(t *testing.T) {
				before := f.jobIn(t, st)
				err := op.do(before.ID)
				after := f.job(t, before.ID)

				wantStatus, ok := op.allowed[st]
				if !ok {
					if !errors.Is(err, store.ErrConflict) {
						t.Errorf("%s(%s job) = %v, want ErrConflict", op.name, st.name, err)
					}
					if diff := cmp.Diff(before, after); diff != "" {
						t.Errorf("%s(%s job) changed the job despite ErrConflict (-before +after):\n%s", op.name, st.name, diff)
					}
					return
				}
				if err != nil {
					t.Fatalf("%s(%s job) = %v, want nil", op.name, st.name, err)
				}
				if after.Status != wantStatus {
					t.Errorf("%s(%s job): status = %v, want %v", op.name, st.name, after.Status, wantStatus)
				}
				if after.UpdatedAt.Before(before.UpdatedAt) {
					t.Errorf("%s(%s job): UpdatedAt = %v, want not before %v", op.name, st.name, after.UpdatedAt, before.UpdatedAt)
				}
				if after.Status.Done() != (after.FinishedAt != nil) {
					t.Errorf("%s(%s job): status %v with FinishedAt %v, want FinishedAt set exactly when done", op.name, st.name, after.Status, after.FinishedAt)
				}
			})
		}
		t.Run(op.name+"/missing", func(t *testing.T) {
			if err := op.do("missing"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s(missing) = %v, want ErrNotFound", op.name, err)
			}
		})
	}
}

func TestClaimJob(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	j := f.newJob(t, "")
	claimed, err := f.s.ClaimJob(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if claimed.Status != store.JobStarted || claimed.Attempts != 1 || claimed.StartedAt == nil || claimed.HeartbeatAt == nil {
		t.Errorf("ClaimJob(%s) = %+v, want started, attempt 1, StartedAt and HeartbeatAt set", j.ID, claimed)
	}
	if got := f.job(t, j.ID); !cmp.Equal(got, claimed) {
		t.Errorf("Job(%s) after claim = %+v, want %+v", j.ID, got, claimed)
	}

	// A second claim conflicts and shows the job as it is.
	got, err := f.s.ClaimJob(ctx, j.ID)
	if !errors.Is(err, store.ErrConflict) || !cmp.Equal(got, claimed) {
		t.Errorf("ClaimJob(%s) again = %+v, %v, want %+v, ErrConflict", j.ID, got, err, claimed)
	}

	// Requeued and claimed again: a second attempt.
	if err := f.s.RequeueJob(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	again, err := f.s.ClaimJob(ctx, j.ID)
	if err != nil || again.Attempts != 2 {
		t.Errorf("ClaimJob(%s) after requeue = attempts %d, %v, want 2, nil", j.ID, again.Attempts, err)
	}

	// A job whose cancel was requested while it ran ends cancelled when
	// handed back, and is not claimed again.
	c := f.jobIn(t, startedCancelRequested)
	if err := f.s.RequeueJob(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	got, err = f.s.ClaimJob(ctx, c.ID)
	if !errors.Is(err, store.ErrConflict) || got.Status != store.JobCancelled || got.Error != store.CancelledMessage {
		t.Errorf("ClaimJob(requeued cancel-requested job) = %+v, %v, want it cancelled, ErrConflict", got, err)
	}
}

func TestCompleteJob(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	j := f.startedJob(t, "h")
	same, err := f.s.CreateQuery(ctx, store.Query{Name: "same", Query: "SELECT 1", QueryHash: "h", DataSourceID: &f.ds.ID, UserID: f.user.ID})
	if err != nil {
		t.Fatal(err)
	}
	other, err := f.s.CreateQuery(ctx, store.Query{Name: "other", Query: "SELECT 2", QueryHash: "h-other", DataSourceID: &f.ds.ID, UserID: f.user.ID})
	if err != nil {
		t.Fatal(err)
	}

	before := time.Now()
	r, err := f.s.CompleteJob(ctx, j.ID, store.QueryResult{RowCount: 3, StorageKey: "k"})
	if err != nil {
		t.Fatalf("CompleteJob(%s) error = %v", j.ID, err)
	}
	if r.ID == 0 || r.DataSourceID != f.ds.ID || r.QueryHash != "h" || r.Query != j.QueryText || r.RowCount != 3 ||
		r.RetrievedAt.Before(before.Add(-time.Minute)) {
		t.Errorf("CompleteJob(%s) = %+v, want the job's data source, hash and text, retrieved now", j.ID, r)
	}
	got := f.job(t, j.ID)
	if got.Status != store.JobSucceeded || got.QueryResultID == nil || *got.QueryResultID != r.ID || got.FinishedAt == nil {
		t.Errorf("Job(%s) after CompleteJob = %+v, want succeeded with result %d", j.ID, got, r.ID)
	}
	if q, _ := f.s.Query(ctx, same.ID); q.LatestQueryDataID == nil || *q.LatestQueryDataID != r.ID {
		t.Errorf("Query(%d).LatestQueryDataID after CompleteJob = %v, want %d", same.ID, q.LatestQueryDataID, r.ID)
	}
	if q, _ := f.s.Query(ctx, other.ID); q.LatestQueryDataID != nil {
		t.Errorf("Query(%d).LatestQueryDataID of another hash = %v, want nil", other.ID, *q.LatestQueryDataID)
	}
}

// TestCompleteJobAtomic checks a failed guard writes nothing.
func TestCompleteJobAtomic(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	for _, st := range []jobState{pending, startedCancelRequested, succeeded} {
		t.Run(st.name, func(t *testing.T) {
			j := f.jobIn(t, st)
			q, err := f.s.CreateQuery(ctx, store.Query{Name: "q", Query: "SELECT 1", QueryHash: j.QueryHash, DataSourceID: &f.ds.ID, UserID: f.user.ID})
			if err != nil {
				t.Fatal(err)
			}
			results := count(t, f.s.Pool(), `SELECT count(*) FROM query_results`)

			if _, err := f.s.CompleteJob(ctx, j.ID, store.QueryResult{RowCount: 1}); !errors.Is(err, store.ErrConflict) {
				t.Errorf("CompleteJob(%s job) = %v, want ErrConflict", st.name, err)
			}
			if n := count(t, f.s.Pool(), `SELECT count(*) FROM query_results`); n != results {
				t.Errorf("query_results rows after a conflicting CompleteJob = %d, want %d", n, results)
			}
			if got := f.job(t, j.ID); !cmp.Equal(got, j) {
				t.Errorf("Job(%s) after a conflicting CompleteJob = %+v, want unchanged %+v", j.ID, got, j)
			}
			if got, _ := f.s.Query(ctx, q.ID); !cmp.Equal(got, q) {
				t.Errorf("Query(%d) after a conflicting CompleteJob = %+v, want unchanged %+v", q.ID, got, q)
			}
		})
	}
	results := count(t, f.s.Pool(), `SELECT count(*) FROM query_results`)
	if _, err := f.s.CompleteJob(ctx, "missing", store.QueryResult{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CompleteJob(missing) = %v, want ErrNotFound", err)
	}
	if n := count(t, f.s.Pool(), `SELECT count(*) FROM query_results`); n != results {
		t.Errorf("query_results rows after CompleteJob(missing) = %d, want %d", n, results)
	}
}

func TestFailJob(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	j := f.startedJob(t, "")
	if err := f.s.FailJob(context.Background(), j.ID, "relation \"x\" does not exist"); err != nil {
		t.Fatal(err)
	}
	got := f.job(t, j.ID)
	if got.Status != store.JobFailed || got.Error != `relation "x" does not exist` || got.FinishedAt == nil {
		t.Errorf("Job(%s) after FailJob = %+v, want failed with the message", j.ID, got)
	}
}

func TestRequestCancel(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	tests := []struct {
		state      jobState
		wantStatus store.JobStatus
		wantError  string
	}{
		{pending, store.JobCancelled, store.CancelledMessage},
		{started, store.JobStarted, ""},
		{startedCancelRequested, store.JobStarted, ""},
	}
	for _, tc := range tests {
		t.Run(tc.state.name, func(t *testing.T) {
			j := f.jobIn(t, tc.state)
			got, err := f.s.RequestCancel(ctx, j.ID)
			if err != nil {
				t.Fatalf("RequestCancel(%s job) error = %v", tc.state.name, err)
			}
			if got.Status != tc.wantStatus || !got.CancelRequested || got.Error != tc.wantError ||
				got.Status.Done() != (got.FinishedAt != nil) {
				t.Errorf("RequestCancel(%s job) = %+v, want status %v, cancel requested, error %q", tc.state.name, got, tc.wantStatus, tc.wantError)
			}
			if stored := f.job(t, j.ID); !cmp.Equal(stored, got) {
				t.Errorf("Job(%s) after RequestCancel = %+v, want %+v", j.ID, stored, got)
			}
		})
	}
	for _, st := range []jobState{succeeded, failed, cancelled} {
		t.Run(st.name, func(t *testing.T) {
			j := f.jobIn(t, st)
			got, err := f.s.RequestCancel(ctx, j.ID)
			if err != nil || !cmp.Equal(got, j) {
				t.Errorf("RequestCancel(%s job) = %+v, %v, want it unchanged %+v, nil", st.name, got, err, j)
			}
			if stored := f.job(t, j.ID); !cmp.Equal(stored, j) {
				t.Errorf("Job(%s) after RequestCancel = %+v, want unchanged %+v", j.ID, stored, j)
			}
		})
	}
	if _, err := f.s.RequestCancel(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RequestCancel(missing) = %v, want ErrNotFound", err)
	}
}

func TestHeartbeat(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	a, b := f.jobIn(t, started), f.jobIn(t, started)
	c := f.jobIn(t, startedCancelRequested)
	d := f.jobIn(t, pending)
	exec(t, f.s.Pool(), `UPDATE jobs SET heartbeat_at = now() - interval '1 hour' WHERE status = 2`)

	ids := []string{a.ID, b.ID, c.ID, d.ID, "missing"}
	got, err := f.s.Heartbeat(ctx, ids)
	if diff := cmp.Diff([]string{c.ID}, got); err != nil || diff != "" {
		t.Errorf("Heartbeat(%v) error = %v, diff (-want +got):\n%s", ids, err, diff)
	}
	for _, j := range []store.Job{a, b, c} {
		if hb := f.job(t, j.ID).HeartbeatAt; hb == nil || time.Since(*hb) > time.Minute {
			t.Errorf("Job(%s).HeartbeatAt after Heartbeat = %v, want about now", j.ID, hb)
		}
	}
	if hb := f.job(t, d.ID).HeartbeatAt; hb != nil {
		t.Errorf("Job(%s).HeartbeatAt of a pending job after Heartbeat = %v, want nil", d.ID, hb)
	}

	for _, ids := range [][]string{nil, {}, {d.ID}} {
		if got, err := f.s.Heartbeat(ctx, ids); err != nil || len(got) != 0 {
			t.Errorf("Heartbeat(%v) = %v, %v, want none", ids, got, err)
		}
	}
}

func TestPendingAndStaleJobs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	p10, p1 := f.jobIn(t, pending), f.jobIn(t, pending)
	s10, s1, s0 := f.jobIn(t, started), f.jobIn(t, started), f.jobIn(t, started)
	f.jobIn(t, pending) // fresh: never returned
	done := f.jobIn(t, failed)
	age := func(j store.Job, col string, minutes int) {
		exec(t, f.s.Pool(), `UPDATE jobs SET `+col+` = now() - $2 * interval '1 minute' WHERE id = $1`, j.ID, minutes)
	}
	age(p10, "updated_at", 10)
	age(p1, "updated_at", 1)
	age(s10, "heartbeat_at", 10)
	age(s1, "heartbeat_at", 1)
	age(s0, "updated_at", 60) // a started job's updated_at does not matter
	age(done, "updated_at", 60)

	ids := func(jobs []store.Job) []string {
		var out []string
		for _, j := range jobs {
			out = append(out, j.ID)
		}
		return out
	}
	tests := []struct {
		name      string
		fn        func(context.Context, time.Duration, int) ([]store.Job, error)
		olderThan time.Duration
		limit     int
		want      []string
	}{
		{"PendingJobs", f.s.PendingJobs, 5 * time.Minute, 10, []string{p10.ID}},
		{"PendingJobs", f.s.PendingJobs, 30 * time.Second, 10, []string{p10.ID, p1.ID}},
		{"PendingJobs", f.s.PendingJobs, 30 * time.Second, 1, []string{p10.ID}},
		{"PendingJobs", f.s.PendingJobs, time.Hour, 10, nil},
		{"StaleJobs", f.s.StaleJobs, 5 * time.Minute, 10, []string{s10.ID}},
		{"StaleJobs", f.s.StaleJobs, 30 * time.Second, 10, []string{s10.ID, s1.ID}},
		{"StaleJobs", f.s.StaleJobs, 30 * time.Second, 1, []string{s10.ID}},
		{"StaleJobs", f.s.StaleJobs, time.Hour, 10, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			jobs, err := tc.fn(ctx, tc.olderThan, tc.limit)
			if diff := cmp.Diff(tc.want, ids(jobs), cmpopts.EquateEmpty()); err != nil || diff != "" {
				t.Errorf("%s(%v, %d) error = %v, diff (-want +got):\n%s", tc.name, tc.olderThan, tc.limit, err, diff)
			}
		})
	}

	// A requeued job counts from its requeue.
	if err := f.s.RequeueJob(ctx, s10.ID); err != nil {
		t.Fatal(err)
	}
	jobs, err := f.s.PendingJobs(ctx, 30*time.Second, 10)
	if diff := cmp.Diff([]string{p10.ID, p1.ID}, ids(jobs)); err != nil || diff != "" {
		t.Errorf("PendingJobs(30s, 10) after a requeue error = %v, diff (-want +got):\n%s", err, diff)
	}
}

func TestSetWarehouseQueryID(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	j := f.startedJob(t, "")
	if err := f.s.SetWarehouseQueryID(ctx, j.ID, "01b2-query"); err != nil {
		t.Fatalf("SetWarehouseQueryID(started job) error = %v, want nil", err)
	}
	if got := f.job(t, j.ID).WarehouseQueryID; got != "01b2-query" {
		t.Errorf("Job(%s).WarehouseQueryID = %q, want 01b2-query", j.ID, got)
	}
	if err := f.s.SetWarehouseQueryID(ctx, f.newJob(t, "").ID, "x"); !errors.Is(err, store.ErrConflict) {
		t.Errorf("SetWarehouseQueryID(pending job) error = %v, want ErrConflict", err)
	}
	if err := f.s.SetWarehouseQueryID(ctx, "missing", "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetWarehouseQueryID(missing) error = %v, want ErrNotFound", err)
	}
}
