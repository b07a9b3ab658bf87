package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/queryd/queryd/store"
)

// savedQuery is a query object as the API answers it.
type savedQuery struct {
	ID               int64           `json:"id"`
	Name             string          `json:"name"`
	Query            string          `json:"query"`
	Schedule         json.RawMessage `json:"schedule"`
	APIKey           *string         `json:"api_key"`
	IsArchived       bool            `json:"is_archived"`
	IsDraft          bool            `json:"is_draft"`
	DataSourceID     *int64          `json:"data_source_id"`
	Version          int             `json:"version"`
	Tags             []string        `json:"tags"`
	UserID           int64           `json:"user_id"`
	User             queryUser       `json:"user"`
	LastModifiedBy   *queryUser      `json:"last_modified_by"`
	ScheduleFailures *int            `json:"schedule_failures"`
	// ScheduleNextRunAt and ScheduleLastRunAt are queryd's.
	ScheduleNextRunAt *string `json:"schedule_next_run_at"`
	ScheduleLastRunAt *string `json:"schedule_last_run_at"`
	// LatestQueryDataID is the newest result of the query's text.
	LatestQueryDataID *int64 `json:"latest_query_data_id"`
}

type queryUser struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// queryPage is a page of GET /api/queries.
type queryPage struct {
	Count    int          `json:"count"`
	Page     int          `json:"page"`
	PageSize int          `json:"page_size"`
	Results  []savedQuery `json:"results"`
}

// createSavedQuery saves a query on the test data source as key's user.
func (e *testEnv) createSavedQuery(key string, body map[string]any) savedQuery {
	e.t.Helper()
	b := map[string]any{"query": "SELECT 1 AS one", "data_source_id": e.dsID}
	for k, v := range body {
		b[k] = v
	}
	var q savedQuery
	e.doWithKey(key, "POST", "/api/queries", b, http.StatusOK, &q)
	return q
}

// expectError checks that a request answers status with a message
// containing want.
func (e *testEnv) expectError(key, method, path string, body any, status int, want string) {
	e.t.Helper()
	got, b := e.requestWithKey(method, path, body, key)
	var msg struct{ Message string }
	json.Unmarshal(b, &msg)
	if got != status || !strings.Contains(msg.Message, want) {
		e.t.Errorf("%s %s = %d %s, want %d with a message containing %q", method, path, got, b, status, want)
	}
}

func names(qs []savedQuery) []string {
	out := make([]string, len(qs))
	for i, q := range qs {
		out[i] = q.Name
	}
	return out
}

func TestQueryList(t *testing.T) {
	e := startEnv(t, false)
	ctx := context.Background()
	_, member := e.createUser(t, "member@example.com", false)

	// Seven queries by the admin and one by the member, newest last.
	var want []string
	for i := range 7 {
		tags := []string{"all"}
		if i%2 == 0 {
			tags = append(tags, "even")
		}
		q := e.createSavedQuery(e.key, map[string]any{"name": fmt.Sprintf("q%d", i), "tags": tags,
			"description": fmt.Sprintf("about %d%%", i*10)})
		want = append([]string{q.Name}, want...)
	}
	mine := e.createSavedQuery(member, map[string]any{"name": "Member's", "query": "SELECT 'needle' AS x"})
	want = append([]string{mine.Name}, want...)

	// Paging to the end, three at a time, with each query's owner.
	var got []string
	for page := 1; page <= 3; page++ {
		var p queryPage
		e.do("GET", fmt.Sprintf("/api/queries?page=%d&page_size=3", page), nil, http.StatusOK, &p)
		if p.Count != 8 || p.Page != page || p.PageSize != 3 {
			t.Errorf("page %d: count %d, page %d, page_size %d; want 8, %d, 3", page, p.Count, p.Page, p.PageSize, page)
		}
		for _, q := range p.Results {
			wantOwner := "admin"
			if q.ID == mine.ID {
				wantOwner = "member"
			}
			if q.User.Name != wantOwner || q.UserID != q.User.ID {
				t.Errorf("query %s: user %+v, user_id %d; want %s's", q.Name, q.User, q.UserID, wantOwner)
			}
		}
		got = append(got, names(p.Results)...)
	}
	if !slices.Equal(got, want) {
		t.Errorf("pages 1-3 of 3 = %v, want %v (newest first)", got, want)
	}
	var p queryPage
	e.do("GET", "/api/queries", nil, http.StatusOK, &p)
	if p.Count != 8 || p.Page != 1 || p.PageSize != 25 || len(p.Results) != 8 {
		t.Errorf("GET /api/queries = count %d, page %d, page_size %d, %d results; want 8, 1, 25, 8", p.Count, p.Page, p.PageSize, len(p.Results))
	}

	for _, tc := range []struct{ query, want string }{
		{"page_size=0", "Page size is out of range (1-250)."},
		{"page_size=251", "Page size is out of range (1-250)."},
		{"page_size=abc", `page_size must be a whole number, not "abc"`},
		{"page=abc", `page must be a whole number from 1, not "abc"`},
		{"page=0", "Page is out of range."},
		{"page=-1", "Page is out of range."},
		{"page=4&page_size=3", "Page is out of range."},
		{"page=2", "Page is out of range."},
	} {
		e.expectError(e.key, "GET", "/api/queries?"+tc.query, nil, http.StatusBadRequest, tc.want)
	}
	// Past the end of nothing is an empty page, as in Redash.
	e.do("GET", "/api/queries?page=3&q=nothing-matches", nil, http.StatusOK, &p)
	if p.Count != 0 || len(p.Results) != 0 {
		t.Errorf("page 3 of no match = %+v, want count 0 and no results", p)
	}

	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"q=NEEDLE", []string{"Member's"}},
		{"q=Q3", []string{"q3"}},
		{"q=" + url.QueryEscape("50%"), []string{"q5"}},
		{"q=" + url.QueryEscape("0%"), []string{"q6", "q5", "q4", "q3", "q2", "q1", "q0"}},
		{"tags=even", []string{"q6", "q4", "q2", "q0"}},
		{"tags=even&tags=all", []string{"q6", "q4", "q2", "q0"}},
		{"tags=even&q=q4", []string{"q4"}},
		{"tags=none", []string{}},
	} {
		e.do("GET", "/api/queries?"+tc.query, nil, http.StatusOK, &p)
		if !slices.Equal(names(p.Results), tc.want) || p.Count != len(tc.want) {
			t.Errorf("GET /api/queries?%s = %v (count %d), want %v", tc.query, names(p.Results), p.Count, tc.want)
		}
	}

	// A data source a user's groups do not grant hides its queries; a
	// view-only grant shows them, without their API key. (Set up before the
	// viewer's first request, since the API caches a key's access.)
	viewerID, viewer := e.createUser(t, "viewer@example.com", false)
	hidden := e.createDataSource("hidden", pgOptions(t))
	viewed := e.createDataSource("viewed", pgOptions(t))
	groups, err := e.store.Groups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	viewers, err := e.store.CreateGroup(ctx, "viewers")
	if err != nil {
		t.Fatal(err)
	}
	for _, ds := range []int64{hidden, viewed} {
		if err := e.store.RevokeDataSource(ctx, groups[0].ID, ds); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.store.GrantDataSource(ctx, viewers.ID, viewed, true); err != nil {
		t.Fatal(err)
	}
	if err := e.store.AddGroupMember(ctx, viewers.ID, viewerID); err != nil {
		t.Fatal(err)
	}
	onHidden := e.createSavedQuery(e.key, map[string]any{"name": "xx hidden", "data_source_id": hidden})
	onViewed := e.createSavedQuery(e.key, map[string]any{"name": "xx viewed", "data_source_id": viewed})
	e.doWithKey(viewer, "GET", "/api/queries?page_size=2", nil, http.StatusOK, &p)
	if !slices.Equal(names(p.Results), []string{"xx viewed", "Member's"}) || p.Count != 9 {
		t.Errorf("viewer's first page = %v (count %d), want [xx viewed Member's] of 9", names(p.Results), p.Count)
	}
	e.doWithKey(member, "GET", "/api/queries?page_size=1", nil, http.StatusOK, &p)
	if !slices.Equal(names(p.Results), []string{"Member's"}) || p.Count != 8 {
		t.Errorf("member's first page = %v (count %d), want [Member's] of 8", names(p.Results), p.Count)
	}
	e.doWithKey(member, "GET", "/api/queries?page_size=250", nil, http.StatusOK, &p)
	for _, q := range p.Results {
		if hasKey := q.APIKey != nil && len(*q.APIKey) == 40; hasKey != (q.ID == mine.ID) {
			t.Errorf("member's list: query %s api_key %v, want the key of their own query only", q.Name, q.APIKey)
		}
	}
	e.do("GET", "/api/queries?q=xx", nil, http.StatusOK, &p)
	if !slices.Equal(names(p.Results), []string{onViewed.Name, onHidden.Name}) {
		t.Errorf("admin's list = %v, want both data sources' queries", names(p.Results))
	}
	e.expectError(viewer, "GET", fmt.Sprintf("/api/queries/%d", onHidden.ID), nil, http.StatusNotFound, "not found")
	// A view-only user may read the query but not fork it: a fork runs anything.
	e.doWithKey(viewer, "GET", fmt.Sprintf("/api/queries/%d", onViewed.ID), nil, http.StatusOK, nil)
	e.expectError(viewer, "POST", fmt.Sprintf("/api/queries/%d/fork", onViewed.ID), nil, http.StatusForbidden, "permission")
}

func TestQueryEdit(t *testing.T) {
	e := startEnv(t, false)
	_, member := e.createUser(t, "member@example.com", false)

	q := e.createSavedQuery(e.key, map[string]any{"name": "edited", "tags": []string{" a ", "b", "a", ""},
		"schedule": map[string]any{"interval": "3600"}, "id": 999, "api_key": "ignored", "version": 7})
	if !q.IsDraft || q.Version != 1 || !slices.Equal(q.Tags, []string{"a", "b"}) || q.APIKey == nil || len(*q.APIKey) != 40 ||
		q.LastModifiedBy == nil || q.LastModifiedBy.Name != "admin" || q.ScheduleFailures == nil {
		t.Errorf("created %+v; want a draft at version 1, tags [a b], its key, last modified by admin, schedule_failures", q)
	}
	var sched map[string]any
	if err := json.Unmarshal(q.Schedule, &sched); err != nil || len(sched) != 5 || sched["interval"] != 3600.0 || sched["time"] != nil {
		t.Errorf("created schedule = %s, want every key, interval 3600 as a number", q.Schedule)
	}
	if pub := e.createSavedQuery(e.key, map[string]any{"is_draft": false}); pub.IsDraft {
		t.Errorf(`created with "is_draft": false: is_draft = true`)
	}

	path := fmt.Sprintf("/api/queries/%d", q.ID)
	var v2 savedQuery
	e.do("POST", path, map[string]any{"name": "renamed", "version": 1, "schedule": nil, "is_draft": false}, http.StatusOK, &v2)
	if v2.Name != "renamed" || v2.Version != 2 || string(v2.Schedule) != "null" || v2.IsDraft || !slices.Equal(v2.Tags, []string{"a", "b"}) {
		t.Errorf("update at version 1 = %+v; want renamed, version 2, no schedule, not a draft, tags kept", v2)
	}
	e.expectError(e.key, "POST", path, map[string]any{"name": "stale", "version": 1}, http.StatusConflict,
		fmt.Sprintf("Query %d was changed by someone else since version 1", q.ID))
	var v3 savedQuery
	e.do("POST", path, map[string]any{"description": "no version: last write wins"}, http.StatusOK, &v3)
	if v3.Version != 3 || v3.Name != "renamed" {
		t.Errorf("update without version = %+v, want version 3, name kept", v3)
	}

	for _, tc := range []struct {
		name     string
		schedule any
		want     string
	}{
		{"interval too short", map[string]any{"interval": 10}, "schedule.interval"},
		{"time without a daily interval", map[string]any{"interval": 3600, "time": "05:00"}, "schedule.time"},
		{"bad weekday", map[string]any{"interval": 604800, "time": "05:00", "day_of_week": "Funday"}, "Funday"},
		{"not an object", "hourly", "schedule"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := map[string]any{"name": "s", "query": "SELECT 1", "data_source_id": e.dsID, "schedule": tc.schedule}
			e.expectError(e.key, "POST", "/api/queries", body, http.StatusBadRequest, tc.want)
			e.expectError(e.key, "POST", path, body, http.StatusBadRequest, tc.want)
		})
	}

	// A member who does not own the query reads it without its key and may
	// not change it.
	var seen savedQuery
	e.doWithKey(member, "GET", path, nil, http.StatusOK, &seen)
	if seen.APIKey != nil {
		t.Errorf("member's GET %s: api_key %q, want null", path, *seen.APIKey)
	}
	for _, r := range []struct{ method, path string }{
		{"POST", path}, {"DELETE", path}, {"POST", path + "/regenerate_api_key"},
	} {
		e.expectError(member, r.method, r.path, map[string]any{"name": "mine now"}, http.StatusForbidden, "permission to edit")
	}
	var after savedQuery
	e.do("GET", path, nil, http.StatusOK, &after)
	if after.Name != "renamed" || after.IsArchived || after.Version != 3 || *after.APIKey != *q.APIKey {
		t.Errorf("after the member's refused edits: %+v, want it unchanged", after)
	}
}

func TestQueryArchive(t *testing.T) {
	e := startEnv(t, false)
	q := e.createSavedQuery(e.key, map[string]any{"name": "to archive", "schedule": map[string]any{"interval": 600}})
	path := fmt.Sprintf("/api/queries/%d", q.ID)
	e.doWithKey(*q.APIKey, "GET", path, nil, http.StatusOK, nil)

	status, b := e.request("DELETE", path, nil)
	if status != http.StatusOK || strings.TrimSpace(string(b)) != "null" {
		t.Fatalf("DELETE %s = %d %s, want 200 null", path, status, b)
	}
	var got savedQuery
	e.do("GET", path, nil, http.StatusOK, &got)
	if !got.IsArchived || string(got.Schedule) != "null" || got.Version != 2 {
		t.Errorf("archived query = %+v, want archived, no schedule, version 2", got)
	}
	var p queryPage
	e.do("GET", "/api/queries", nil, http.StatusOK, &p)
	if p.Count != 0 {
		t.Errorf("list after archiving = %v, want none", names(p.Results))
	}
	e.expectError(*q.APIKey, "GET", path, nil, http.StatusUnauthorized, "Invalid API key")
	e.expectError(e.key, "POST", path+"/results", `{"max_age": 0}`, http.StatusBadRequest, "archived")
	e.expectError(e.key, "POST", path+"/refresh", nil, http.StatusBadRequest, "archived")
	e.expectError(e.key, "DELETE", fmt.Sprintf("/api/queries/%d", q.ID+1000), nil, http.StatusNotFound, "not found")
}

func TestQueryForkAndRegenerate(t *testing.T) {
	e := startEnv(t, false)
	memberID, member := e.createUser(t, "member@example.com", false)
	q := e.createSavedQuery(e.key, map[string]any{"name": "original", "tags": []string{"t"}, "is_draft": false,
		"schedule": map[string]any{"interval": 600}, "options": map[string]any{"parameters": []any{}, "apply_auto_limit": true}})

	var fork savedQuery
	e.doWithKey(member, "POST", fmt.Sprintf("/api/queries/%d/fork", q.ID), nil, http.StatusOK, &fork)
	wantName := fmt.Sprintf("Copy of (#%d) original", q.ID)
	if fork.ID == q.ID || fork.Name != wantName || fork.User.ID != memberID || !fork.IsDraft || string(fork.Schedule) != "null" ||
		fork.Version != 1 || !slices.Equal(fork.Tags, []string{"t"}) || fork.APIKey == nil || *fork.APIKey == *q.APIKey || fork.Query != q.Query {
		t.Errorf("fork = %+v; want %q owned by %d, a draft without schedule, version 1, tags [t], its own key", fork, wantName, memberID)
	}
	// The fork is the member's: they may edit it.
	e.doWithKey(member, "POST", fmt.Sprintf("/api/queries/%d", fork.ID), map[string]any{"name": "mine"}, http.StatusOK, nil)
	e.expectError(e.key, "POST", "/api/queries/424242/fork", nil, http.StatusNotFound, "not found")

	path := fmt.Sprintf("/api/queries/%d", q.ID)
	var re savedQuery
	e.do("POST", path+"/regenerate_api_key", nil, http.StatusOK, &re)
	if re.APIKey == nil || len(*re.APIKey) != 40 || *re.APIKey == *q.APIKey {
		t.Fatalf("regenerate_api_key: api_key %v, want a new 40-character key", re.APIKey)
	}
	e.expectError(*q.APIKey, "GET", path, nil, http.StatusUnauthorized, "Invalid API key")
	var byKey savedQuery
	e.doWithKey(*re.APIKey, "GET", path, nil, http.StatusOK, &byKey)
	if byKey.ID != q.ID || byKey.APIKey != nil {
		t.Errorf("GET %s with its new key = id %d, api_key %v; want the query, without its key", path, byKey.ID, byKey.APIKey)
	}
	// A query key reads; it does not fork, re-key or refresh.
	for _, suffix := range []string{"/fork", "/regenerate_api_key", "/refresh"} {
		e.expectError(*re.APIKey, "POST", path+suffix, nil, http.StatusForbidden, "API key belongs to a query")
	}
}

func TestQueryRefresh(t *testing.T) {
	e := startEnv(t, true)
	options := map[string]any{"parameters": []map[string]any{
		{"name": "n", "type": "number"},
		{"name": "r", "type": "date-range"},
	}}
	q := e.createSavedQuery(e.key, map[string]any{"name": "refreshed", "options": options,
		"query": "SELECT {{ n }}::int AS n, '{{ r.start }}'::date AS s, '{{ r.end }}'::date AS e"})
	path := fmt.Sprintf("/api/queries/%d/refresh", q.ID)

	run := func(args string) queryResultBody {
		t.Helper()
		var a struct{ Job *jobBody }
		e.do("POST", path+"?"+args, nil, http.StatusOK, &a)
		if a.Job == nil || a.Job.ID == "" {
			t.Fatalf("POST %s?%s answered no job", path, args)
		}
		j := e.pollJob(a.Job.ID)
		if j.Status != int(store.JobSucceeded) || j.QueryResultID == nil {
			t.Fatalf("refresh job = %+v, want success", j)
		}
		var r struct {
			QueryResult queryResultBody `json:"query_result"`
		}
		e.do("GET", fmt.Sprintf("/api/query_results/%d", *j.QueryResultID), nil, http.StatusOK, &r)
		return r.QueryResult
	}
	args := "p_n=5&p_r.start=2024-01-01&p_r.end=2024-01-31"
	r := run(args)
	if len(r.Data.Rows) != 1 || r.Data.Rows[0]["n"] != 5.0 || r.Data.Rows[0]["s"] != "2024-01-01" || r.Data.Rows[0]["e"] != "2024-01-31" {
		t.Errorf("refresh ?%s rows = %v, want n 5 from 2024-01-01 to 2024-01-31", args, r.Data.Rows)
	}
	// Refresh always runs: a second one makes a new result.
	if again := run(args); again.ID == r.ID {
		t.Errorf("second refresh gave result %d again, want a new run", r.ID)
	}

	for _, tc := range []struct{ args, want string }{
		{"p_n=abc&p_r.start=2024-01-01&p_r.end=2024-01-31", "n (number) expects a number"},
		{"p_n=5", "Missing parameter value for: r.start, r.end"},
		{"p_n=5&p_r.start=2024-01-01", "give both p_r.start and p_r.end"},
		{"p_n=5&p_r.middle=x", "p_r.middle"},
		{"p_n=5&p_r=2024&p_r.start=2024-01-01&p_r.end=2024-01-31", "p_r is given both"},
		{"p_n=5&p_r.start=2024-01-01&p_r.end=2024-01-31&p_zz=1", "zz is not a parameter of this query"},
	} {
		e.expectError(e.key, "POST", path+"?"+tc.args, nil, http.StatusBadRequest, tc.want)
	}
	e.expectError(e.key, "POST", "/api/queries/424242/refresh", nil, http.StatusNotFound, "not found")
}
