package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/queryd/queryd/store/storetest"
)

// auditEntryBody is an entry of GET /api/audit_logs.
type auditEntryBody struct {
	ID    int64  `json:"id"`
	At    string `json:"at"`
	Actor struct {
		Kind     string `json:"kind"`
		UserID   *int64 `json:"user_id"`
		ObjectID *int64 `json:"object_id"`
	} `json:"actor"`
	Action       string          `json:"action"`
	ObjectType   string          `json:"object_type"`
	ObjectID     string          `json:"object_id"`
	DataSourceID *int64          `json:"data_source_id"`
	QueryHash    string          `json:"query_hash"`
	JobID        string          `json:"job_id"`
	Outcome      string          `json:"outcome"`
	DurationMS   *int64          `json:"duration_ms"`
	Details      json.RawMessage `json:"details"`
	RequestID    string          `json:"request_id"`
}

type auditPage struct {
	Results []auditEntryBody `json:"results"`
	Next    *string          `json:"next"`
}

// auditLog pages through GET /api/audit_logs?<query>&size=<size> following
// "next" to the end, and returns every entry.
func (e *testEnv) auditLog(query string, size int) []auditEntryBody {
	e.t.Helper()
	var all []auditEntryBody
	after := ""
	for pages := 0; ; pages++ {
		if pages > 1000 {
			e.t.Fatalf("GET /api/audit_logs: no end after %d pages", pages)
		}
		path := fmt.Sprintf("/api/audit_logs?size=%d&%s", size, query)
		if after != "" {
			path += "&fetchAfter=" + after
		}
		var p auditPage
		e.do("GET", path, nil, http.StatusOK, &p)
		if len(p.Results) > size || (p.Next != nil && len(p.Results) != size) {
			e.t.Fatalf("GET %s = %d results with next %v, want %d and a next, or at most %d and none", path, len(p.Results), p.Next, size, size)
		}
		all = append(all, p.Results...)
		if p.Next == nil {
			return all
		}
		if len(p.Results) > 0 && *p.Next != strconv.FormatInt(p.Results[len(p.Results)-1].ID, 10) {
			e.t.Errorf("GET %s: next = %s, want the last id %d", path, *p.Next, p.Results[len(p.Results)-1].ID)
		}
		after = *p.Next
	}
}

// find returns the entries for which match holds.
func find(entries []auditEntryBody, match func(auditEntryBody) bool) []auditEntryBody {
	var out []auditEntryBody
	for _, en := range entries {
		if match(en) {
			out = append(out, en)
		}
	}
	return out
}

func TestAuditLog(t *testing.T) {
	e := startEnv(t, true)
	ctx := context.Background()
	admin, err := e.store.UserByAPIKey(ctx, e.key)
	if err != nil {
		t.Fatal(err)
	}
	member, memberKey, err := e.store.CreateUser(ctx, "member@example.com", "", false)
	if err != nil {
		t.Fatal(err)
	}

	// Changes: a data source created and updated, both times with a
	// password that must never reach the log.
	secrets := []string{uniqueName("pw_first"), uniqueName("pw_second")}
	opts := pgOptions(t)
	opts["password"] = secrets[0]
	dsID := e.createDataSource(uniqueName("audited"), opts)
	opts["password"] = secrets[1]
	e.do("POST", fmt.Sprintf("/api/data_sources/%d", dsID), map[string]any{"options": opts}, http.StatusOK, nil)

	// A query created, updated, and run to success by its own API key.
	var q struct {
		ID        int64  `json:"id"`
		QueryHash string `json:"query_hash"`
	}
	e.do("POST", "/api/queries", map[string]any{"name": "audited", "query": "SELECT 42 AS answer", "data_source_id": e.dsID}, http.StatusOK, &q)
	e.do("POST", fmt.Sprintf("/api/queries/%d", q.ID), map[string]any{"name": "renamed"}, http.StatusOK, nil)
	saved, err := e.store.Query(ctx, q.ID)
	if err != nil {
		t.Fatal(err)
	}
	var ran executeAnswer
	status, body := e.requestWithKey("POST", fmt.Sprintf("/api/queries/%d/results", q.ID), map[string]any{"max_age": 0}, saved.APIKey)
	if status != http.StatusOK || json.Unmarshal(body, &ran) != nil || ran.Job == nil {
		t.Fatalf("POST /api/queries/%d/results with its key = %d %s, want 200 with a job", q.ID, status, body)
	}
	succeeded := e.pollJob(ran.Job.ID)
	if succeeded.Status != 3 {
		t.Fatalf("saved query's job = %+v, want status 3", succeeded)
	}

	// One run to failure, one cancelled while running.
	failed := e.pollJob(e.execute("SELECT 1/0 AS "+uniqueName("boom"), map[string]any{"max_age": 0}).Job.ID)
	if failed.Status != 4 {
		t.Fatalf("SELECT 1/0 job = %+v, want status 4", failed)
	}
	marker := uniqueName("audit_cancel")
	cancel := e.execute(fmt.Sprintf("SELECT pg_sleep(60) AS %s", marker), map[string]any{"max_age": 0})
	for deadline := time.Now().Add(10 * time.Second); !running(t, marker); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the statement to cancel never showed up in pg_stat_activity")
		}
	}
	e.do("DELETE", "/api/jobs/"+cancel.Job.ID, nil, http.StatusOK, nil)
	if j := e.pollJob(cancel.Job.ID); j.Status != 5 {
		t.Fatalf("cancelled job = %+v, want status 5", j)
	}

	// Refused attempts: a member creating a data source, the query's key
	// editing its query.
	if status, body := e.requestWithKey("POST", "/api/data_sources", `{}`, memberKey); status != http.StatusForbidden {
		t.Fatalf("member POST /api/data_sources = %d %s, want 403", status, body)
	}
	if status, body := e.requestWithKey("POST", fmt.Sprintf("/api/queries/%d", q.ID), `{"name":"x"}`, saved.APIKey); status != http.StatusForbidden {
		t.Fatalf("query key POST /api/queries/%d = %d %s, want 403", q.ID, status, body)
	}

	// A change through the CLI.
	var stdout, stderr bytes.Buffer
	environ := map[string]string{
		"QUERYD_DATABASE_URL": e.cfg.DatabaseURL, "QUERYD_REDIS_URL": e.redisURL,
		"QUERYD_RESULTS_URL": e.cfg.ResultsURL, "QUERYD_SECRET_KEY": storetest.SecretKey,
	}
	if err := run(ctx, []string{"users", "create", "--email", "cli@example.com"}, environ, &stdout, &stderr); err != nil {
		t.Fatalf("queryd users create: %v\n%s", err, stderr.String())
	}
	printed := strings.Fields(stdout.String())
	if len(printed) == 0 {
		t.Fatalf("queryd users create printed nothing")
	}
	cliUser, err := e.store.UserByAPIKey(ctx, printed[len(printed)-1])
	if err != nil {
		t.Fatalf("the key queryd users create printed: %v\n%s", err, stdout.String())
	}
	cliOpts := pgOptions(t)
	secrets = append(secrets, uniqueName("pw_cli"))
	cliOpts["password"] = secrets[2]
	optsJSON, _ := json.Marshal(cliOpts)
	stdout.Reset()
	if err := run(ctx, []string{"datasources", "create", "--name", "cli-ds", "--type", "pg", "--options", string(optsJSON)}, environ, &stdout, &stderr); err != nil {
		t.Fatalf("queryd datasources create: %v\n%s", err, stderr.String())
	}
	printed = strings.Fields(stdout.String())
	cliDS := printed[len(printed)-1]

	entries := e.auditLog("", 2)
	dump := func() string {
		b, _ := json.MarshalIndent(entries, "", "  ")
		return string(b)
	}
	one := func(what string, match func(auditEntryBody) bool) auditEntryBody {
		t.Helper()
		found := find(entries, match)
		if len(found) != 1 {
			t.Fatalf("audit log: %d entries for %s, want 1; the log:\n%s", len(found), what, dump())
		}
		return found[0]
	}
	byUser := func(id int64) func(auditEntryBody) bool {
		return func(en auditEntryBody) bool {
			return en.Actor.Kind == "user" && en.Actor.UserID != nil && *en.Actor.UserID == id && en.Actor.ObjectID == nil
		}
	}
	isAdmin, isMember := byUser(admin.ID), byUser(member.ID)
	change := func(action, objectType, objectID, outcome string, actor func(auditEntryBody) bool) func(auditEntryBody) bool {
		return func(en auditEntryBody) bool {
			return en.Action == action && en.ObjectType == objectType && en.ObjectID == objectID &&
				en.Outcome == outcome && actor(en) && en.RequestID != ""
		}
	}
	ds, qid := strconv.FormatInt(dsID, 10), strconv.FormatInt(q.ID, 10)
	one("the data source's creation", change("POST /api/data_sources", "data_source", ds, "200", isAdmin))
	one("the data source's update", change("POST /api/data_sources/:id", "data_source", ds, "200", isAdmin))
	one("the query's creation", change("POST /api/queries", "query", qid, "200", isAdmin))
	one("the query's update", change("POST /api/queries/:id", "query", qid, "200", isAdmin))
	one("the cancel", change("DELETE /api/jobs/:id", "job", cancel.Job.ID, "200", isAdmin))
	one("the member's refused creation", change("POST /api/data_sources", "data_source", "", "403", isMember))
	one("the key's refused edit", change("POST /api/queries/:id", "query", qid, "403", func(en auditEntryBody) bool {
		return en.Actor.Kind == "query_key" && en.Actor.ObjectID != nil && *en.Actor.ObjectID == q.ID && en.Actor.UserID == nil
	}))
	cli := one("the CLI's user", func(en auditEntryBody) bool {
		return en.Action == "queryd users create" && en.Actor.Kind == "cli" && en.Actor.UserID == nil
	})
	if cli.ObjectType != "user" || cli.ObjectID != strconv.FormatInt(cliUser.ID, 10) || cli.Outcome != "succeeded" {
		t.Errorf("CLI entry = %+v, want user %d succeeded", cli, cliUser.ID)
	}
	cliDSEntry := one("the CLI's data source", func(en auditEntryBody) bool {
		return en.Action == "queryd datasources create" && en.Actor.Kind == "cli"
	})
	if cliDSEntry.ObjectType != "data_source" || cliDSEntry.ObjectID != cliDS || cliDSEntry.Outcome != "succeeded" {
		t.Errorf("CLI data source entry = %+v, want data source %s succeeded", cliDSEntry, cliDS)
	}
	if n := len(find(entries, func(en auditEntryBody) bool {
		return en.Action == "POST /api/query_results" || en.Action == "POST /api/queries/:id/results"
	})); n != 0 {
		t.Errorf("audit log has %d entries for execution requests, want 0 (executions are recorded at the job's end)", n)
	}

	// Executions, at their job's end.
	execution := func(job jobBody, outcome string) auditEntryBody {
		t.Helper()
		en := one("job "+job.ID, func(en auditEntryBody) bool { return en.Action == "execute" && en.JobID == job.ID })
		if !strings.HasPrefix(en.Outcome, outcome) || !isAdmin(en) || en.DataSourceID == nil || *en.DataSourceID != e.dsID ||
			en.QueryHash == "" || en.DurationMS == nil || *en.DurationMS < 0 {
			t.Errorf("execution of job %s = %+v, want outcome %q by user %d on data source %d with a hash and a duration",
				job.ID, en, outcome, admin.ID, e.dsID)
		}
		return en
	}
	en := execution(succeeded, "succeeded")
	var details struct {
		QueryID int64 `json:"query_id"`
	}
	if err := json.Unmarshal(en.Details, &details); err != nil || en.QueryHash != q.QueryHash || details.QueryID != q.ID {
		t.Errorf("saved query's execution = hash %q details %s, want %q with query_id %d", en.QueryHash, en.Details, q.QueryHash, q.ID)
	}
	execution(failed, "failed: division by zero")
	if en := execution(jobBody{ID: cancel.Job.ID}, "cancelled"); en.Outcome != "cancelled" {
		t.Errorf("cancelled execution outcome = %q, want cancelled", en.Outcome)
	}

	// Pages of any size list the same entries.
	if all := e.auditLog("", 1000); len(all) != len(entries) {
		t.Errorf("audit log by 1000 = %d entries, by 2 = %d, want the same", len(all), len(entries))
	}

	// The window.
	today := time.Now().UTC()
	day := func(d int) string { return today.AddDate(0, 0, d).Format(time.DateOnly) }
	if got := e.auditLog("fromDate="+day(-1)+"&toDate="+day(0), 1000); len(got) != len(entries) {
		t.Errorf("audit log from yesterday through today = %d entries, want %d", len(got), len(entries))
	}
	if got := e.auditLog("fromDate="+day(1), 1000); len(got) != 0 {
		t.Errorf("audit log from tomorrow = %d entries, want 0", len(got))
	}
	if got := e.auditLog("toDate="+day(-1), 1000); len(got) != 0 {
		t.Errorf("audit log through yesterday = %d entries, want 0", len(got))
	}

	// No secret anywhere in the table.
	keys := []string{e.key, memberKey, saved.APIKey}
	for _, s := range append(secrets, keys...) {
		var n int
		if err := e.store.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_log a WHERE a::text LIKE '%' || $1 || '%'`, s).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%d audit_log rows contain a password or key", n)
		}
	}
}

func TestAuditLogAccess(t *testing.T) {
	e := startEnv(t, false)
	_, memberKey, err := e.store.CreateUser(context.Background(), "member@example.com", "", false)
	if err != nil {
		t.Fatal(err)
	}
	if status, body := e.requestWithKey("GET", "/api/audit_logs", nil, memberKey); status != http.StatusForbidden {
		t.Errorf("member GET /api/audit_logs = %d %s, want 403", status, body)
	}
	for _, tc := range []struct{ query, want string }{
		{"size=0", "size must be a whole number from 1 to 1000"},
		{"size=1001", "size must be a whole number from 1 to 1000"},
		{"fromDate=yesterday", "fromDate must be a date (YYYY-MM-DD) or an RFC 3339 time"},
		{"toDate=2024-05-01T25:00:00Z", "toDate must be a date (YYYY-MM-DD) or an RFC 3339 time"},
		{"fetchAfter=x", `fetchAfter must be the \"next\" cursor`},
	} {
		status, body := e.request("GET", "/api/audit_logs?"+tc.query, nil)
		if status != http.StatusBadRequest || !strings.Contains(string(body), tc.want) {
			t.Errorf("GET /api/audit_logs?%s = %d %s, want 400 with %q", tc.query, status, body, tc.want)
		}
	}
}

func TestAuditFailureDoesNotFailRequest(t *testing.T) {
	e := startEnv(t, false)
	ctx := context.Background()
	// The log refuses query creations from now on.
	if _, err := e.store.Pool().Exec(ctx, `ALTER TABLE audit_log ADD CONSTRAINT refuse CHECK (action <> 'POST /api/queries')`); err != nil {
		t.Fatal(err)
	}
	var q struct{ ID int64 }
	e.do("POST", "/api/queries", map[string]any{"query": "SELECT 1", "data_source_id": e.dsID}, http.StatusOK, &q)
	if _, err := e.store.Query(ctx, q.ID); err != nil {
		t.Errorf("Query(%d) after its creation's audit failed: %v, want it saved", q.ID, err)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, `"level":"ERROR","msg":"record audit entry"`) || !strings.Contains(logs, `"action":"POST /api/queries"`) {
		t.Errorf("logs lack an error line for the failed audit entry:\n%s", logs)
	}
}
