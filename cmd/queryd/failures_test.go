package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestBadInput(t *testing.T) {
	e := startEnv(t, true)
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		message            string
	}{
		{"malformed JSON", "POST", "/api/query_results", `{"query": "SELECT 1",`, 400, "request body is not valid JSON"},
		{"empty body", "POST", "/api/query_results", "", 400, "request body is empty"},
		{"no data source", "POST", "/api/query_results", map[string]any{"query": "SELECT 1"}, 400, "data_source_id is required"},
		{"unknown data source", "POST", "/api/query_results", map[string]any{"query": "SELECT 1", "data_source_id": 99999}, 404, "data source 99999 does not exist"},
		{"data source not a number", "POST", "/api/query_results", map[string]any{"query": "SELECT 1", "data_source_id": "abc"}, 400, "data_source_id must be a positive integer"},
		{"no query", "POST", "/api/query_results", map[string]any{"data_source_id": e.dsID}, 400, "query is required"},
		{"query not a string", "POST", "/api/query_results", map[string]any{"data_source_id": e.dsID, "query": 7}, 400, `field "query" must be a string`},
		{"bad max_age", "POST", "/api/query_results", map[string]any{"data_source_id": e.dsID, "query": "SELECT 1", "max_age": "soon"}, 400, "max_age must be"},
		{"wait too long", "POST", "/api/query_results?wait=31", map[string]any{"data_source_id": e.dsID, "query": "SELECT 1"}, 400, "wait must be a number of seconds from 0 to 30"},
		{"unknown job", "GET", "/api/jobs/no-such-job", nil, 404, `job "no-such-job" not found`},
		{"cancel unknown job", "DELETE", "/api/jobs/no-such-job", nil, 404, `job "no-such-job" not found`},
		{"unknown result", "GET", "/api/query_results/424242", nil, 404, "query result 424242 not found"},
		{"bad result format", "GET", "/api/query_results/1.xlsx", nil, 400, `unsupported result format "xlsx"`},
		{"not a result id", "GET", "/api/query_results/abc", nil, 404, `"abc" is not a valid result id`},
		{"negative limit", "GET", "/api/query_results/1?limit=-1", nil, 400, `limit must be a non-negative integer, not "-1"`},
		{"paged CSV", "GET", "/api/query_results/1.csv?offset=5", nil, 400, "limit and offset apply to JSON results"},
		{"unknown query", "POST", "/api/queries/424242/results", `{}`, 404, "query 424242 not found"},
		{"data source with unknown type", "POST", "/api/data_sources", map[string]any{"name": "x", "type": "oracle", "options": map[string]any{}}, 400, `unknown data source type "oracle"`},
		{"data source with bad option", "POST", "/api/data_sources", map[string]any{"name": "x", "type": "pg", "options": map[string]any{"dbname": "d", "user": "u", "port": 70000}}, 400, `"port"`},
		{"bad concurrency limit", "POST", "/api/data_sources", map[string]any{"name": "x", "type": "pg", "options": map[string]any{"dbname": "d", "user": "u", "max_concurrent_queries": 0}}, 400, `option "max_concurrent_queries": must be an integer from 1 to 1000, not 0`},
		{"duplicate data source", "POST", "/api/data_sources", map[string]any{"name": "test-pg", "type": "pg", "options": pgOptions(t)}, 400, "Data source with the name test-pg already exists."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.request(tc.method, tc.path, tc.body)
			var got struct{ Message string }
			json.Unmarshal(body, &got)
			if status != tc.status || !strings.Contains(got.Message, tc.message) {
				t.Errorf("%s %s = %d %s, want %d with message %q", tc.method, tc.path, status, body, tc.status, tc.message)
			}
		})
	}

	t.Run("execution errors carry Redash's job shape", func(t *testing.T) {
		var a struct {
			Message string
			Job     jobBody
		}
		e.do("POST", "/api/query_results", map[string]any{"query": "SELECT 1"}, 400, &a)
		if a.Job.Status != 4 || a.Job.Error != a.Message || a.Message == "" {
			t.Errorf("error body = %+v, want job status 4 with the message", a)
		}
	})

	t.Run("syntax error ends the job in 4 with the warehouse's message", func(t *testing.T) {
		a := e.execute("SELEC 1", map[string]any{"max_age": 0})
		job := e.pollJob(a.Job.ID)
		if job.Status != 4 || !strings.Contains(job.Error, `syntax error at or near "SELEC"`) {
			t.Errorf("job = %+v, want status 4 with the syntax error", job)
		}
	})

	t.Run("missing table", func(t *testing.T) {
		a := e.execute("SELECT * FROM no_such_table_here", map[string]any{"max_age": 0})
		job := e.pollJob(a.Job.ID)
		if job.Status != 4 || !strings.Contains(job.Error, `relation "no_such_table_here" does not exist`) {
			t.Errorf("job = %+v, want status 4 naming the table", job)
		}
	})
}

func TestAuth(t *testing.T) {
	e := startEnv(t, true)
	_, memberKey, err := e.store.CreateUser(context.Background(), "member@example.com", "", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, method, path, key string
		status                  int
	}{
		{"no key", "GET", "/api/jobs/x", "", 401},
		{"wrong key", "GET", "/api/data_sources", "not-a-key", 401},
		{"member lists data sources", "GET", "/api/data_sources", memberKey, 200},
		{"member may not create data sources", "POST", "/api/data_sources", memberKey, 403},
		{"member may not test data sources", "POST", fmt.Sprintf("/api/data_sources/%d/test", e.dsID), memberKey, 403},
		{"health needs no key", "GET", "/healthz", "", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.requestWithKey(tc.method, tc.path, `{}`, tc.key)
			if status != tc.status {
				t.Errorf("%s %s = %d %s, want %d", tc.method, tc.path, status, body, tc.status)
			}
			if tc.status == 401 && !strings.Contains(string(body), `"message"`) {
				t.Errorf("401 body = %s, want a JSON message", body)
			}
		})
	}
	// The query string's key wins over the header's.
	status, _ := e.requestWithKey("GET", "/api/data_sources?api_key=wrong", nil, e.key)
	if status != 401 {
		t.Errorf("api_key=wrong with a good header = %d, want 401", status)
	}
}

func TestDataSources(t *testing.T) {
	e := startEnv(t, true)
	var ds struct {
		ID      int64
		Name    string
		Type    string
		Options map[string]any
	}
	e.do("GET", fmt.Sprintf("/api/data_sources/%d", e.dsID), nil, 200, &ds)
	if ds.Options["password"] != "--------" || ds.Options["dbname"] == nil {
		t.Errorf("options = %v, want the password masked and the rest shown", ds.Options)
	}
	// Sending the mask back keeps the password: the connection still works.
	ds.Options["sslmode"] = "disable"
	e.do("POST", fmt.Sprintf("/api/data_sources/%d", e.dsID), map[string]any{"name": "renamed", "options": ds.Options}, 200, &ds)
	var test struct {
		OK      bool
		Message string
	}
	e.do("POST", fmt.Sprintf("/api/data_sources/%d/test", e.dsID), nil, 200, &test)
	if !test.OK || ds.Name != "renamed" {
		t.Errorf("after update: name %q, test %+v; want renamed and ok", ds.Name, test)
	}
	bad := pgOptions(t)
	bad["password"] = "wrong-s3cret"
	bad["user"] = "no_such_user"
	id := e.createDataSource("bad", bad)
	e.do("POST", fmt.Sprintf("/api/data_sources/%d/test", id), nil, 200, &test)
	if test.OK || test.Message == "" || strings.Contains(test.Message, "wrong-s3cret") {
		t.Errorf("test with bad credentials = %+v, want a failure that does not show the password", test)
	}
	e.do("DELETE", fmt.Sprintf("/api/data_sources/%d", id), nil, 204, nil)
	e.do("GET", fmt.Sprintf("/api/data_sources/%d", id), nil, 404, nil)
}

// running reports whether a statement containing marker runs in PostgreSQL.
func running(t *testing.T, marker string) bool {
	t.Helper()
	var n int
	err := pg(t).QueryRow(context.Background(),
		`SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()`,
		marker).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n > 0
}

func TestCancelRunningQuery(t *testing.T) {
	e := startEnv(t, true)
	marker := uniqueName("cancel_me")
	a := e.execute(fmt.Sprintf("SELECT pg_sleep(60) AS %s", marker), map[string]any{"max_age": 0})
	deadline := time.Now().Add(10 * time.Second)
	for !running(t, marker) {
		if time.Now().After(deadline) {
			t.Fatal("the statement never showed up in pg_stat_activity")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var cj struct{ Job jobBody }
	e.do("DELETE", "/api/jobs/"+a.Job.ID, nil, 200, &cj)
	cancelled := time.Now()
	for running(t, marker) {
		if time.Since(cancelled) > time.Second {
			t.Fatal("the statement still runs in PostgreSQL 1s after the cancel")
		}
		time.Sleep(10 * time.Millisecond)
	}
	job := e.pollJob(a.Job.ID)
	if job.Status != 5 || job.Error != "Query cancelled by user." {
		t.Errorf("job = %+v, want status 5 with Query cancelled by user.", job)
	}
	// The worker's pool still works for the next query.
	if b := e.execute("SELECT 2 AS two", map[string]any{"max_age": 0, "wait": 10}); b.QueryResult == nil {
		t.Errorf("query after cancel = %+v, want a result", b)
	}
}

func TestCancelPendingJobNeverRuns(t *testing.T) {
	e := startEnv(t, false)
	seq := uniqueName("never_run")
	db := pg(t)
	if _, err := db.Exec(context.Background(), "CREATE SEQUENCE public."+seq); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Exec(context.Background(), "DROP SEQUENCE public."+seq) })
	a := e.execute(fmt.Sprintf("SELECT nextval('public.%s')", seq), map[string]any{"max_age": 0})
	var cj struct{ Job jobBody }
	e.do("DELETE", "/api/jobs/"+a.Job.ID, nil, 200, &cj)
	if cj.Job.Status != 5 {
		t.Fatalf("cancelled pending job = %+v, want status 5", cj.Job)
	}
	e.startWorker()
	// A later query proves the worker is draining the queue.
	if b := e.execute("SELECT 3", map[string]any{"max_age": 0, "wait": 10}); b.QueryResult == nil {
		t.Fatalf("query after cancel = %+v, want a result", b)
	}
	var called bool
	if err := db.QueryRow(context.Background(), "SELECT is_called FROM public."+seq).Scan(&called); err != nil {
		t.Fatal(err)
	}
	if called {
		t.Error("the cancelled job's statement ran")
	}
}

func TestRedisFlushLosesNoJob(t *testing.T) {
	e := startEnv(t, false)
	ids := make([]string, 5)
	for i := range ids {
		ids[i] = e.execute(fmt.Sprintf("SELECT %d AS n", i), map[string]any{"max_age": 0}).Job.ID
	}
	opt, err := redis.ParseURL(e.redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	if n, err := rdb.DBSize(context.Background()).Result(); err != nil || n == 0 {
		t.Fatalf("Redis holds %d keys (%v) before the flush, want the queued tasks", n, err)
	}
	if err := rdb.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	e.startWorker()
	for _, id := range ids {
		if job := e.pollJob(id); job.Status != 3 {
			t.Errorf("job %s = %+v after the flush, want status 3", id, job)
		}
	}
}

func TestHybridWait(t *testing.T) {
	e := startEnv(t, true)
	a := e.execute("SELECT pg_sleep(0.5), 'waited' AS w", map[string]any{"max_age": 0})
	start := time.Now()
	var got struct{ Job jobBody }
	e.do("GET", "/api/jobs/"+a.Job.ID+"?wait=10", nil, http.StatusOK, &got)
	if got.Job.Status != 3 {
		t.Errorf("GET job with wait = %+v, want status 3", got.Job)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("GET job with wait took %s, want it to return when the job ends", took)
	}
	// A wait that runs out answers with the job as it stands.
	b := e.execute("SELECT pg_sleep(3)", map[string]any{"max_age": 0, "wait": 0.2})
	if b.Job == nil || b.Job.Status >= 3 {
		t.Errorf("POST with a short wait = %+v, want an unfinished job", b)
	}
}

func TestShutdownDrainsRequests(t *testing.T) {
	e := startEnv(t, true)
	// Fill the worker's 4 slots, so the next job is still queued when the
	// shutdown begins: only if HTTP drains before the worker stops taking
	// tasks does the waiting request get its result.
	for n := range 4 {
		e.execute(fmt.Sprintf("SELECT pg_sleep(1), %d AS busy", n), map[string]any{"max_age": 0})
	}
	answer := make(chan executeAnswer, 1)
	go func() {
		var a executeAnswer
		status, body := e.request("POST", "/api/query_results",
			map[string]any{"data_source_id": e.dsID, "query": "SELECT 'drained' AS d", "max_age": 0, "wait": 10})
		if status != http.StatusOK || json.Unmarshal(body, &a) != nil {
			t.Errorf("POST during shutdown = %d %s, want 200", status, body)
		}
		answer <- a
	}()
	time.Sleep(300 * time.Millisecond) // the request is waiting for its queued job
	e.shutdown()
	a := <-answer
	if a.QueryResult == nil || a.QueryResult.Data.Rows[0]["d"] != "drained" {
		t.Errorf("request in flight at shutdown got %+v, want its result: HTTP drains before the worker stops", a)
	}
	if _, err := http.Get(e.base + "/healthz"); err == nil {
		t.Error("the API still accepts connections after shutdown")
	}
}
