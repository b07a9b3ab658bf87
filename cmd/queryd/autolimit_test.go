package main

import (
	"fmt"
	"net/http"
	"testing"
)

// TestApplyAutoLimit checks apply_auto_limit caps ad hoc and saved SELECTs
// at 1000 rows, and that a saved query's limited results become its latest.
func TestApplyAutoLimit(t *testing.T) {
	e := startEnv(t, true)
	const sql = "SELECT generate_series(1, 1500) AS n"
	rows := func(a executeAnswer) int {
		t.Helper()
		if a.Job != nil {
			done := e.pollJob(a.Job.ID)
			var r struct {
				QueryResult queryResultBody `json:"query_result"`
			}
			e.do("GET", fmt.Sprintf("/api/query_results/%d", *done.QueryResultID), nil, http.StatusOK, &r)
			return len(r.QueryResult.Data.Rows)
		}
		return len(a.QueryResult.Data.Rows)
	}
	if n := rows(e.execute(sql, map[string]any{"apply_auto_limit": true, "max_age": 0})); n != 1000 {
		t.Errorf("ad hoc with apply_auto_limit: %d rows, want 1000", n)
	}
	if n := rows(e.execute(sql, map[string]any{"max_age": 0})); n != 1500 {
		t.Errorf("ad hoc without apply_auto_limit: %d rows, want 1500", n)
	}
	e.do("POST", "/api/queries", map[string]any{"name": "big", "query": sql, "data_source_id": e.dsID,
		"options": map[string]any{"apply_auto_limit": "yes"}}, http.StatusBadRequest, nil)
	var q struct{ ID int64 }
	e.do("POST", "/api/queries", map[string]any{"name": "big", "query": sql, "data_source_id": e.dsID,
		"options": map[string]any{"apply_auto_limit": true}}, http.StatusOK, &q)
	var a executeAnswer
	e.do("POST", fmt.Sprintf("/api/queries/%d/results", q.ID), map[string]any{"max_age": 0}, http.StatusOK, &a)
	if n := rows(a); n != 1000 {
		t.Errorf("saved query with options.apply_auto_limit: %d rows, want 1000", n)
	}
	var latest struct {
		QueryResult queryResultBody `json:"query_result"`
	}
	e.do("GET", fmt.Sprintf("/api/queries/%d/results", q.ID), nil, http.StatusOK, &latest)
	if got := len(latest.QueryResult.Data.Rows); got != 1000 {
		t.Errorf("latest result of the auto-limited query: %d rows, want its 1000-row result", got)
	}
}
