package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// dashboardAnswer is a dashboard as the API answers it; widgets stay
// generic so that tests see which keys they have.
type dashboardAnswer struct {
	ID     int64
	Slug   string
	Name   string
	UserID int64 `json:"user_id"`
	User   struct {
		ID          int64
		Name, Email string
	}
	Version         int
	CanEdit         bool     `json:"can_edit"`
	IsArchived      bool     `json:"is_archived"`
	IsDraft         bool     `json:"is_draft"`
	Tags            []string `json:"tags"`
	Options         map[string]any
	RefreshSchedule json.RawMessage `json:"refresh_schedule"`
	RefreshFailures int             `json:"refresh_failures"`
	// RefreshNextRunAt and RefreshLastRunAt are queryd's.
	RefreshNextRunAt *string `json:"refresh_next_run_at"`
	RefreshLastRunAt *string `json:"refresh_last_run_at"`
	APIKey           string  `json:"api_key"`
	PublicURL        string  `json:"public_url"`
	Widgets          []map[string]any
}

// widgetRunAnswer is one entry of a refresh's answer.
type widgetRunAnswer struct {
	WidgetID      int64    `json:"widget_id"`
	QueryID       *int64   `json:"query_id"`
	Job           *jobBody `json:"job"`
	QueryResultID *int64   `json:"query_result_id"`
	Error         string   `json:"error"`
}

// saveQuery saves sql on the test data source with parameter definitions
// params and returns its id.
func (e *testEnv) saveQuery(name, sql string, params ...map[string]any) int64 {
	e.t.Helper()
	if params == nil {
		params = []map[string]any{}
	}
	var q struct{ ID int64 }
	e.do("POST", "/api/queries", map[string]any{"name": name, "query": sql, "data_source_id": e.dsID,
		"options": map[string]any{"parameters": params}}, http.StatusOK, &q)
	return q.ID
}

// visualize adds a table visualization to query qid and returns its id.
func (e *testEnv) visualize(qid int64) int64 {
	e.t.Helper()
	var v struct{ ID int64 }
	e.do("POST", "/api/visualizations", map[string]any{"query_id": qid, "type": "TABLE", "name": "Table",
		"options": map[string]any{}}, http.StatusOK, &v)
	return v.ID
}

// addWidget adds a widget to dashboard id: visualization vid, or text when
// vid is 0.
func (e *testEnv) addWidget(id, vid int64, text string) int64 {
	e.t.Helper()
	body := map[string]any{"dashboard_id": id, "width": 1, "options": map[string]any{}}
	if vid != 0 {
		body["visualization_id"] = vid
	} else {
		body["text"] = text
	}
	var w struct{ ID int64 }
	e.do("POST", "/api/widgets", body, http.StatusOK, &w)
	return w.ID
}

func (e *testEnv) createDashboard(name string) dashboardAnswer {
	e.t.Helper()
	var d dashboardAnswer
	e.do("POST", "/api/dashboards", map[string]any{"name": name}, http.StatusOK, &d)
	return d
}

// resultRows returns the rows of query result id.
func (e *testEnv) resultRows(id int64) []map[string]any {
	e.t.Helper()
	var a struct {
		QueryResult queryResultBody `json:"query_result"`
	}
	e.do("GET", fmt.Sprintf("/api/query_results/%d", id), nil, http.StatusOK, &a)
	return a.QueryResult.Data.Rows
}

// refresh refreshes dashboard id with body and returns the runs.
func (e *testEnv) refresh(id int64, body any) []widgetRunAnswer {
	e.t.Helper()
	var a struct{ Jobs []widgetRunAnswer }
	e.do("POST", fmt.Sprintf("/api/dashboards/%d/refresh", id), body, http.StatusOK, &a)
	return a.Jobs
}

// runValue waits for run's job and returns column col of its result's
// first row.
func (e *testEnv) runValue(run widgetRunAnswer, col string) any {
	e.t.Helper()
	if run.Job == nil || run.Error != "" {
		e.t.Fatalf("run = %+v, want a job", run)
	}
	job := e.pollJob(run.Job.ID)
	if job.Status != 3 || job.QueryResultID == nil {
		e.t.Fatalf("job of widget %d = %+v, want status 3", run.WidgetID, job)
	}
	rows := e.resultRows(*job.QueryResultID)
	if len(rows) != 1 {
		e.t.Fatalf("result of widget %d = %v, want one row", run.WidgetID, rows)
	}
	return rows[0][col]
}

// errorMessage is the message of an error answer.
func errorMessage(t testing.TB, b []byte) string {
	t.Helper()
	var a struct{ Message string }
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("error answer %s: %v", b, err)
	}
	return a.Message
}

// field digs into v through nested objects' keys; nil where one is missing.
func field(v any, keys ...string) any {
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

var doubleParam = map[string]any{"name": "n", "title": "N", "type": "number", "value": 1}

func TestDashboards(t *testing.T) {
	e := startEnv(t, true)
	qid := e.saveQuery("doubled", "SELECT {{ n }} * 2 AS doubled", doubleParam)
	vid := e.visualize(qid)

	d := e.createDashboard("  Sales Overview ")
	if d.Name != "Sales Overview" || d.Slug != "sales-overview" || !d.IsDraft || d.Version != 1 || !d.CanEdit ||
		d.User.Email != "admin@example.com" || d.Widgets == nil || string(d.RefreshSchedule) != "null" {
		t.Errorf("POST /api/dashboards = %+v, want a draft named Sales Overview, slug sales-overview, "+
			"version 1, editable, by the admin, no widgets, no schedule", d)
	}
	textID := e.addWidget(d.ID, 0, "# Notes")
	vizID := e.addWidget(d.ID, vid, "")
	sameQueryID := e.addWidget(d.ID, e.visualize(qid), "")

	t.Run("get by id and by slug", func(t *testing.T) {
		var byID dashboardAnswer
		e.do("GET", fmt.Sprintf("/api/dashboards/%d", d.ID), nil, http.StatusOK, &byID)
		if len(byID.Widgets) != 3 {
			t.Fatalf("widgets = %v, want 3", byID.Widgets)
		}
		text, viz := byID.Widgets[0], byID.Widgets[1]
		if _, has := text["visualization"]; has || text["text"] != "# Notes" || text["id"] != float64(textID) {
			t.Errorf("text widget = %v, want its text and no visualization", text)
		}
		params, _ := field(viz, "visualization", "query", "options", "parameters").([]any)
		if viz["id"] != float64(vizID) || field(viz, "visualization", "query", "id") != float64(qid) || len(params) != 1 ||
			field(params[0], "name") != "n" || field(viz, "visualization", "query", "query") != "SELECT {{ n }} * 2 AS doubled" {
			t.Errorf("visualization widget = %v, want visualization.query %d whole with options.parameters", viz, qid)
		}
		for _, path := range []string{"/api/dashboards/sales-overview", "/api/dashboards/sales-overview?legacy"} {
			var bySlug dashboardAnswer
			e.do("GET", path, nil, http.StatusOK, &bySlug)
			if bySlug.ID != d.ID || len(bySlug.Widgets) != 3 {
				t.Errorf("GET %s = dashboard %d with %d widgets, want %d with 3", path, bySlug.ID, len(bySlug.Widgets), d.ID)
			}
		}
		if status, b := e.request("GET", "/api/dashboards/no-such-board", nil); status != http.StatusNotFound {
			t.Errorf("GET unknown slug = %d %s, want 404", status, b)
		}
	})

	t.Run("update", func(t *testing.T) {
		var up dashboardAnswer
		e.do("POST", fmt.Sprintf("/api/dashboards/%d", d.ID), map[string]any{
			"version": 1, "options": map[string]any{"parameters": map[string]any{"n": 21}},
			"tags": []string{"sales"}, "is_draft": false, "refresh_schedule": map[string]any{"interval": "300"},
		}, http.StatusOK, &up)
		if up.Version != 2 || up.IsDraft || len(up.Tags) != 1 || len(up.Widgets) != 3 ||
			string(up.RefreshSchedule) != `{"cron":null,"interval":300,"timezone":"UTC"}` {
			t.Errorf("update = %+v, want version 2, published, tagged, its widgets, and the schedule as stored", up)
		}
		status, b := e.request("POST", fmt.Sprintf("/api/dashboards/%d", d.ID), map[string]any{"version": 1, "name": "x"})
		if status != http.StatusConflict {
			t.Errorf("update with stale version 1 = %d %s, want 409", status, b)
		}
		for _, tc := range []struct {
			name string
			body map[string]any
			want string
		}{
			{"empty name", map[string]any{"name": " "}, "name is required"},
			{"long name", map[string]any{"name": strings.Repeat("x", 256)}, "longer than 255"},
			{"parameters not an object", map[string]any{"options": map[string]any{"parameters": []int{1}}}, "options.parameters must be an object"},
			{"options not an object", map[string]any{"options": "x"}, "options must be a JSON object"},
			{"layout not an array", map[string]any{"layout": map[string]any{}}, "layout must be a JSON array"},
			{"bad schedule", map[string]any{"refresh_schedule": map[string]any{"interval": 5}}, "refresh_schedule"},
			{"tags not strings", map[string]any{"tags": []int{1}}, "tags"},
		} {
			status, b := e.request("POST", fmt.Sprintf("/api/dashboards/%d", d.ID), tc.body)
			if status != http.StatusBadRequest || !strings.Contains(errorMessage(t, b), tc.want) {
				t.Errorf("%s: update = %d %s, want 400 naming %q", tc.name, status, b, tc.want)
			}
		}
	})

	t.Run("refresh", func(t *testing.T) {
		runs := e.refresh(d.ID, nil)
		if len(runs) != 2 || runs[0].WidgetID != vizID || runs[1].WidgetID != sameQueryID ||
			runs[0].QueryID == nil || *runs[0].QueryID != qid || runs[0].Job == nil || runs[1].Job == nil ||
			runs[0].Job.ID != runs[1].Job.ID || runs[0].QueryResultID != nil {
			t.Fatalf("refresh = %+v, want one job shared by the two widgets of query %d", runs, qid)
		}
		// The dashboard's value, 21, reaches the SQL.
		if got := e.runValue(runs[0], "doubled"); got != 42.0 {
			t.Errorf("refresh with the dashboard's n=21: doubled = %v, want 42", got)
		}
		// The body's values win; those of no parameter of the query are ignored.
		runs = e.refresh(d.ID, map[string]any{"parameters": map[string]any{"n": 5, "region": "EU"}})
		if got := e.runValue(runs[0], "doubled"); got != 10.0 {
			t.Errorf("refresh with n=5: doubled = %v, want 10", got)
		}
		runs = e.refresh(d.ID, `{"parameters": {"n": "five"}}`)
		if len(runs) != 2 || runs[0].Job != nil || !strings.Contains(runs[0].Error, "n (number) expects a number") {
			t.Errorf("refresh with n=five = %+v, want the widgets' error naming n", runs)
		}
		if status, b := e.request("POST", fmt.Sprintf("/api/dashboards/%d/refresh", d.ID), `{"parameters": [1]}`); status != http.StatusBadRequest {
			t.Errorf("refresh with parameters [1] = %d %s, want 400", status, b)
		}
	})

	t.Run("widgets and visualizations", func(t *testing.T) {
		for _, tc := range []struct {
			name, path string
			body       map[string]any
			status     int
		}{
			{"widget without content", "/api/widgets", map[string]any{"dashboard_id": d.ID}, 400},
			{"widget without dashboard", "/api/widgets", map[string]any{"text": "x"}, 400},
			{"widget on a missing dashboard", "/api/widgets", map[string]any{"dashboard_id": d.ID + 1000, "text": "x"}, 404},
			{"widget of a missing visualization", "/api/widgets", map[string]any{"dashboard_id": d.ID, "visualization_id": vid + 1000}, 404},
			{"widget of width 0", "/api/widgets", map[string]any{"dashboard_id": d.ID, "text": "x", "width": 0}, 400},
			{"visualization without type", "/api/visualizations", map[string]any{"query_id": qid}, 400},
			{"visualization of a missing query", "/api/visualizations", map[string]any{"query_id": qid + 1000, "type": "TABLE"}, 404},
			{"visualization with a long type", "/api/visualizations", map[string]any{"query_id": qid, "type": strings.Repeat("t", 101)}, 400},
			{"visualization options not an object", "/api/visualizations", map[string]any{"query_id": qid, "type": "T", "options": 1}, 400},
		} {
			if status, b := e.request("POST", tc.path, tc.body); status != tc.status {
				t.Errorf("%s: POST %s = %d %s, want %d", tc.name, tc.path, status, b, tc.status)
			}
		}
		var w map[string]any
		e.do("POST", fmt.Sprintf("/api/widgets/%d", textID), map[string]any{"text": "# Changed", "width": 2}, http.StatusOK, &w)
		if w["text"] != "# Changed" || w["width"] != 2.0 {
			t.Errorf("widget update = %v, want the new text and width", w)
		}
		var v map[string]any
		e.do("POST", fmt.Sprintf("/api/visualizations/%d", vid), map[string]any{"name": "Renamed"}, http.StatusOK, &v)
		if v["name"] != "Renamed" || v["type"] != "TABLE" {
			t.Errorf("visualization update = %v, want renamed, still a TABLE", v)
		}
		// Deleting a visualization takes its widgets away.
		other := e.visualize(qid)
		e.addWidget(d.ID, other, "")
		e.do("DELETE", fmt.Sprintf("/api/visualizations/%d", other), nil, http.StatusNoContent, nil)
		e.do("DELETE", fmt.Sprintf("/api/widgets/%d", sameQueryID), nil, http.StatusNoContent, nil)
		var got dashboardAnswer
		e.do("GET", fmt.Sprintf("/api/dashboards/%d", d.ID), nil, http.StatusOK, &got)
		if len(got.Widgets) != 2 {
			t.Errorf("widgets after deleting two = %v, want the text and the first visualization", got.Widgets)
		}
	})

	t.Run("owner and admins edit", func(t *testing.T) {
		_, member := e.createUser(t, "member@example.com", false)
		var seen dashboardAnswer
		e.doWithKey(member, "GET", fmt.Sprintf("/api/dashboards/%d", d.ID), nil, http.StatusOK, &seen)
		if seen.CanEdit || len(seen.Widgets) != 2 {
			t.Errorf("member's GET = can_edit %v, %d widgets; want false, 2", seen.CanEdit, len(seen.Widgets))
		}
		for _, r := range []struct {
			method, path string
			body         any
		}{
			{"POST", fmt.Sprintf("/api/dashboards/%d", d.ID), map[string]any{"name": "mine"}},
			{"DELETE", fmt.Sprintf("/api/dashboards/%d", d.ID), nil},
			{"POST", fmt.Sprintf("/api/dashboards/%d/share", d.ID), nil},
			{"POST", "/api/widgets", map[string]any{"dashboard_id": d.ID, "text": "x"}},
			{"DELETE", fmt.Sprintf("/api/widgets/%d", textID), nil},
			{"POST", "/api/visualizations", map[string]any{"query_id": qid, "type": "TABLE"}},
		} {
			status, b := e.requestWithKey(r.method, r.path, r.body, member)
			if status != http.StatusForbidden || errorMessage(t, b) != "You don't have permission to edit this resource." {
				t.Errorf("member %s %s = %d %s, want 403", r.method, r.path, status, b)
			}
		}
		// A member's own dashboard is theirs to edit.
		var own dashboardAnswer
		e.doWithKey(member, "POST", "/api/dashboards", map[string]any{"name": "Mine"}, http.StatusOK, &own)
		e.doWithKey(member, "POST", fmt.Sprintf("/api/dashboards/%d", own.ID), map[string]any{"name": "Still mine"}, http.StatusOK, &own)
		if own.Name != "Still mine" || own.Slug != "still-mine" || !own.CanEdit {
			t.Errorf("member's own dashboard = %+v, want renamed with its slug, editable", own)
		}
	})

	t.Run("list, archive and pages", func(t *testing.T) {
		list := func(query string) (count int, names []string) {
			t.Helper()
			var a struct {
				Count    int
				Page     int
				PageSize int `json:"page_size"`
				Results  []dashboardAnswer
			}
			e.do("GET", "/api/dashboards"+query, nil, http.StatusOK, &a)
			for _, r := range a.Results {
				names = append(names, r.Name)
				if r.Widgets != nil {
					t.Errorf("GET /api/dashboards%s: %s has widgets %v, want null in lists", query, r.Name, r.Widgets)
				}
			}
			return a.Count, names
		}
		if n, names := list(""); n != 2 || strings.Join(names, ",") != "Still mine,Sales Overview" {
			t.Errorf("list = %d %v, want 2, newest first", n, names)
		}
		if n, names := list("?q=sales&tags=sales"); n != 1 || strings.Join(names, ",") != "Sales Overview" {
			t.Errorf("list q=sales tags=sales = %d %v, want Sales Overview", n, names)
		}
		if n, names := list("?page=2&page_size=1"); n != 2 || strings.Join(names, ",") != "Sales Overview" {
			t.Errorf("list page 2 of 1 = %d %v, want Sales Overview", n, names)
		}
		var archived dashboardAnswer
		e.do("DELETE", fmt.Sprintf("/api/dashboards/%d", d.ID), nil, http.StatusOK, &archived)
		if !archived.IsArchived {
			t.Errorf("DELETE answer = %+v, want archived", archived)
		}
		if n, names := list(""); n != 1 || strings.Join(names, ",") != "Still mine" {
			t.Errorf("list after archiving = %d %v, want Still mine only", n, names)
		}
		for _, tc := range []struct{ query, want string }{
			{"?page_size=0", "Page size is out of range (1-250)."},
			{"?page_size=251", "Page size is out of range (1-250)."},
			{"?page_size=x", "Page size is out of range (1-250): page_size must be a whole number"},
			{"?page=0", "Page is out of range."},
			{"?page=2", "Page is out of range."},
			{"?page=9223372036854775807&page_size=250", "Page is out of range."},
			{"?page=x", "page must be a whole number"},
		} {
			status, b := e.request("GET", "/api/dashboards"+tc.query, nil)
			if status != http.StatusBadRequest || !strings.Contains(errorMessage(t, b), tc.want) {
				t.Errorf("GET /api/dashboards%s = %d %s, want 400 %q", tc.query, status, b, tc.want)
			}
		}
	})
}

func TestDashboardKey(t *testing.T) {
	e := startEnv(t, true)
	safe := e.saveQuery("safe", "SELECT {{ n }} * 2 AS doubled", doubleParam)
	unsafe := e.saveQuery("unsafe", "SELECT '{{ who }}' AS who",
		map[string]any{"name": "who", "title": "Who", "type": "text", "value": "me"})
	elsewhere := e.saveQuery("elsewhere", "SELECT 1 AS one")
	d := e.createDashboard("Shared")
	e.addWidget(d.ID, e.visualize(unsafe), "")
	other := e.createDashboard("Other")
	e.addWidget(other.ID, e.visualize(elsewhere), "")

	var share struct {
		APIKey    string `json:"api_key"`
		PublicURL string `json:"public_url"`
	}
	e.do("POST", fmt.Sprintf("/api/dashboards/%d/share", d.ID), nil, http.StatusOK, &share)
	if len(share.APIKey) != 40 || !strings.HasSuffix(share.PublicURL, fmt.Sprintf("/api/dashboards/%d?api_key=%s", d.ID, share.APIKey)) {
		t.Fatalf("share = %+v, want a key and the URL that reads the dashboard with it", share)
	}
	key := share.APIKey
	var again struct {
		APIKey string `json:"api_key"`
	}
	if e.do("POST", fmt.Sprintf("/api/dashboards/%d/share", d.ID), nil, http.StatusOK, &again); again.APIKey != key {
		t.Errorf("sharing again gave key %q, want the same key", again.APIKey)
	}
	var editorView dashboardAnswer
	if e.do("GET", fmt.Sprintf("/api/dashboards/%d", d.ID), nil, http.StatusOK, &editorView); editorView.APIKey != key {
		t.Errorf("editor's GET api_key = %q, want the dashboard's key", editorView.APIKey)
	}
	// A widget added after the key was last used is reachable with it at once.
	var before dashboardAnswer
	if e.doWithKey(key, "GET", fmt.Sprintf("/api/dashboards/%d", d.ID), nil, http.StatusOK, &before); len(before.Widgets) != 1 {
		t.Errorf("key GET before adding a widget = %d widgets, want 1", len(before.Widgets))
	}
	e.addWidget(d.ID, e.visualize(safe), "")

	t.Run("reads its dashboard only", func(t *testing.T) {
		u, err := url.Parse(share.PublicURL)
		if err != nil {
			t.Fatal(err)
		}
		var seen dashboardAnswer
		e.doWithKey("", "GET", u.RequestURI(), nil, http.StatusOK, &seen)
		if seen.ID != d.ID || seen.CanEdit || seen.APIKey != "" || len(seen.Widgets) != 2 ||
			field(seen.Widgets[1], "visualization", "query", "id") != float64(safe) {
			t.Errorf("GET public_url = %+v, want the dashboard, not editable, no key, both widgets whole", seen)
		}
		e.doWithKey(key, "GET", "/api/dashboards/shared", nil, http.StatusOK, &seen)
		for _, path := range []string{
			fmt.Sprintf("/api/dashboards/%d", other.ID), "/api/dashboards/other",
			fmt.Sprintf("/api/queries/%d", elsewhere),
		} {
			if status, b := e.requestWithKey("GET", path, nil, key); status != http.StatusNotFound {
				t.Errorf("key GET %s = %d %s, want 404", path, status, b)
			}
		}
		for _, r := range []struct{ method, path string }{
			{"GET", "/api/dashboards"},
			{"POST", fmt.Sprintf("/api/dashboards/%d/refresh", d.ID)},
			{"POST", fmt.Sprintf("/api/dashboards/%d", d.ID)},
			{"POST", "/api/query_results"},
		} {
			if status, b := e.requestWithKey(r.method, r.path, `{"query": "SELECT 1", "data_source_id": 1}`, key); status != http.StatusForbidden {
				t.Errorf("key %s %s = %d %s, want 403", r.method, r.path, status, b)
			}
		}
	})

	t.Run("runs its widgets' safe queries", func(t *testing.T) {
		var a executeAnswer
		e.doWithKey(key, "POST", fmt.Sprintf("/api/queries/%d/results", safe), map[string]any{"max_age": 0, "parameters": map[string]any{"n": 4}}, http.StatusOK, &a)
		if a.Job == nil {
			t.Fatalf("key POST /api/queries/%d/results = %+v, want a job", safe, a)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			var j struct{ Job jobBody }
			e.doWithKey(key, "GET", fmt.Sprintf("/api/queries/%d/jobs/%s", safe, a.Job.ID), nil, http.StatusOK, &j)
			if j.Job.Status == 3 {
				break
			}
			if j.Job.Status > 3 || time.Now().After(deadline) {
				t.Fatalf("job polled with the key = %+v, want status 3", j.Job)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if status, b := e.requestWithKey("POST", fmt.Sprintf("/api/queries/%d/results", unsafe), `{"max_age": 0}`, key); status != http.StatusForbidden ||
			!strings.Contains(string(b), "This query contains potentially unsafe parameters and cannot be executed on a shared dashboard") {
			t.Errorf("key runs the query with a text parameter = %d %s, want 403 with Redash's unsafe message", status, b)
		}
		if status, b := e.requestWithKey("POST", fmt.Sprintf("/api/queries/%d/results", elsewhere), `{"max_age": 0}`, key); status != http.StatusNotFound {
			t.Errorf("key runs another dashboard's query = %d %s, want 404", status, b)
		}
	})

	t.Run("unshared, the key stops working", func(t *testing.T) {
		e.do("DELETE", fmt.Sprintf("/api/dashboards/%d/share", d.ID), nil, http.StatusNoContent, nil)
		if status, b := e.requestWithKey("GET", fmt.Sprintf("/api/dashboards/%d", d.ID), nil, key); status != http.StatusUnauthorized {
			t.Errorf("unshared key GET = %d %s, want 401", status, b)
		}
		var seen dashboardAnswer
		if e.do("GET", fmt.Sprintf("/api/dashboards/%d", d.ID), nil, http.StatusOK, &seen); seen.APIKey != "" || seen.PublicURL != "" {
			t.Errorf("GET after unsharing = key %q url %q, want none", seen.APIKey, seen.PublicURL)
		}
	})
}

func TestDashboardRestrictedWidget(t *testing.T) {
	e := startEnv(t, true)
	ctx := context.Background()
	// A data source the default group, and so the member, is not granted.
	hidden := e.createDataSource("hidden-pg", pgOptions(t))
	groups, err := e.store.Groups(ctx)
	if err != nil || len(groups) == 0 || !groups[0].Builtin {
		t.Fatalf("Groups() = %+v, %v; want the default group first", groups, err)
	}
	if err := e.store.RevokeDataSource(ctx, groups[0].ID, hidden); err != nil {
		t.Fatal(err)
	}
	var secret struct{ ID int64 }
	e.do("POST", "/api/queries", map[string]any{"name": "secret", "query": "SELECT 'secret' AS s", "data_source_id": hidden},
		http.StatusOK, &secret)
	open := e.saveQuery("open", "SELECT {{ n }} * 2 AS doubled", doubleParam)
	secretViz := e.visualize(secret.ID)
	d := e.createDashboard("Mixed")
	hiddenWidget := e.addWidget(d.ID, secretViz, "")
	openWidget := e.addWidget(d.ID, e.visualize(open), "")
	_, member := e.createUser(t, "member@example.com", false)

	var seen dashboardAnswer
	e.doWithKey(member, "GET", fmt.Sprintf("/api/dashboards/%d", d.ID), nil, http.StatusOK, &seen)
	if len(seen.Widgets) != 2 {
		t.Fatalf("member's widgets = %v, want 2", seen.Widgets)
	}
	restricted := seen.Widgets[0]
	_, hasViz := restricted["visualization"]
	_, hasText := restricted["text"]
	if restricted["restricted"] != true || hasViz || hasText || restricted["id"] != float64(hiddenWidget) {
		t.Errorf("widget of the hidden data source = %v, want restricted: true without visualization or text", restricted)
	}
	if _, ok := seen.Widgets[1]["visualization"]; !ok || seen.Widgets[1]["restricted"] != nil {
		t.Errorf("widget of the granted data source = %v, want its visualization", seen.Widgets[1])
	}
	var admins dashboardAnswer
	if e.do("GET", fmt.Sprintf("/api/dashboards/%d", d.ID), nil, http.StatusOK, &admins); admins.Widgets[0]["restricted"] != nil {
		t.Errorf("admin's widget of the hidden data source = %v, want it whole", admins.Widgets[0])
	}

	// The member's refresh runs what they may and says why not for the rest.
	var a struct{ Jobs []widgetRunAnswer }
	e.doWithKey(member, "POST", fmt.Sprintf("/api/dashboards/%d/refresh", d.ID), nil, http.StatusOK, &a)
	if len(a.Jobs) != 2 || a.Jobs[0].WidgetID != hiddenWidget || a.Jobs[0].Job != nil || a.Jobs[0].QueryID != nil ||
		!strings.Contains(a.Jobs[0].Error, "do not have access") || a.Jobs[1].WidgetID != openWidget || a.Jobs[1].Job == nil {
		t.Fatalf("member's refresh = %+v, want an error for the hidden widget and a job for the other", a.Jobs)
	}
	if got := e.runValue(a.Jobs[1], "doubled"); got != 2.0 {
		t.Errorf("member's refresh with the default n=1: doubled = %v, want 2", got)
	}

	// Nor may the member put the hidden visualization on a dashboard of theirs.
	var own dashboardAnswer
	e.doWithKey(member, "POST", "/api/dashboards", map[string]any{"name": "Mine"}, http.StatusOK, &own)
	if status, b := e.requestWithKey("POST", "/api/widgets", map[string]any{"dashboard_id": own.ID, "visualization_id": secretViz}, member); status != http.StatusNotFound {
		t.Errorf("member adds the hidden visualization = %d %s, want 404", status, b)
	}
}
