package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/queryd/queryd/api"
)

// roles are who calls each route in the permission matrix, in the order of
// permRow.want's columns.
var roles = []string{
	"anonymous",
	"member without a group for the data source",
	"view-only member",
	"full member",
	"admin",
	"the query's own key",
	"another query's key",
	"a dashboard key",
}

// permRow is one route called as every role. Paths and bodies name fixture
// objects as {placeholders}; {fresh_*} ones are made anew for each call, so
// that a call that deletes or changes one does not disturb the next.
type permRow struct {
	route string // "METHOD /pattern" as api.Server.Routes lists it
	path  string
	body  string // JSON, or "" for none
	want  string // one status per role
}

// permissionMatrix is every route × every role. The fixture: data source
// {ds}, which the builtin group is not granted; group {gview} grants it
// view-only and another group in full. {q} is a safe query of the full
// member with result {r} made by job {j}; {qtext} has a text parameter; {q2}
// is another safe query, whose key is "another query's key". Dashboard
// {dash} of the full member shows {q} (visualization {viz}, widget {widget})
// and {qtext}; its key is "a dashboard key". A new route fails TestPermissionMatrixCoversRoutes
// until it has a row here.
var permissionMatrix = []permRow{
	//                                                                       anon nog view full admin qkey okey dkey
	{"GET /healthz", "/healthz", "", "200 200 200 200 200 200 200 200"},
	{"GET /readyz", "/readyz", "", "200 200 200 200 200 200 200 200"},
	{"GET /api/session", "/api/session", "", "401 200 200 200 200 200 200 200"},

	{"POST /api/query_results", "/api/query_results", `{"data_source_id": {ds}, "query": "SELECT 1"}`, "401 404 403 200 200 403 403 403"},
	{"GET /api/query_results/:id", "/api/query_results/{r}", "", "401 404 200 200 200 403 403 403"},
	{"GET /api/jobs/:id", "/api/jobs/{j}", "", "401 404 200 200 200 403 403 403"},
	{"DELETE /api/jobs/:id", "/api/jobs/{j}", "", "401 404 403 200 200 403 403 403"},

	{"GET /api/queries", "/api/queries", "", "401 200 200 200 200 403 403 403"},
	{"POST /api/queries", "/api/queries", `{"name": "n", "query": "SELECT 2", "data_source_id": {ds}}`, "401 404 403 200 200 403 403 403"},
	{"GET /api/queries/:id", "/api/queries/{q}", "", "401 404 200 200 200 200 404 200"},
	{"POST /api/queries/:id", "/api/queries/{q}", `{"name": "q"}`, "401 404 403 200 200 403 403 403"},
	{"DELETE /api/queries/:id", "/api/queries/{fresh_query}", "", "401 404 403 200 200 403 403 403"},
	{"POST /api/queries/:id/fork", "/api/queries/{q}/fork", "", "401 404 403 200 200 403 403 403"},
	{"POST /api/queries/:id/regenerate_api_key", "/api/queries/{fresh_query}/regenerate_api_key", "", "401 404 403 200 200 403 403 403"},
	{"POST /api/queries/:id/refresh", "/api/queries/{q}/refresh", "", "401 404 200 200 200 403 403 403"},
	{"POST /api/queries/:id/results", "/api/queries/{q}/results", `{}`, "401 404 200 200 200 200 404 200"},
	{"POST /api/queries/:id/results", "/api/queries/{qtext}/results", `{"parameters": {"t": "x"}}`, "401 404 403 200 200 404 404 403"},
	{"GET /api/queries/:id/results", "/api/queries/{q}/results", "", "401 404 200 200 200 200 404 200"},
	{"GET /api/queries/:id/results.csv", "/api/queries/{q}/results.csv", "", "401 404 200 200 200 200 404 200"},
	{"GET /api/queries/:id/results.json", "/api/queries/{q}/results.json", "", "401 404 200 200 200 200 404 200"},
	{"GET /api/queries/:id/results/:rid", "/api/queries/{q}/results/{r}.json", "", "401 404 200 200 200 200 404 200"},
	// A key never reads another text's result through its own query.
	{"GET /api/queries/:id/results/:rid", "/api/queries/{q2}/results/{r}.json", "", "401 404 200 200 200 404 404 404"},
	{"GET /api/queries/:id/jobs/:jid", "/api/queries/{q}/jobs/{j}", "", "401 404 200 200 200 200 404 200"},

	{"GET /api/dashboards", "/api/dashboards", "", "401 200 200 200 200 403 403 403"},
	{"POST /api/dashboards", "/api/dashboards", `{"name": "{uniq}"}`, "401 200 200 200 200 403 403 403"},
	{"GET /api/dashboards/:id", "/api/dashboards/{dash}", "", "401 200 200 200 200 404 404 200"},
	{"POST /api/dashboards/:id", "/api/dashboards/{dash}", `{"name": "perm"}`, "401 403 403 200 200 403 403 403"},
	{"DELETE /api/dashboards/:id", "/api/dashboards/{fresh_dash}", "", "401 403 403 200 200 403 403 403"},
	{"POST /api/dashboards/:id/share", "/api/dashboards/{fresh_dash}/share", "", "401 403 403 200 200 403 403 403"},
	{"DELETE /api/dashboards/:id/share", "/api/dashboards/{fresh_dash}/share", "", "401 403 403 204 204 403 403 403"},
	{"POST /api/dashboards/:id/refresh", "/api/dashboards/{dash}/refresh", "", "401 200 200 200 200 403 403 403"},
	{"POST /api/visualizations", "/api/visualizations", `{"query_id": {q}, "type": "TABLE"}`, "401 404 403 200 200 403 403 403"},
	{"POST /api/visualizations/:id", "/api/visualizations/{viz}", `{"name": "v"}`, "401 404 403 200 200 403 403 403"},
	{"DELETE /api/visualizations/:id", "/api/visualizations/{fresh_viz}", "", "401 404 403 204 204 403 403 403"},
	{"POST /api/widgets", "/api/widgets", `{"dashboard_id": {dash}, "text": "hi"}`, "401 403 403 200 200 403 403 403"},
	{"POST /api/widgets/:id", "/api/widgets/{widget}", `{"width": 2}`, "401 403 403 200 200 403 403 403"},
	{"DELETE /api/widgets/:id", "/api/widgets/{fresh_widget}", "", "401 403 403 204 204 403 403 403"},

	{"GET /api/data_sources", "/api/data_sources", "", "401 200 200 200 200 403 403 403"},
	{"GET /api/data_sources/types", "/api/data_sources/types", "", "401 200 200 200 200 403 403 403"},
	{"POST /api/data_sources", "/api/data_sources", `{"name": "{uniq}", "type": "pg", "options": {pgopts}}`, "401 403 403 403 200 403 403 403"},
	{"GET /api/data_sources/:id", "/api/data_sources/{ds}", "", "401 404 200 200 200 403 403 403"},
	{"POST /api/data_sources/:id", "/api/data_sources/{ds}", `{}`, "401 403 403 403 200 403 403 403"},
	{"DELETE /api/data_sources/:id", "/api/data_sources/{fresh_ds}", "", "401 403 403 403 204 403 403 403"},
	{"POST /api/data_sources/:id/test", "/api/data_sources/{ds}/test", "", "401 403 403 403 200 403 403 403"},

	{"GET /api/users", "/api/users", "", "401 200 200 200 200 403 403 403"},
	{"POST /api/users", "/api/users", `{"email": "{uniq}@example.com"}`, "401 403 403 403 200 403 403 403"},
	{"GET /api/users/:id", "/api/users/{nogroup_user}", "", "401 200 200 200 200 403 403 403"},
	{"POST /api/users/:id", "/api/users/{full_user}", `{"name": "Full Member"}`, "401 403 403 200 200 403 403 403"},
	{"POST /api/users/:id/disable", "/api/users/{fresh_user}/disable", "", "401 403 403 403 200 403 403 403"},
	{"DELETE /api/users/:id/disable", "/api/users/{fresh_user}/disable", "", "401 403 403 403 200 403 403 403"},
	{"POST /api/users/:id/regenerate_api_key", "/api/users/{fresh_user}/regenerate_api_key", "", "401 403 403 403 200 403 403 403"},

	{"GET /api/audit_logs", "/api/audit_logs", "", "401 403 403 403 200 403 403 403"},

	{"GET /api/groups", "/api/groups", "", "401 200 200 200 200 403 403 403"},
	{"POST /api/groups", "/api/groups", `{"name": "{uniq}"}`, "401 403 403 403 200 403 403 403"},
	{"GET /api/groups/:id", "/api/groups/{gview}", "", "401 404 200 404 200 403 403 403"},
	{"POST /api/groups/:id", "/api/groups/{fresh_group}", `{"name": "{uniq}"}`, "401 403 403 403 200 403 403 403"},
	{"DELETE /api/groups/:id", "/api/groups/{fresh_group}", "", "401 403 403 403 204 403 403 403"},
	{"POST /api/groups/:id/members", "/api/groups/{fresh_group}/members", `{"user_id": {full_user}}`, "401 403 403 403 200 403 403 403"},
	{"DELETE /api/groups/:id/members/:user_id", "/api/groups/{fresh_group}/members/{nogroup_user}", "", "401 403 403 403 204 403 403 403"},
	{"POST /api/groups/:id/data_sources", "/api/groups/{fresh_group}/data_sources", `{"data_source_id": {ds2}, "view_only": true}`, "401 403 403 403 200 403 403 403"},
	{"POST /api/groups/:id/data_sources/:data_source_id", "/api/groups/{fresh_group}/data_sources/{ds2}", `{"view_only": false}`, "401 403 403 403 200 403 403 403"},
	{"DELETE /api/groups/:id/data_sources/:data_source_id", "/api/groups/{fresh_group}/data_sources/{ds2}", "", "401 403 403 403 204 403 403 403"},
}

// TestPermissionMatrixCoversRoutes fails for a route served without a row
// in permissionMatrix, and for a row naming a route not served.
func TestPermissionMatrixCoversRoutes(t *testing.T) {
	srv := api.New(api.Config{BodyLimit: 1 << 20}, nil, nil, nil, nil, nil, slog.New(slog.DiscardHandler))
	covered := map[string]bool{}
	for _, r := range permissionMatrix {
		covered[r.route] = true
	}
	served := map[string]bool{}
	for _, r := range srv.Routes() {
		served[r] = true
		if !covered[r] {
			t.Errorf("route %s has no row in permissionMatrix: say what every role gets", r)
		}
	}
	for r := range covered {
		if !served[r] {
			t.Errorf("permissionMatrix has a row for %s, which is not served", r)
		}
	}
}

// permFixture holds the objects and keys the matrix's placeholders name.
type permFixture struct {
	e    *testEnv
	keys []string // per role; "" sends no key
	vars map[string]string
	seq  int
}

func newPermFixture(t *testing.T) *permFixture {
	e := startEnv(t, true)
	ctx := context.Background()
	f := &permFixture{e: e, vars: map[string]string{}}
	st := e.store

	// Take the data source from the builtin group; grant it per group.
	if err := st.RevokeDataSource(ctx, e.builtinGroupID(t), e.dsID); err != nil {
		t.Fatal(err)
	}
	ds2 := e.createDataSource(uniqueName("perm-ds2"), pgOptions(t))
	view, err := st.CreateGroup(ctx, "viewers")
	if err != nil {
		t.Fatal(err)
	}
	full, err := st.CreateGroup(ctx, "editors")
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []struct {
		id       int64
		viewOnly bool
	}{{view.ID, true}, {full.ID, false}} {
		if err := st.GrantDataSource(ctx, g.id, e.dsID, g.viewOnly); err != nil {
			t.Fatal(err)
		}
	}
	nogroupID, nogroupKey := e.createUser(t, "nogroup@example.com", false)
	viewerID, viewerKey := e.createUser(t, "viewer@example.com", false)
	fullID, fullKey := e.createUser(t, "full@example.com", false)
	for _, m := range [][2]int64{{view.ID, viewerID}, {full.ID, fullID}} {
		if err := st.AddGroupMember(ctx, m[0], m[1]); err != nil {
			t.Fatal(err)
		}
	}

	q := f.createQuery(t, fullKey, "SELECT 1 AS n", "")
	qtext := f.createQuery(t, fullKey, "SELECT '{{ t }}' AS t", `[{"name": "t", "type": "text", "value": "a"}]`)
	q2 := f.createQuery(t, fullKey, "SELECT 2 AS n", "")
	var run executeAnswer
	if status, b := e.requestWithKey("POST", fmt.Sprintf("/api/queries/%d/results", q), `{"max_age": 0}`, fullKey); status != http.StatusOK || json.Unmarshal(b, &run) != nil || run.Job == nil {
		t.Fatalf("run query %d = %d %s, want a job", q, status, b)
	}
	done := e.pollJob(run.Job.ID)
	if done.Status != 3 {
		t.Fatalf("job %s = %+v, want status 3", run.Job.ID, done)
	}

	// A dashboard of the full member's showing {q} and {qtext}, shared.
	dash := f.post(t, fullKey, "/api/dashboards", map[string]any{"name": "perm"})
	viz := f.post(t, fullKey, "/api/visualizations", map[string]any{"query_id": q, "type": "TABLE"})
	vizText := f.post(t, fullKey, "/api/visualizations", map[string]any{"query_id": qtext, "type": "TABLE"})
	widget := f.post(t, fullKey, "/api/widgets", map[string]any{"dashboard_id": dash, "visualization_id": viz})
	f.post(t, fullKey, "/api/widgets", map[string]any{"dashboard_id": dash, "visualization_id": vizText})
	var share struct {
		APIKey string `json:"api_key"`
	}
	if status, b := e.requestWithKey("POST", fmt.Sprintf("/api/dashboards/%d/share", dash), nil, fullKey); status != http.StatusOK || json.Unmarshal(b, &share) != nil || share.APIKey == "" {
		t.Fatalf("share dashboard %d = %d %s", dash, status, b)
	}

	f.keys = []string{"", nogroupKey, viewerKey, fullKey, e.key, f.queryKey(t, q), f.queryKey(t, q2), share.APIKey}
	for k, v := range map[string]int64{
		"ds": e.dsID, "ds2": ds2, "q": q, "qtext": qtext, "q2": q2, "r": *done.QueryResultID,
		"gview": view.ID, "nogroup_user": nogroupID, "full_user": fullID, "dash": dash, "viz": viz, "widget": widget,
	} {
		f.vars[k] = strconv.FormatInt(v, 10)
	}
	f.vars["j"] = run.Job.ID
	opts, _ := json.Marshal(pgOptions(t))
	f.vars["pgopts"] = string(opts)
	return f
}

// createQuery saves text (with parameters, a JSON array, if not "") as the
// owner of key and returns its id.
func (f *permFixture) createQuery(t *testing.T, key, text, parameters string) int64 {
	t.Helper()
	body := map[string]any{"name": text, "query": text, "data_source_id": f.e.dsID}
	if parameters != "" {
		body["options"] = map[string]json.RawMessage{"parameters": json.RawMessage(parameters)}
	}
	status, b := f.e.requestWithKey("POST", "/api/queries", body, key)
	var q struct{ ID int64 }
	if status != http.StatusOK || json.Unmarshal(b, &q) != nil {
		t.Fatalf("create query %q = %d %s", text, status, b)
	}
	return q.ID
}

// post creates an object with key and returns its id.
func (f *permFixture) post(t *testing.T, key, path string, body map[string]any) int64 {
	t.Helper()
	status, b := f.e.requestWithKey("POST", path, body, key)
	var obj struct{ ID int64 }
	if status != http.StatusOK || json.Unmarshal(b, &obj) != nil || obj.ID == 0 {
		t.Fatalf("POST %s %v = %d %s", path, body, status, b)
	}
	return obj.ID
}

func (f *permFixture) queryKey(t *testing.T, id int64) string {
	t.Helper()
	q, err := f.e.store.Query(context.Background(), id)
	if err != nil || q.APIKey == "" {
		t.Fatalf("Query(%d) = key %q, %v", id, q.APIKey, err)
	}
	return q.APIKey
}

var placeholder = regexp.MustCompile(`\{([a-z0-9_]+)\}`)

// resolve replaces the placeholders of s; fresh objects are made once per
// call, shared between a request's path and body through made.
func (f *permFixture) resolve(t *testing.T, s string, made map[string]string) string {
	t.Helper()
	return placeholder.ReplaceAllStringFunc(s, func(m string) string {
		name := m[1 : len(m)-1]
		if v, ok := f.vars[name]; ok {
			return v
		}
		if v, ok := made[name]; ok {
			return v
		}
		v := f.fresh(t, name)
		made[name] = v
		return v
	})
}

// fresh makes a new object of the kind name says and returns its id.
func (f *permFixture) fresh(t *testing.T, name string) string {
	t.Helper()
	ctx := context.Background()
	f.seq++
	st := f.e.store
	switch name {
	case "uniq":
		return fmt.Sprintf("perm-%d", f.seq)
	case "fresh_query":
		return strconv.FormatInt(f.createQuery(t, f.keys[3], fmt.Sprintf("SELECT %d", f.seq), ""), 10)
	case "fresh_dash":
		return strconv.FormatInt(f.post(t, f.keys[3], "/api/dashboards", map[string]any{"name": fmt.Sprintf("fresh %d", f.seq)}), 10)
	case "fresh_viz":
		return strconv.FormatInt(f.post(t, f.keys[3], "/api/visualizations", map[string]any{"query_id": mustAtoi(t, f.vars["q"]), "type": "TABLE"}), 10)
	case "fresh_widget":
		return strconv.FormatInt(f.post(t, f.keys[3], "/api/widgets", map[string]any{"dashboard_id": mustAtoi(t, f.vars["dash"]), "text": "fresh"}), 10)
	case "fresh_ds":
		return strconv.FormatInt(f.e.createDataSource(fmt.Sprintf("perm-fresh-%d", f.seq), pgOptions(t)), 10)
	case "fresh_user":
		id, _ := f.e.createUser(t, fmt.Sprintf("fresh-%d@example.com", f.seq), false)
		return strconv.FormatInt(id, 10)
	case "fresh_group":
		// A group with the no-group member in it, granted the second data
		// source, so that its members and grants can be removed.
		g, err := st.CreateGroup(ctx, fmt.Sprintf("fresh-%d", f.seq))
		if err == nil {
			err = st.AddGroupMember(ctx, g.ID, mustAtoi(t, f.vars["nogroup_user"]))
		}
		if err == nil {
			err = st.GrantDataSource(ctx, g.ID, mustAtoi(t, f.vars["ds2"]), true)
		}
		if err != nil {
			t.Fatalf("fresh group: %v", err)
		}
		return strconv.FormatInt(g.ID, 10)
	}
	t.Fatalf("unknown placeholder {%s}", name)
	return ""
}

func mustAtoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPermissionMatrix(t *testing.T) {
	f := newPermFixture(t)
	for _, row := range permissionMatrix {
		want := strings.Fields(row.want)
		if len(want) != len(roles) {
			t.Fatalf("row %s %s has %d statuses, want %d", row.route, row.path, len(want), len(roles))
		}
		method, _, _ := strings.Cut(row.route, " ")
		for i, role := range roles {
			made := map[string]string{}
			path := f.resolve(t, row.path, made)
			var body any
			if row.body != "" {
				body = f.resolve(t, row.body, made)
			}
			status, b := f.e.requestWithKey(method, path, body, f.keys[i])
			if got := strconv.Itoa(status); got != want[i] {
				t.Errorf("%s %s as %s = %s %.200s, want %s", method, path, role, got, b, want[i])
			}
		}
	}
}

// TestBadBodiesAre4xx sends malformed and mistyped bodies to every route
// that takes one, as the admin, on the matrix's objects: each must answer
// with a 4xx (or succeed, where the body's fields are all optional), never
// a 5xx.
func TestBadBodiesAre4xx(t *testing.T) {
	f := newPermFixture(t)
	bodies := []string{`{`, `[]`, `"x"`, `null`, `{"name": 5, "query": [], "data_source_id": "x", "options": "x",
		"parameters": 3, "schedule": "daily", "refresh_schedule": {"cron": "x"}, "email": 1, "user_id": "x",
		"view_only": "x", "query_id": "x", "dashboard_id": {}, "visualization_id": "x", "width": "x",
		"max_age": "x", "version": "x", "tags": "x", "layout": 1, "type": 7, "text": 1, "is_draft": "x"}`}
	sent := 0
	for _, row := range permissionMatrix {
		method, _, _ := strings.Cut(row.route, " ")
		if method != "POST" {
			continue
		}
		for _, body := range bodies {
			sent++
			path := f.resolve(t, row.path, map[string]string{})
			status, b := f.e.requestWithKey(method, path, body, f.keys[4])
			if status >= 500 {
				t.Errorf("%s %s %s = %d %.200s, want a 4xx", method, path, body, status, b)
			}
		}
	}
	if want := 25 * len(bodies); sent < want {
		t.Errorf("sent %d bad bodies, want at least %d: the matrix lost its POST routes", sent, want)
	}
}
