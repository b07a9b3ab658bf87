package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestRedashClientCompat calls queryd as Redash's own scripts
// (redash-toolbelt's refresh_query.py, refresh_dashboard.py and
// query_export.py) call Redash: JSON bodies sent without a Content-Type,
// jobs polled until status 3 or 4, dashboards fetched by slug, queries paged
// to the end.
func TestRedashClientCompat(t *testing.T) {
	e := startEnv(t, true)
	var q struct{ ID int64 }
	e.do("POST", "/api/queries", map[string]any{
		"name": "Doubled", "data_source_id": e.dsID, "query": "SELECT {{ n }} * 2 AS doubled",
		"options": map[string]any{"parameters": []map[string]any{{"name": "n", "title": "n", "type": "number", "value": 1}}},
	}, http.StatusOK, &q)

	// refresh_query.py: run with parameters, poll the job, fetch the result.
	rid := runLikeToolbelt(t, e, q.ID, `{"max_age": 0, "parameters": {"n": 21}}`)
	var res struct {
		QueryResult queryResultBody `json:"query_result"`
	}
	e.do("GET", fmt.Sprintf("/api/queries/%d/results/%d.json", q.ID, rid), nil, http.StatusOK, &res)
	if rows := res.QueryResult.Data.Rows; len(rows) != 1 || fmt.Sprint(rows[0]["doubled"]) != "42" {
		t.Errorf("result %d rows = %v, want doubled 42", rid, rows)
	}

	// refresh_dashboard.py: the dashboard by slug, each widget's query, its
	// results with the parameters' values.
	var d struct {
		ID   int64
		Slug string
	}
	e.do("POST", "/api/dashboards", map[string]any{"name": "Compat Board"}, http.StatusOK, &d)
	var v struct{ ID int64 }
	e.do("POST", "/api/visualizations", map[string]any{"query_id": q.ID, "type": "TABLE", "name": "Table"}, http.StatusOK, &v)
	e.do("POST", "/api/widgets", map[string]any{"dashboard_id": d.ID, "visualization_id": v.ID, "width": 1}, http.StatusOK, nil)
	e.do("POST", "/api/widgets", map[string]any{"dashboard_id": d.ID, "text": "## notes", "width": 1}, http.StatusOK, nil)
	if d.Slug != "compat-board" {
		t.Fatalf("slug of %q = %q, want compat-board", "Compat Board", d.Slug)
	}
	var board struct {
		Widgets []map[string]json.RawMessage
	}
	e.do("GET", "/api/dashboards/"+d.Slug, nil, http.StatusOK, &board)
	ran := 0
	for _, w := range board.Widgets {
		raw, ok := w["visualization"]
		if !ok {
			continue // a text box
		}
		var viz struct {
			Query struct {
				ID      int64
				Options struct {
					Parameters []struct {
						Name  string
						Value any
					}
				}
			}
		}
		if err := json.Unmarshal(raw, &viz); err != nil {
			t.Fatal(err)
		}
		var full struct {
			ID             int64
			Visualizations []struct{ ID int64 }
		}
		e.do("GET", fmt.Sprintf("/api/queries/%d", viz.Query.ID), nil, http.StatusOK, &full)
		if len(full.Visualizations) != 1 || full.Visualizations[0].ID != v.ID {
			t.Errorf("GET /api/queries/%d visualizations = %+v, want [%d]", full.ID, full.Visualizations, v.ID)
		}
		params := map[string]any{}
		for _, p := range viz.Query.Options.Parameters {
			params[p.Name] = p.Value
		}
		body, _ := json.Marshal(map[string]any{"max_age": 0, "parameters": params})
		runLikeToolbelt(t, e, full.ID, string(body))
		ran++
	}
	if ran != 1 || len(board.Widgets) != 2 {
		t.Errorf("dashboard %s: %d widgets, ran %d queries; want 2 widgets and 1 query", d.Slug, len(board.Widgets), ran)
	}

	// query_export.py: page through every query, reading user.name.
	for i := range 6 {
		e.do("POST", "/api/queries", map[string]any{"name": fmt.Sprintf("export %d", i), "data_source_id": e.dsID,
			"query": fmt.Sprintf("SELECT %d", i)}, http.StatusOK, nil)
	}
	seen := map[int64]bool{}
	for page := 1; ; page++ {
		var p struct {
			Count, Page int
			PageSize    int `json:"page_size"`
			Results     []struct {
				ID   int64
				User struct{ Name string }
			}
		}
		e.do("GET", fmt.Sprintf("/api/queries?page=%d&page_size=3", page), nil, http.StatusOK, &p)
		for _, r := range p.Results {
			if r.User.Name == "" || seen[r.ID] {
				t.Errorf("page %d: query %d with user.name %q, seen before %v", page, r.ID, r.User.Name, seen[r.ID])
			}
			seen[r.ID] = true
		}
		if p.Page*p.PageSize >= p.Count {
			if len(seen) != 7 || p.Count != 7 {
				t.Errorf("paged %d queries of count %d, want 7", len(seen), p.Count)
			}
			break
		}
	}
}

// runLikeToolbelt posts body (JSON, no Content-Type) to a saved query's
// results, polls /api/jobs/<id> until status 3 or 4 as the toolbelt does,
// and returns the result id.
func runLikeToolbelt(t *testing.T, e *testEnv, queryID int64, body string) int64 {
	t.Helper()
	var a struct {
		Job         *jobBody
		QueryResult *queryResultBody `json:"query_result"`
	}
	e.do("POST", fmt.Sprintf("/api/queries/%d/results", queryID), body, http.StatusOK, &a)
	if a.QueryResult != nil {
		return a.QueryResult.ID
	}
	job := *a.Job
	deadline := time.Now().Add(30 * time.Second)
	for job.Status != 3 && job.Status != 4 {
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %d after 30s", job.ID, job.Status)
		}
		time.Sleep(50 * time.Millisecond)
		var r struct{ Job jobBody }
		e.do("GET", "/api/jobs/"+job.ID, nil, http.StatusOK, &r)
		job = r.Job
	}
	if job.Status != 3 || job.QueryResultID == nil {
		t.Fatalf("job %s of query %d = %+v, want status 3 with a result", job.ID, queryID, job)
	}
	return *job.QueryResultID
}
