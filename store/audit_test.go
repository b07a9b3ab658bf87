package store_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/queryd/queryd/store"
)

// auditLog returns every entry of s's audit log.
func auditLog(t testing.TB, s *store.Store) []store.AuditEntry {
	t.Helper()
	entries, err := s.AuditLog(context.Background(), store.AuditFilter{Size: 100_000})
	if err != nil {
		t.Fatalf("AuditLog: %v", err)
	}
	return entries
}

// executions returns the execution entries of job id.
func executions(t testing.TB, s *store.Store, id string) []store.AuditEntry {
	t.Helper()
	var out []store.AuditEntry
	for _, e := range auditLog(t, s) {
		if e.Action == store.AuditExecute && e.JobID == id {
			out = append(out, e)
		}
	}
	return out
}

func TestRecordAudit(t *testing.T) {
	t.Parallel()
	s := newFixture(t).s
	ctx := context.Background()
	at := time.Date(2024, 5, 1, 12, 0, 0, 123456000, time.UTC)
	full := store.AuditEntry{
		At: at, ActorKind: store.ActorQueryKey, ActorObjectID: ptr(int64(7)), Action: "POST /api/queries/:id",
		ObjectType: "query", ObjectID: "7", DataSourceID: ptr(int64(3)), QueryHash: "h", JobID: "j",
		Outcome: "403", DurationMS: ptr(int64(12)), Details: json.RawMessage(`{"user_id": "4"}`), RequestID: "r1",
	}
	minimal := store.AuditEntry{ActorKind: store.ActorCLI, Action: "queryd users create"}
	before := time.Now()
	for _, e := range []store.AuditEntry{full, minimal} {
		if err := s.RecordAudit(ctx, e); err != nil {
			t.Fatalf("RecordAudit(%+v) = %v, want nil", e, err)
		}
	}
	got := auditLog(t, s)
	if len(got) != 2 {
		t.Fatalf("AuditLog() = %d entries, want 2: %+v", len(got), got)
	}
	wantFull := full
	wantFull.ID = got[0].ID
	if diff := cmp.Diff(wantFull, got[0], cmpopts.EquateApproxTime(0)); diff != "" {
		t.Errorf("AuditLog()[0] diff (-want +got):\n%s", diff)
	}
	wantMin := minimal
	wantMin.ID, wantMin.At, wantMin.Details = got[1].ID, got[1].At, json.RawMessage(`{}`)
	if diff := cmp.Diff(wantMin, got[1]); diff != "" {
		t.Errorf("AuditLog()[1] diff (-want +got):\n%s", diff)
	}
	if got[1].ID <= got[0].ID {
		t.Errorf("AuditLog() IDs = %d, %d, want increasing", got[0].ID, got[1].ID)
	}
	if got[1].At.Before(before.Add(-time.Minute)) || got[1].At.After(time.Now().Add(time.Minute)) {
		t.Errorf("AuditLog()[1].At = %v, want about now (%v)", got[1].At, before)
	}

	bad := []store.AuditEntry{
		{ActorKind: "robot", Action: "x"},
		{ActorKind: store.ActorUser, Action: "x", Details: json.RawMessage(`[1]`)},
		{ActorKind: store.ActorUser, Action: "x", Details: json.RawMessage(`{`)},
	}
	for _, e := range bad {
		if err := s.RecordAudit(ctx, e); err == nil {
			t.Errorf("RecordAudit(%+v) = nil, want an error", e)
		}
	}
	if n := len(auditLog(t, s)); n != 2 {
		t.Errorf("AuditLog() after refused entries = %d entries, want 2", n)
	}
}

func TestAuditLogWindow(t *testing.T) {
	t.Parallel()
	s := newFixture(t).s
	ctx := context.Background()
	t0 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	hours := []int{0, 1, 2}
	for _, h := range hours {
		e := store.AuditEntry{At: t0.Add(time.Duration(h) * time.Hour), ActorKind: store.ActorUser, Action: "h" + string(rune('0'+h))}
		if err := s.RecordAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		f    store.AuditFilter
		want []string
	}{
		{"unbounded", store.AuditFilter{}, []string{"h0", "h1", "h2"}},
		{"from is inclusive", store.AuditFilter{From: t0.Add(time.Hour)}, []string{"h1", "h2"}},
		{"to is exclusive", store.AuditFilter{To: t0.Add(time.Hour)}, []string{"h0"}},
		{"both", store.AuditFilter{From: t0.Add(time.Minute), To: t0.Add(2 * time.Hour)}, []string{"h1"}},
		{"empty window", store.AuditFilter{From: t0.Add(3 * time.Hour)}, nil},
		{"size", store.AuditFilter{Size: 2}, []string{"h0", "h1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entries, err := s.AuditLog(ctx, tc.f)
			if err != nil {
				t.Fatalf("AuditLog(%+v) = %v", tc.f, err)
			}
			var got []string
			for _, e := range entries {
				got = append(got, e.Action)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("AuditLog(%+v) actions diff (-want +got):\n%s", tc.f, diff)
			}
		})
	}
}

func TestAuditLogPaging(t *testing.T) {
	t.Parallel()
	s := newFixture(t).s
	ctx := context.Background()
	record := func(action string) {
		t.Helper()
		if err := s.RecordAudit(ctx, store.AuditEntry{ActorKind: store.ActorUser, Action: action}); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []string{"a1", "a2", "a3", "a4", "a5"} {
		record(a)
	}
	var got []string
	var after int64
	for page := 0; ; page++ {
		if page == 1 { // entries recorded while a client pages come after its cursor
			record("b1")
			record("b2")
		}
		if page > 10 {
			t.Fatalf("AuditLog paging did not end: %v", got)
		}
		entries, err := s.AuditLog(ctx, store.AuditFilter{After: after, Size: 2})
		if err != nil {
			t.Fatalf("AuditLog(After: %d) = %v", after, err)
		}
		if len(entries) > 2 {
			t.Fatalf("AuditLog(Size: 2) = %d entries, want at most 2", len(entries))
		}
		if len(entries) == 0 {
			break
		}
		for _, e := range entries {
			if e.ID <= after {
				t.Errorf("AuditLog(After: %d) returned ID %d", after, e.ID)
			}
			got = append(got, e.Action)
		}
		after = entries[len(entries)-1].ID
	}
	want := []string{"a1", "a2", "a3", "a4", "a5", "b1", "b2"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("paging AuditLog by 2 diff (-want +got):\n%s", diff)
	}
}

// TestAuditJobEndings checks that every transition that ends a job records
// exactly one execution, and no other transition records any.
func TestAuditJobEndings(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	ops := []struct {
		name string
		do   func(id string) error
	}{
		{"ClaimJob", func(id string) error { _, err := f.s.ClaimJob(ctx, id); return err }},
		{"CompleteJob", func(id string) error { _, err := f.s.CompleteJob(ctx, id, store.QueryResult{}); return err }},
		{"FailJob", func(id string) error { return f.s.FailJob(ctx, id, "boom") }},
		{"FinishCancelled", func(id string) error { return f.s.FinishCancelled(ctx, id) }},
		{"RequeueJob", func(id string) error { return f.s.RequeueJob(ctx, id) }},
		{"RequestCancel", func(id string) error { _, err := f.s.RequestCancel(ctx, id); return err }},
	}
	for _, op := range ops {
		for _, st := range allStates {
			t.Run(op.name+"/"+st.name, func(t *testing.T) {
				j := f.jobIn(t, st)
				before := len(executions(t, f.s, j.ID))
				wantBefore := 0
				if st.status.Done() {
					wantBefore = 1
				}
				if before != wantBefore {
					t.Errorf("a %s job has %d execution entries, want %d", st.name, before, wantBefore)
				}
				op.do(j.ID) // refused transitions are TestJobTransitions' concern
				after := f.job(t, j.ID)
				want := before
				if after.Status.Done() && !st.status.Done() {
					want++
				}
				if got := len(executions(t, f.s, j.ID)); got != want {
					t.Errorf("%s(%s job) → %v: %d execution entries, want %d", op.name, st.name, after.Status, got, want)
				}
			})
		}
	}
}

// TestAuditExecution checks what an execution entry says.
func TestAuditExecution(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	long := strings.Repeat("é", 300)
	const run = 30 * time.Millisecond
	tests := []struct {
		name        string
		start       bool // claim the job, and let it run for run, before ending it
		cancel      bool // request its cancel once started
		end         func(id string) error
		wantOutcome string
	}{
		{"succeeded", true, false, func(id string) error {
			_, err := f.s.CompleteJob(ctx, id, store.QueryResult{})
			return err
		}, "succeeded"},
		{"failed while started", true, false, func(id string) error { return f.s.FailJob(ctx, id, "division by zero") },
			"failed: division by zero"},
		{"failed with a long error", true, false, func(id string) error { return f.s.FailJob(ctx, id, long) },
			"failed: " + long[:400]}, // 200 characters of 2 bytes
		{"failed while pending", false, false, func(id string) error { return f.s.FailJob(ctx, id, "no worker") },
			"failed: no worker"},
		{"cancelled while started", true, false, func(id string) error { return f.s.FinishCancelled(ctx, id) }, "cancelled"},
		{"cancelled while pending", false, false, func(id string) error { _, err := f.s.RequestCancel(ctx, id); return err },
			"cancelled"},
		{"requeued after a cancel", true, true, func(id string) error { return f.s.RequeueJob(ctx, id) }, "cancelled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, err := f.s.CreateQuery(ctx, store.Query{Name: "q", Query: "SELECT 1", QueryHash: unique("h"), DataSourceID: &f.ds.ID, UserID: f.user.ID})
			if err != nil {
				t.Fatal(err)
			}
			j, _, err := f.s.CreateQueryJob(ctx, store.Job{DataSourceID: f.ds.ID, QueryID: &q.ID, QueryHash: q.QueryHash, QueryText: q.Query, UserID: f.user.ID})
			if err != nil {
				t.Fatal(err)
			}
			if tc.start {
				if _, err := f.s.ClaimJob(ctx, j.ID); err != nil {
					t.Fatal(err)
				}
				time.Sleep(run)
			}
			if tc.cancel {
				if _, err := f.s.RequestCancel(ctx, j.ID); err != nil {
					t.Fatal(err)
				}
			}
			if err := tc.end(j.ID); err != nil {
				t.Fatalf("ending the job: %v", err)
			}
			got := executions(t, f.s, j.ID)
			if len(got) != 1 {
				t.Fatalf("execution entries of job %s = %+v, want 1", j.ID, got)
			}
			e := got[0]
			ended := f.job(t, j.ID)
			want := store.AuditEntry{
				ID: e.ID, At: e.At, ActorKind: store.ActorUser, ActorUserID: &f.user.ID, Action: store.AuditExecute,
				ObjectType: "job", ObjectID: j.ID, DataSourceID: &f.ds.ID, QueryHash: q.QueryHash, JobID: j.ID,
				Outcome: tc.wantOutcome, DurationMS: e.DurationMS, Details: json.RawMessage(`{"query_id": ` + jsonInt(q.ID) + `}`),
			}
			if diff := cmp.Diff(want, e); diff != "" {
				t.Errorf("execution entry diff (-want +got):\n%s", diff)
			}
			switch {
			case !tc.start && e.DurationMS != nil:
				t.Errorf("DurationMS of a job that never started = %d, want nil", *e.DurationMS)
			case tc.start && e.DurationMS == nil:
				t.Errorf("DurationMS of a started job = nil, want finished - started")
			case tc.start:
				wantMS := ended.FinishedAt.Sub(*ended.StartedAt).Milliseconds()
				if *e.DurationMS != wantMS || *e.DurationMS < run.Milliseconds() {
					t.Errorf("DurationMS = %d, want finished - started = %d (at least %d)", *e.DurationMS, wantMS, run.Milliseconds())
				}
			}
			if !e.At.Equal(*ended.FinishedAt) {
				t.Errorf("At = %v, want the job's FinishedAt %v", e.At, *ended.FinishedAt)
			}
		})
	}
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
