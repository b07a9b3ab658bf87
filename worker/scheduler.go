package worker

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/queryd/queryd/store"
)

// ScheduleSubmitter submits scheduled runs the way the API runs saved
// queries (parameters applied, dedup, job row, enqueue). The API's server
// implements it; worker does not import api.
type ScheduleSubmitter interface {
	// SubmitScheduledQuery runs query queryID as its schedule does at now
	// and returns the job that runs it. The error says why it could not
	// run; it is kept with the run.
	SubmitScheduledQuery(ctx context.Context, queryID int64, now time.Time) (jobID string, err error)
	// SubmitScheduledDashboard refreshes dashboard dashboardID as its
	// schedule does at now and returns the first job it started ("" if
	// none). The error says why the refresh could not be submitted; it is
	// kept with the run.
	SubmitScheduledDashboard(ctx context.Context, dashboardID int64, now time.Time) (jobID string, err error)
}

// Scheduler fires the runs of saved queries and the refreshes of dashboards
// whose schedules are due. Any
// number may run against one database: one leads at a time, the one holding
// the scheduler's PostgreSQL advisory lock, and a due run is claimed in
// schedule_runs before it is submitted, so it fires once even if two
// schedulers lead at once.
//
// A schedule that does not parse is logged and skipped, never rewritten or
// turned off; one query's or dashboard's error never stops the others.
// Failed runs put the next one off (see store.QuerySchedule.Next and
// store.DashboardSchedule.Next).
type Scheduler struct {
	Store     *store.Store
	Submitter ScheduleSubmitter
	// Clock is the time schedules are due against; nil is time.Now.
	Clock func() time.Time
	// Tick is how often a leader looks for due runs, and how often the
	// others try to lead.
	Tick time.Duration
	Log  *slog.Logger

	// noLock makes the scheduler lead without the lock, so that tests can
	// show that the claim alone fires a run once.
	noLock bool
	// ticked, if set, is called after every tick with whether it led.
	ticked func(led bool)
	// unparsable is the last schedule of each query and dashboard logged as
	// unparsable, so that it is logged once, not every tick.
	unparsable map[scheduled]string
}

// scheduled names a query or a dashboard with a schedule.
type scheduled struct {
	kind store.ScheduleKind
	id   int64
}

// fireTimeout bounds claiming, submitting and recording one run, which go
// on when Run's context ends so that no claimed run is left unsubmitted.
const fireTimeout = 30 * time.Second

// dueRun is a run due to fire: what to refresh, since when, and how.
type dueRun struct {
	kind   store.ScheduleKind
	id     int64
	due    time.Time
	submit func(ctx context.Context, id int64, now time.Time) (jobID string, err error)
}

// Run leads when it can and fires due runs every Tick until ctx is done. A
// leader whose lock's connection is lost stops leading until it takes the
// lock again. It returns an error only if the Scheduler is not set up.
func (s *Scheduler) Run(ctx context.Context) error {
	switch {
	case s.Store == nil, s.Submitter == nil, s.Log == nil:
		return errors.New("scheduler: Store, Submitter and Log are required")
	case s.Tick <= 0:
		return errors.New("scheduler: Tick must be positive")
	}
	var lock *store.SchedulerLock
	defer func() {
		if lock != nil {
			bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
			defer cancel()
			lock.Release(bg)
		}
		s.Log.Info("scheduler stopped")
	}()
	s.Log.Info("scheduler started", "tick", s.Tick.String())
	t := time.NewTicker(s.Tick)
	defer t.Stop()
	for {
		lock = s.lead(ctx, lock)
		led := lock != nil || s.noLock
		if led {
			s.tick(ctx)
		}
		if s.ticked != nil {
			s.ticked(led)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// lead returns the lock if this scheduler holds it, after checking it still
// does, or takes it if it is free; nil when another scheduler leads. A lost
// lock is retried at the next tick, not at once.
func (s *Scheduler) lead(ctx context.Context, lock *store.SchedulerLock) *store.SchedulerLock {
	if s.noLock {
		return nil
	}
	if lock != nil {
		err := lock.Check(ctx)
		if err == nil {
			return lock
		}
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		defer cancel()
		lock.Release(bg)
		if ctx.Err() == nil {
			s.Log.Warn("scheduler lost its lock; no longer leading", "error", err)
		}
		return nil
	}
	lock, ok, err := s.Store.TrySchedulerLock(ctx)
	switch {
	case err != nil:
		if ctx.Err() == nil {
			s.Log.Error("take scheduler lock", "error", err)
		}
		return nil
	case !ok:
		return nil
	}
	s.Log.Info("scheduler leading")
	return lock
}

func (s *Scheduler) now() time.Time {
	if s.Clock != nil {
		return s.Clock()
	}
	return time.Now()
}

// tick fires every run due at the clock's time.
func (s *Scheduler) tick(ctx context.Context) {
	now := s.now()
	runs, err := s.dueQueries(ctx, now)
	if err != nil {
		if ctx.Err() == nil {
			s.Log.Error("list scheduled queries", "error", err)
		}
		return
	}
	dashboards, err := s.dueDashboards(ctx, now)
	if err != nil {
		if ctx.Err() == nil {
			s.Log.Error("list scheduled dashboards", "error", err)
		}
		return
	}
	runs = append(runs, dashboards...)
	fired := 0
	for _, r := range runs {
		if ctx.Err() != nil {
			return
		}
		if s.fire(ctx, r, now) {
			fired++
		}
	}
	s.Log.Debug("scheduler tick", "now", now, "due", len(runs), "fired", fired)
}

// dueQueries returns the runs of scheduled queries due at now.
func (s *Scheduler) dueQueries(ctx context.Context, now time.Time) ([]dueRun, error) {
	qs, err := s.Store.ScheduledQueries(ctx)
	if err != nil {
		return nil, err
	}
	var runs []dueRun
	for _, q := range qs {
		sched, err := store.ParseQuerySchedule(q.Schedule)
		if !s.parsed(scheduled{store.ScheduleQuery, q.ID}, q.Schedule, err) || sched == nil {
			continue
		}
		due, ok := sched.Next(q.LastRunAt, q.UpdatedAt, q.Failures)
		if !ok || due.After(now) {
			continue
		}
		runs = append(runs, dueRun{kind: store.ScheduleQuery, id: q.ID, due: due, submit: s.Submitter.SubmitScheduledQuery})
	}
	return runs, nil
}

// dueDashboards returns the refreshes of scheduled dashboards due at now.
func (s *Scheduler) dueDashboards(ctx context.Context, now time.Time) ([]dueRun, error) {
	ds, err := s.Store.ScheduledDashboards(ctx)
	if err != nil {
		return nil, err
	}
	var runs []dueRun
	for _, d := range ds {
		sched, err := store.ParseDashboardSchedule(d.Schedule)
		if !s.parsed(scheduled{store.ScheduleDashboard, d.ID}, d.Schedule, err) || sched == nil {
			continue
		}
		due := sched.Next(d.LastRunAt, d.UpdatedAt, d.Failures)
		if due.IsZero() || due.After(now) {
			continue
		}
		runs = append(runs, dueRun{kind: store.ScheduleDashboard, id: d.ID, due: due, submit: s.Submitter.SubmitScheduledDashboard})
	}
	return runs, nil
}

// parsed reports whether o's schedule raw parsed (err is nil), and logs it
// once, until it changes, when it did not.
func (s *Scheduler) parsed(o scheduled, raw []byte, err error) bool {
	if err == nil {
		delete(s.unparsable, o)
		return true
	}
	if s.unparsable == nil {
		s.unparsable = make(map[scheduled]string)
	}
	if s.unparsable[o] != string(raw) {
		s.unparsable[o] = string(raw)
		s.Log.Warn("schedule does not parse; "+string(o.kind)+" not run until its schedule is fixed",
			string(o.kind)+"_id", o.id, "error", err)
	}
	return false
}

// fire claims run r, submits it and records how, and reports whether it
// claimed it. Once claimed, the run is submitted and recorded even if ctx
// ends meanwhile.
func (s *Scheduler) fire(ctx context.Context, r dueRun, now time.Time) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fireTimeout)
	defer cancel()
	log := s.Log.With(string(r.kind)+"_id", r.id, "due_at", r.due)
	claimed, err := s.Store.ClaimScheduleRun(ctx, r.kind, r.id, r.due, now)
	if err != nil {
		log.Error("claim scheduled run", "error", err)
		return false
	}
	if !claimed {
		log.Debug("scheduled run claimed already")
		return false
	}
	jobID, err := r.submit(ctx, r.id, now)
	var msg string
	if err != nil {
		msg = err.Error()
	}
	if err := s.Store.SetScheduleRunJob(ctx, r.kind, r.id, r.due, jobID, msg); err != nil {
		log.Error("record scheduled run", "job_id", jobID, "error", err)
	}
	if msg != "" {
		log.Warn("scheduled run could not be submitted", "error", msg)
		return true
	}
	log.Info("scheduled run fired", "job_id", jobID)
	return true
}
