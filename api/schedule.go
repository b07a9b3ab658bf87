package api

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/queryd/queryd/cache"
	"github.com/queryd/queryd/store"
)

// ScheduledEnqueuer is an Enqueuer that also has a queue for scheduled
// refreshes, which workers serve after interactive runs. Without it,
// scheduled jobs go where interactive ones do.
type ScheduledEnqueuer interface {
	EnqueueScheduledQuery(ctx context.Context, jobID string) error
}

// enqueueJob hands recorded job jobID to the workers, on the scheduled
// queue when scheduled and the Enqueuer has one.
func (s *Server) enqueueJob(ctx context.Context, jobID string, scheduled bool) error {
	if se, ok := s.enqueue.(ScheduledEnqueuer); ok && scheduled {
		return se.EnqueueScheduledQuery(ctx, jobID)
	}
	return s.enqueue.EnqueueQuery(ctx, jobID)
}

// SubmitScheduledQuery runs saved query queryID as its schedule does at now,
// and returns the job that runs it: a new one, or the identical job already
// in flight on its data source. It acts as the query's owner, who must be
// enabled and have full access to the query's data source; applies the
// default values of its parameters (options.parameters[].value), relative
// dates such as d_yesterday resolved against now in the schedule's zone;
// never answers from the cache; and queues the job behind interactive runs.
// The error says, for the run's record, why the query could not run: no
// query, archived, no data source, no schedule, the owner, or invalid
// parameter values.
func (s *Server) SubmitScheduledQuery(ctx context.Context, queryID int64, now time.Time) (string, error) {
	q, err := s.store.Query(ctx, queryID)
	if err != nil {
		return "", err
	}
	switch {
	case q.IsArchived:
		return "", fmt.Errorf("query %d is archived", q.ID)
	case q.DataSourceID == nil:
		return "", fmt.Errorf("query %d has no data source: its data source was deleted", q.ID)
	}
	sched, err := store.ParseQuerySchedule(q.Schedule)
	if err != nil {
		return "", fmt.Errorf("schedule of query %d: %w", q.ID, err)
	}
	if sched == nil {
		return "", fmt.Errorf("query %d has no schedule", q.ID)
	}
	owner, err := s.scheduleOwner(ctx, q)
	if err != nil {
		return "", err
	}
	values, err := defaultValues(q)
	if err != nil {
		return "", err
	}
	ex, err := s.savedExecutionAt(ctx, owner, q, values, cache.MaxAge(0), sched.Location(), now)
	if err != nil {
		return "", err
	}
	ex.scheduled = true
	_, job, err := s.submit(ctx, ex) // max_age 0: always a job
	if err != nil {
		return "", err
	}
	return job.ID, nil
}

// scheduleOwner is who q's scheduled runs act as: its owner, enabled and
// with full access to q's data source.
func (s *Server) scheduleOwner(ctx context.Context, q store.Query) (caller, error) {
	k, err := s.ownerCaller(ctx, q.UserID, fmt.Sprintf("query %d", q.ID))
	if err != nil {
		return caller{}, err
	}
	if k.dataSource(*q.DataSourceID) != store.FullAccess {
		return caller{}, fmt.Errorf("the owner of query %d, user %d, does not have full access to data source %d: "+
			"scheduled runs act as the owner", q.ID, k.user.ID, *q.DataSourceID)
	}
	return k, nil
}

// ownerCaller is user userID, the owner of what (such as "query 7"), as a
// scheduled run acts as them: enabled, with their groups' access.
func (s *Server) ownerCaller(ctx context.Context, userID int64, what string) (caller, error) {
	u, err := s.store.User(ctx, userID)
	if err != nil {
		return caller{}, fmt.Errorf("owner of %s: %w", what, err)
	}
	if u.DisabledAt != nil {
		return caller{}, fmt.Errorf("the owner of %s, user %d, is disabled: scheduled runs act as the owner", what, u.ID)
	}
	access, err := s.store.DataSourceAccess(ctx, u.ID)
	if err != nil {
		return caller{}, err
	}
	return caller{user: u, access: access}, nil
}

// SubmitScheduledDashboard refreshes dashboard dashboardID as its schedule
// does at now, as POST /api/dashboards/<id>/refresh does for its owner, who
// must be enabled: each visualization widget's query the owner may run runs
// with the dashboard's options.parameters values (the query's defaults for
// the others), relative dates such as d_yesterday resolved against now in
// the schedule's zone; never from the cache; queued behind interactive
// runs. It returns the first job started, "" when the dashboard has no
// visualization widget. The error says, for the run's record, why nothing
// could be submitted: no dashboard, archived, no schedule, the owner, or
// every widget refused (each widget's reason). Jobs that start and then
// fail are their queries' failures, not the dashboard's.
func (s *Server) SubmitScheduledDashboard(ctx context.Context, dashboardID int64, now time.Time) (string, error) {
	d, err := s.store.Dashboard(ctx, dashboardID)
	if err != nil {
		return "", err
	}
	if d.IsArchived {
		return "", fmt.Errorf("dashboard %d is archived", d.ID)
	}
	sched, err := store.ParseDashboardSchedule(d.RefreshSchedule)
	if err != nil {
		return "", fmt.Errorf("refresh schedule of dashboard %d: %w", d.ID, err)
	}
	if sched == nil {
		return "", fmt.Errorf("dashboard %d has no refresh schedule", d.ID)
	}
	owner, err := s.ownerCaller(ctx, d.UserID, fmt.Sprintf("dashboard %d", d.ID))
	if err != nil {
		return "", err
	}
	runs, err := s.refreshDashboard(ctx, owner, d, dashboardValues(d.Options), refreshMode{now: now, scheduled: true})
	if err != nil {
		return "", err
	}
	var failed []string
	for _, r := range runs {
		switch {
		case r.Job != nil:
			return r.Job.ID, nil
		case r.Error != "":
			failed = append(failed, fmt.Sprintf("widget %d: %s", r.WidgetID, r.Error))
		}
	}
	if len(failed) == 0 {
		return "", nil
	}
	const shown = 3
	msg := strings.Join(failed[:min(len(failed), shown)], "; ")
	if len(failed) > shown {
		msg += fmt.Sprintf("; and %d more", len(failed)-shown)
	}
	return "", fmt.Errorf("no widget of dashboard %d could run, as its owner, user %d: %s", d.ID, d.UserID, msg)
}

// defaultValues returns the default values of q's parameters, by name:
// those whose definition has a value that is not null.
func defaultValues(q store.Query) (map[string]json.RawMessage, error) {
	_, schema, err := parseQueryOptions(q.Options)
	if err != nil { // validated on write
		return nil, fmt.Errorf("options of query %d: %s", q.ID, err)
	}
	values := make(map[string]json.RawMessage, len(schema))
	for _, d := range schema {
		if len(d.Value) > 0 && string(d.Value) != "null" {
			values[d.Name] = d.Value
		}
	}
	return values, nil
}
