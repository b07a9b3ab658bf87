package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/queryd/queryd/store"
	"github.com/queryd/queryd/store/storetest"
)

// queueRecorder records which queues each job was enqueued on.
type queueRecorder struct {
	mu     sync.Mutex
	queues map[string][]string // job ID → "interactive" or "scheduled", in order
}

func (r *queueRecorder) record(jobID, queue string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.queues == nil {
		r.queues = map[string][]string{}
	}
	r.queues[jobID] = append(r.queues[jobID], queue)
	return nil
}

func (r *queueRecorder) EnqueueQuery(_ context.Context, jobID string) error {
	return r.record(jobID, "interactive")
}

func (r *queueRecorder) EnqueueScheduledQuery(_ context.Context, jobID string) error {
	return r.record(jobID, "scheduled")
}

// queue is the queue jobID was last enqueued on.
func (r *queueRecorder) queue(jobID string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.queues[jobID]
	if len(q) == 0 {
		return ""
	}
	return q[len(q)-1]
}

// all is every queue jobID was enqueued on, in order.
func (r *queueRecorder) all(jobID string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.queues[jobID])
}

// noTypes is a DataSourceTypes that adds no limit.
type noTypes struct{ DataSourceTypes }

func (noTypes) AutoLimit(_, sql string) string { return sql }

// dashFixture is a server on a fresh store, with a data source and a user.
type dashFixture struct {
	t     *testing.T
	s     *Server
	st    *store.Store
	queue *queueRecorder
	dsID  int64
	user  store.User
}

func newDashFixture(t *testing.T) *dashFixture {
	t.Helper()
	st, _ := storetest.New(t)
	ctx := context.Background()
	ds, err := st.CreateDataSource(ctx, "warehouse", "fake", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	u, _, err := st.CreateUser(ctx, "owner@example.com", "", false)
	if err != nil {
		t.Fatal(err)
	}
	q := &queueRecorder{}
	s := New(Config{}, st, nil, q, noTypes{}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return &dashFixture{t: t, s: s, st: st, queue: q, dsID: ds.ID, user: u}
}

// dashboard saves a dashboard of f's user with schedule and options, and a
// widget for each query of sqls, whose parameters params defines.
func (f *dashFixture) dashboard(schedule, options, params string, sqls ...string) store.Dashboard {
	f.t.Helper()
	ctx := context.Background()
	d, err := f.st.CreateDashboard(ctx, store.Dashboard{Name: "scheduled", UserID: f.user.ID,
		RefreshSchedule: json.RawMessage(schedule), Options: json.RawMessage(options)})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, sql := range sqls {
		q, err := f.st.CreateQuery(ctx, store.Query{Name: "q", Query: sql, QueryHash: sql, DataSourceID: &f.dsID,
			UserID: f.user.ID, Options: json.RawMessage(`{"parameters": ` + params + `}`)})
		if err != nil {
			f.t.Fatal(err)
		}
		v, err := f.st.CreateVisualization(ctx, store.Visualization{QueryID: q.ID, Type: "TABLE", Name: "Table"})
		if err != nil {
			f.t.Fatal(err)
		}
		if _, err := f.st.CreateWidget(ctx, store.Widget{DashboardID: d.ID, VisualizationID: &v.ID, Width: 1}); err != nil {
			f.t.Fatal(err)
		}
	}
	return d
}

func TestSubmitScheduledDashboard(t *testing.T) {
	t.Parallel()
	f := newDashFixture(t)
	ctx := context.Background()
	// 23:30 UTC is 12:30 the next day in Auckland.
	now := time.Date(2027, 1, 10, 23, 30, 0, 0, time.UTC)
	const dayParam = `[{"name": "day", "type": "date", "value": "2000-01-01"}]`
	const schedule = `{"interval": 300, "cron": null, "timezone": "Pacific/Auckland"}`

	d := f.dashboard(schedule, `{"parameters": {"day": "d_yesterday"}}`, dayParam,
		"SELECT DATE '{{ day }}' AS a", "SELECT DATE '{{ day }}' AS b")
	jobID, err := f.s.SubmitScheduledDashboard(ctx, d.ID, now)
	if err != nil || jobID == "" {
		t.Fatalf("SubmitScheduledDashboard(%d) = %q, %v, want a job", d.ID, jobID, err)
	}
	j, err := f.st.Job(ctx, jobID)
	if err != nil {
		t.Fatal(err)
	}
	if want := "SELECT DATE '2027-01-10' AS a"; j.QueryText != want || j.UserID != f.user.ID {
		t.Errorf("SubmitScheduledDashboard(%d) job text %q as user %d, want %q as the owner %d",
			d.ID, j.QueryText, j.UserID, want, f.user.ID)
	}
	var jobs []string
	rows, err := f.st.Pool().Query(ctx, `SELECT id FROM jobs ORDER BY created_at, id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, id)
	}
	if len(jobs) != 2 {
		t.Errorf("jobs after the refresh = %v, want one per widget's query", jobs)
	}
	for _, id := range jobs {
		if got := f.queue.queue(id); got != "scheduled" {
			t.Errorf("job %s enqueued on %q, want scheduled", id, got)
		}
	}

	tests := []struct {
		name  string
		setup func() int64
		want  string // in the error; "" for none and no job
	}{
		{"no widgets", func() int64 { return f.dashboard(schedule, `{}`, `[]`).ID }, ""},
		{"every widget refused", func() int64 {
			return f.dashboard(schedule, `{"parameters": {"day": "someday"}}`, dayParam, "SELECT '{{ day }}'", "SELECT 2 -- {{ day }}").ID
		}, "no widget of dashboard"},
		{"archived", func() int64 {
			d := f.dashboard(schedule, `{}`, `[]`, "SELECT 1")
			if _, err := f.st.ArchiveDashboard(ctx, d.ID); err != nil {
				t.Fatal(err)
			}
			return d.ID
		}, "is archived"},
		{"no schedule", func() int64 { return f.dashboard(``, `{}`, `[]`, "SELECT 1").ID }, "has no refresh schedule"},
		{"missing", func() int64 { return 1 << 40 }, "not found"},
	}
	for _, tc := range tests {
		id := tc.setup()
		jobID, err := f.s.SubmitScheduledDashboard(ctx, id, now)
		switch {
		case tc.want == "" && (err != nil || jobID != ""):
			t.Errorf("%s: SubmitScheduledDashboard(%d) = %q, %v, want no job and no error", tc.name, id, jobID, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || jobID != ""):
			t.Errorf("%s: SubmitScheduledDashboard(%d) = %q, %v, want an error saying %q", tc.name, id, jobID, err, tc.want)
		}
	}

	// Every widget's reason is in the error, up to three.
	refused := f.dashboard(schedule, `{"parameters": {"day": "someday"}}`, dayParam,
		"SELECT 1 -- {{ day }}", "SELECT 2 -- {{ day }}", "SELECT 3 -- {{ day }}", "SELECT 4 -- {{ day }}")
	_, err = f.s.SubmitScheduledDashboard(ctx, refused.ID, now)
	if err == nil || strings.Count(err.Error(), "Invalid parameter values") != 3 || !strings.HasSuffix(err.Error(), "and 1 more") {
		t.Errorf("SubmitScheduledDashboard(4 refused widgets) error = %v, want three reasons and 1 more", err)
	}

	// Its owner disabled, nothing runs.
	if _, err := f.st.SetUserDisabled(ctx, f.user.ID, true); err != nil {
		t.Fatal(err)
	}
	if jobID, err := f.s.SubmitScheduledDashboard(ctx, d.ID, now); err == nil || !strings.Contains(err.Error(), "is disabled") {
		t.Errorf("SubmitScheduledDashboard(disabled owner) = %q, %v, want an error saying the owner is disabled", jobID, err)
	}
}

// TestJoinedScheduledJobMovesUp checks that an interactive request joining
// a scheduled job still pending puts it on the interactive queue too, so
// that the caller does not wait behind scheduled refreshes.
func TestJoinedScheduledJobMovesUp(t *testing.T) {
	f := newDashFixture(t)
	ctx := context.Background()
	scheduled := execution{dataSourceID: f.dsID, text: "SELECT 1", userID: f.user.ID, scheduled: true}
	_, job, err := f.s.submit(ctx, scheduled)
	if err != nil {
		t.Fatal(err)
	}
	_, again, err := f.s.submit(ctx, scheduled)
	if err != nil || again.ID != job.ID {
		t.Fatalf("second scheduled submit = job %s, %v; want job %s", again.ID, err, job.ID)
	}
	if got := f.queue.all(job.ID); !slices.Equal(got, []string{"scheduled"}) {
		t.Errorf("queues after two scheduled submits = %v, want [scheduled]", got)
	}
	interactive := scheduled
	interactive.scheduled = false
	_, joined, err := f.s.submit(ctx, interactive)
	if err != nil || joined.ID != job.ID {
		t.Fatalf("interactive submit = job %s, %v; want to join job %s", joined.ID, err, job.ID)
	}
	if got := f.queue.all(job.ID); !slices.Equal(got, []string{"scheduled", "interactive"}) {
		t.Errorf("queues after an interactive request joined = %v, want [scheduled interactive]", got)
	}
}
