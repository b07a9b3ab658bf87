package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

// typesQuery returns every column type, a NULL, and a value that needs CSV
// quoting.
const typesQuery = `SELECT n AS id, 'name ' || n AS label, n * 1.5::float8 AS score, (n % 2 = 0) AS even,
  DATE '2024-01-01' + n AS day, TIMESTAMPTZ '2024-01-01 12:00:00.123456+00' + n * interval '1 hour' AS at,
  (n * 1234567.891)::numeric(20,3) AS amount, CASE WHEN n = 2 THEN NULL ELSE 'x,"y"' END AS quoted
FROM generate_series(1, 3) n ORDER BY n`

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
	}
}

// normalizeResult replaces the fields of a query_result answer that differ
// between runs, and indents it.
func normalizeResult(t *testing.T, b []byte) []byte {
	t.Helper()
	var v map[string]map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // keep numbers' digits as the server wrote them
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("answer is not JSON: %v\n%s", err, b)
	}
	qr := v["query_result"]
	for k, repl := range map[string]any{"id": 1, "data_source_id": 1, "runtime": 0.5, "retrieved_at": "2024-01-01T00:00:00.000Z"} {
		if _, ok := qr[k]; !ok {
			t.Errorf("query_result has no %q", k)
		}
		qr[k] = repl
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

func TestEndToEnd(t *testing.T) {
	e := startEnv(t, true)
	a := e.execute(typesQuery, map[string]any{"max_age": 0})
	if a.Job == nil || a.QueryResult != nil {
		t.Fatalf("POST /api/query_results = %+v, want a job", a)
	}
	job := e.pollJob(a.Job.ID)
	if job.Status != 3 || job.QueryResultID == nil || job.Error != "" {
		t.Fatalf("job = %+v, want status 3 with a result", job)
	}
	rid := *job.QueryResultID

	status, csv := e.request("GET", fmt.Sprintf("/api/query_results/%d.csv", rid), nil)
	if status != http.StatusOK {
		t.Fatalf("GET csv = %d %s", status, csv)
	}
	golden(t, "types.csv", csv)

	status, body := e.request("GET", fmt.Sprintf("/api/query_results/%d.json", rid), nil)
	if status != http.StatusOK {
		t.Fatalf("GET json = %d %s", status, body)
	}
	golden(t, "types.json", normalizeResult(t, body))

	// The plain route answers the same object; pages hold the selected rows.
	_, plain := e.request("GET", fmt.Sprintf("/api/query_results/%d", rid), nil)
	if !bytes.Equal(plain, body) {
		t.Errorf("GET /api/query_results/%d differs from its .json download", rid)
	}
	var paged struct {
		QueryResult queryResultBody `json:"query_result"`
	}
	e.do("GET", fmt.Sprintf("/api/query_results/%d?offset=1&limit=1", rid), nil, http.StatusOK, &paged)
	if rows := paged.QueryResult.Data.Rows; len(rows) != 1 || rows[0]["id"] != 2.0 {
		t.Errorf("page offset=1 limit=1 rows = %v, want the row with id 2", rows)
	}
}

func TestDownloadHeadersAndAPIKeyParam(t *testing.T) {
	e := startEnv(t, true)
	var q struct{ ID int64 }
	e.do("POST", "/api/queries", map[string]any{"name": "Daily: sales/EU", "query": "SELECT 1 AS one", "data_source_id": e.dsID}, http.StatusOK, &q)
	var a executeAnswer
	e.do("POST", fmt.Sprintf("/api/queries/%d/results?wait=10", q.ID), map[string]any{"max_age": 0}, http.StatusOK, &a)
	if a.QueryResult == nil {
		t.Fatalf("POST with wait=10 = %+v, want the result", a)
	}
	rid := a.QueryResult.ID
	day := time.Now().UTC().Format("2006_01_02")

	for _, tc := range []struct {
		path, disposition, cacheControl string
	}{
		{fmt.Sprintf("/api/queries/%d/results/%d.csv", q.ID, rid), `attachment; filename="Daily_sales_EU_` + day + `.csv"`, "private,max-age=31557600"},
		{fmt.Sprintf("/api/queries/%d/results.csv", q.ID), `attachment; filename="Daily_sales_EU_` + day + `.csv"`, ""},
		{fmt.Sprintf("/api/query_results/%d.json", rid), fmt.Sprintf(`attachment; filename="%d_%s.json"`, rid, day), "private,max-age=31557600"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			// No Authorization header: the key travels in the query string.
			resp, err := http.Get(e.base + tc.path + "?api_key=" + e.key)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s = %d", tc.path, resp.StatusCode)
			}
			if got := resp.Header.Get("Content-Disposition"); got != tc.disposition {
				t.Errorf("Content-Disposition = %q, want %q", got, tc.disposition)
			}
			if got := resp.Header.Get("Cache-Control"); got != tc.cacheControl {
				t.Errorf("Cache-Control = %q, want %q", got, tc.cacheControl)
			}
		})
	}
}

func TestConcurrentIdenticalQueriesShareOneJob(t *testing.T) {
	e := startEnv(t, true)
	seq := uniqueName("exec_count")
	db := pg(t)
	ctx := context.Background()
	if _, err := db.Exec(ctx, "CREATE SEQUENCE public."+seq); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Exec(context.Background(), "DROP SEQUENCE public."+seq) })
	query := fmt.Sprintf("SELECT nextval('public.%s') AS n, pg_sleep(1)", seq)

	ids := make([]string, 20)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			a := e.execute(query, map[string]any{"max_age": 0})
			if a.Job == nil {
				t.Errorf("POST %d answered %+v, want a job", i, a)
				return
			}
			ids[i] = a.Job.ID
		})
	}
	wg.Wait()
	for i, id := range ids {
		if id != ids[0] {
			t.Fatalf("POST %d got job %s, POST 0 got %s; want one shared job", i, id, ids[0])
		}
	}
	if job := e.pollJob(ids[0]); job.Status != 3 {
		t.Fatalf("job = %+v, want status 3", job)
	}
	var executions int64
	if err := db.QueryRow(ctx, "SELECT last_value FROM public."+seq).Scan(&executions); err != nil {
		t.Fatal(err)
	}
	if executions != 1 {
		t.Errorf("the statement ran %d times, want 1", executions)
	}
	// Once the job has ended, the same query runs again.
	if a := e.execute(query, map[string]any{"max_age": 0}); a.Job == nil || a.Job.ID == ids[0] {
		t.Errorf("POST after the job ended = %+v, want a new job", a)
	}
}

func TestMaxAge(t *testing.T) {
	e := startEnv(t, true)
	query := "SELECT now() AS at, " + fmt.Sprint(time.Now().UnixNano()) + " AS tag"
	first := e.execute(query, map[string]any{"max_age": 0, "wait": 10})
	if first.QueryResult == nil {
		t.Fatalf("first run = %+v, want a result within the wait", first)
	}
	rid := first.QueryResult.ID
	time.Sleep(1100 * time.Millisecond)

	for _, tc := range []struct {
		name   string
		maxAge any // nil: omitted
		cached bool
	}{
		{"omitted means any age", nil, true},
		{"null means any age", json.RawMessage("null"), true},
		{"-1 means any age", -1, true},
		{"window covers the result", 3600, true},
		{"string seconds", "3600", true},
		{"window too short", 1, false},
		{"0 always executes", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			extra := map[string]any{}
			if tc.maxAge != nil {
				extra["max_age"] = tc.maxAge
			}
			a := e.execute(query, extra)
			if tc.cached {
				if a.QueryResult == nil || a.QueryResult.ID != rid {
					t.Fatalf("max_age %v = %+v, want cached result %d", tc.maxAge, a, rid)
				}
				return
			}
			if a.Job == nil {
				t.Fatalf("max_age %v = %+v, want a job", tc.maxAge, a)
			}
			e.pollJob(a.Job.ID)
		})
	}
}

func TestSavedQueryLatestResult(t *testing.T) {
	e := startEnv(t, true)
	var q struct {
		ID                int64
		LatestQueryDataID *int64 `json:"latest_query_data_id"`
	}
	e.do("POST", "/api/queries", map[string]any{"name": "answer", "query": "SELECT {{ n }}::int AS answer", "data_source_id": e.dsID}, http.StatusOK, &q)

	status, body := e.request("GET", fmt.Sprintf("/api/queries/%d/results", q.ID), nil)
	if status != http.StatusNotFound || !strings.Contains(string(body), "No cached result found for this query.") {
		t.Errorf("latest result before any run = %d %s, want 404 No cached result", status, body)
	}
	status, body = e.request("POST", fmt.Sprintf("/api/queries/%d/results", q.ID), `{"max_age": 0}`)
	if status != http.StatusBadRequest || !strings.Contains(string(body), "Missing parameter value for: n") {
		t.Errorf("run without parameter = %d %s, want 400 naming n", status, body)
	}

	var a executeAnswer
	e.do("POST", fmt.Sprintf("/api/queries/%d/results", q.ID), `{"max_age": 0, "parameters": {"n": 42}}`, http.StatusOK, &a)
	job := e.pollJob(a.Job.ID)
	var got struct {
		QueryResult queryResultBody `json:"query_result"`
	}
	e.do("GET", fmt.Sprintf("/api/queries/%d/results", q.ID), nil, http.StatusOK, &got)
	if got.QueryResult.ID != *job.QueryResultID || got.QueryResult.Data.Rows[0]["answer"] != 42.0 {
		t.Errorf("latest result = %+v, want result %d with answer 42", got.QueryResult, *job.QueryResultID)
	}
	var jq struct{ Job jobBody }
	e.do("GET", fmt.Sprintf("/api/queries/%d/jobs/%s", q.ID, job.ID), nil, http.StatusOK, &jq)
	if jq.Job.ID != job.ID || jq.Job.Status != 3 {
		t.Errorf("GET /api/queries/%d/jobs/%s = %+v", q.ID, job.ID, jq.Job)
	}
	if status, _ := e.request("GET", fmt.Sprintf("/api/queries/%d/jobs/%s", q.ID+1, job.ID), nil); status != http.StatusNotFound {
		t.Errorf("job through another query's URL = %d, want 404", status)
	}
}

func TestSavedQueryCache(t *testing.T) {
	e := startEnv(t, true)
	var q struct{ ID int64 }
	e.do("POST", "/api/queries", map[string]any{"name": "now", "query": "SELECT now() AS at", "data_source_id": e.dsID}, http.StatusOK, &q)
	path := fmt.Sprintf("/api/queries/%d/results", q.ID)

	// Never run: an empty body (max_age omitted) starts a job.
	var first executeAnswer
	e.do("POST", path, "", http.StatusOK, &first)
	if first.Job == nil {
		t.Fatalf("first POST %s = %+v, want a job", path, first)
	}
	rid := *e.pollJob(first.Job.ID).QueryResultID
	time.Sleep(1100 * time.Millisecond)

	for _, tc := range []struct {
		body   string
		cached bool
	}{
		{``, true},
		{`{}`, true},
		{`{"max_age": 60}`, true},
		{`{"max_age": 1}`, false},
		{`{"max_age": 0}`, false},
	} {
		var a executeAnswer
		e.do("POST", path, tc.body, http.StatusOK, &a)
		switch {
		case tc.cached && (a.QueryResult == nil || a.QueryResult.ID != rid):
			t.Errorf("POST %s %q = %+v, want cached result %d", path, tc.body, a, rid)
		case !tc.cached && a.Job == nil:
			t.Errorf("POST %s %q = %+v, want a job", path, tc.body, a)
		case !tc.cached:
			e.pollJob(a.Job.ID)
		}
	}
}

// TestQueryParameters runs a saved query whose typed parameters include a
// dropdown of another query's latest result, on real PostgreSQL.
func TestQueryParameters(t *testing.T) {
	e := startEnv(t, true)
	type queryBody struct {
		ID      int64
		Options json.RawMessage
		IsSafe  bool `json:"is_safe"`
	}
	var a queryBody
	e.do("POST", "/api/queries", map[string]any{"name": "regions", "data_source_id": e.dsID,
		"query": "SELECT v AS value, upper(v) AS name FROM (VALUES ('eu'), ('us'), ('o''brien')) t(v)"}, http.StatusOK, &a)
	if string(a.Options) != `{"parameters":[]}` || !a.IsSafe {
		t.Errorf("query without options: options %s, is_safe %v; want {\"parameters\":[]}, true", a.Options, a.IsSafe)
	}

	options := map[string]any{"parameters": []map[string]any{
		{"name": "regions", "title": "Regions", "type": "query", "queryId": a.ID, "value": []string{"eu"},
			"multiValuesOptions": map[string]any{"prefix": "", "suffix": "", "separator": ",", "quoteCharacter": "'"}},
		{"name": "n", "type": "number", "value": 1},
		{"name": "r", "type": "date-range", "value": "d_last_7_days"},
	}}
	var b queryBody
	e.do("POST", "/api/queries", map[string]any{"name": "by region", "data_source_id": e.dsID, "options": options,
		"query": "SELECT v AS region FROM (VALUES ('eu'), ('us'), ('o''brien')) t(v)\n" +
			"WHERE v IN ({{ regions }}) AND {{ n }} > 0 AND DATE '{{ r.start }}' <= DATE '{{ r.end }}' ORDER BY v"}, http.StatusOK, &b)
	if !b.IsSafe || !strings.Contains(string(b.Options), `"queryId":`) {
		t.Errorf("created query options %s, is_safe %v; want the definitions, true", b.Options, b.IsSafe)
	}
	path := fmt.Sprintf("/api/queries/%d/results", b.ID)
	values := func(regions any, n any) map[string]any {
		return map[string]any{"max_age": 0, "parameters": map[string]any{"regions": regions, "n": n, "r": "d_last_7_days"}}
	}

	status, body := e.request("POST", path, values([]string{"eu"}, 1))
	if status != http.StatusBadRequest || !strings.Contains(string(body), fmt.Sprintf("lists the values of query %d, which has no result yet", a.ID)) {
		t.Errorf("dropdown before its query ran = %d %s, want 400 no result yet", status, body)
	}
	var run executeAnswer
	e.do("POST", fmt.Sprintf("/api/queries/%d/results", a.ID), map[string]any{"max_age": 0}, http.StatusOK, &run)
	if job := e.pollJob(run.Job.ID); job.Status != 3 {
		t.Fatalf("dropdown query job = %+v, want status 3", job)
	}

	e.do("POST", path, values([]string{"eu", "o'brien"}, "2"), http.StatusOK, &run)
	job := e.pollJob(run.Job.ID)
	if job.Status != 3 {
		t.Fatalf("listed values: job = %+v, want status 3", job)
	}
	var got struct {
		QueryResult queryResultBody `json:"query_result"`
	}
	e.do("GET", fmt.Sprintf("/api/query_results/%d", *job.QueryResultID), nil, http.StatusOK, &got)
	if diff := cmp.Diff([]map[string]any{{"region": "eu"}, {"region": "o'brien"}}, got.QueryResult.Data.Rows); diff != "" {
		t.Errorf("rows for eu and o'brien (-want +got):\n%s", diff)
	}
	if want := "WHERE v IN ('eu','o''brien') AND 2 > 0"; !strings.Contains(got.QueryResult.Query, want) {
		t.Errorf("query run = %q, want it to contain %q", got.QueryResult.Query, want)
	}

	for _, tc := range []struct {
		name string
		body any
		want string
	}{
		{"unlisted value", values([]string{"eu", "zz"}, 1), fmt.Sprintf("regions (query) expects a list of the values of query %d's latest result", a.ID)},
		{"injection through the dropdown", values([]string{"eu') OR ('1'='1"}, 1), "regions (query) expects"},
		{"injection through a number", values([]string{"eu"}, "1; DROP TABLE x"), `n (number) expects a number, not \"1; DROP TABLE x\"`},
		{"injection through a range", map[string]any{"parameters": map[string]any{"regions": "eu", "n": 1, "r": map[string]any{"start": "2024-01-01' OR '1'='1", "end": "2024-01-02"}}},
			"r (date-range) expects"},
		{"missing values", map[string]any{"max_age": 0, "parameters": map[string]any{"n": 1}}, "Missing parameter value for: regions, r.start, r.end"},
		{"value of no parameter", map[string]any{"parameters": map[string]any{"regions": "eu", "n": 1, "r": "d_today", "x": 1}}, "x is not a parameter of this query"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.request("POST", path, tc.body)
			if status != http.StatusBadRequest || !strings.Contains(string(body), tc.want) {
				t.Errorf("POST %s = %d %s, want 400 containing %q", path, status, body, tc.want)
			}
		})
	}
}

func TestQueryOptionsValidation(t *testing.T) {
	e := startEnv(t, false)
	var q struct {
		ID      int64
		Options json.RawMessage
		IsSafe  bool `json:"is_safe"`
	}
	e.do("POST", "/api/queries", map[string]any{"name": "t", "query": "SELECT '{{ t }}'", "data_source_id": e.dsID,
		"options": map[string]any{"parameters": []map[string]any{{"name": "t", "type": "text"}}, "apply_auto_limit": true}}, http.StatusOK, &q)
	if q.IsSafe || !strings.Contains(string(q.Options), `"apply_auto_limit":true`) {
		t.Errorf("query with a text parameter: options %s, is_safe %v; want apply_auto_limit kept, unsafe", q.Options, q.IsSafe)
	}
	for _, tc := range []struct {
		name    string
		options any
		want    string
	}{
		{"missing name", map[string]any{"parameters": []map[string]any{{"type": "number"}}}, "options.parameters[0]: a parameter needs a name"},
		{"unknown type", map[string]any{"parameters": []map[string]any{{"name": "c", "type": "color"}}}, `parameter \"c\" has unknown type \"color\"`},
		{"parameters not a list", map[string]any{"parameters": "x"}, "options.parameters must be a list"},
		{"enum without values", map[string]any{"parameters": []map[string]any{{"name": "e", "type": "enum"}}}, `parameter \"e\" is an enum`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := map[string]any{"name": "bad", "query": "SELECT 1", "data_source_id": e.dsID, "options": tc.options}
			for _, path := range []string{"/api/queries", fmt.Sprintf("/api/queries/%d", q.ID)} {
				status, b := e.request("POST", path, body)
				if status != http.StatusBadRequest || !strings.Contains(string(b), tc.want) {
					t.Errorf("POST %s options %v = %d %s, want 400 containing %q", path, tc.options, status, b, tc.want)
				}
			}
		})
	}
	var got struct{ Options json.RawMessage }
	e.do("GET", fmt.Sprintf("/api/queries/%d", q.ID), nil, http.StatusOK, &got)
	if !strings.Contains(string(got.Options), `"type":"text"`) {
		t.Errorf("options after refused updates = %s, want the text parameter unchanged", got.Options)
	}
}

// TestCancelledStatusForRedashClients checks QUERYD_CANCELLED_STATUS=4
// reports a cancelled job as Redash does, so that clients polling until 3
// or 4 stop.
func TestCancelledStatusForRedashClients(t *testing.T) {
	e := startEnvWith(t, false, map[string]string{"QUERYD_CANCELLED_STATUS": "4"})
	a := e.execute("SELECT 1", map[string]any{"max_age": 0})
	e.do("DELETE", "/api/jobs/"+a.Job.ID, nil, http.StatusOK, nil)
	var got struct{ Job jobBody }
	e.do("GET", "/api/jobs/"+a.Job.ID, nil, http.StatusOK, &got)
	if got.Job.Status != 4 || got.Job.Error != "Query cancelled by user." {
		t.Errorf("cancelled job = %+v, want status 4 with Redash's message", got.Job)
	}
	for _, v := range []string{"3", "6", "x"} {
		env := map[string]string{"QUERYD_DATABASE_URL": "postgres://queryd@127.0.0.1/queryd",
			"QUERYD_SECRET_KEY": e.cfg.SecretKey, "QUERYD_CANCELLED_STATUS": v}
		if _, err := loadConfig(env); err == nil || !strings.Contains(err.Error(), "CANCELLED_STATUS") {
			t.Errorf("loadConfig(QUERYD_CANCELLED_STATUS=%s) error = %v, want one naming it", v, err)
		}
	}
}
