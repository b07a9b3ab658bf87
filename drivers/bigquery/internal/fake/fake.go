// Package fake is a small in-process stand-in for the BigQuery REST API (v2),
// for the bigquery driver's tests. The real client library talks to it over
// HTTP on 127.0.0.1: point the client at URL() with option.WithEndpoint and
// option.WithoutAuthentication.
//
// It serves the calls the client makes for queries and schema listing:
//
//	POST /projects/{p}/jobs                   jobs.insert (409 "Already Exists" for a known job id)
//	GET  /projects/{p}/jobs/{job}             jobs.get
//	POST /projects/{p}/jobs/{job}/cancel      jobs.cancel
//	GET  /projects/{p}/queries/{job}          jobs.getQueryResults (long-polls up to timeoutMs, pages rows)
//	GET  /projects/{p}/datasets               datasets.list
//	GET  /projects/{p}/datasets/{d}/tables    tables.list
//	GET  /projects/{p}/datasets/{d}/tables/{t} tables.get
//
// and runs the tiny SQL subset described in sql.go. A job's state follows
// BigQuery's PENDING → RUNNING → DONE, with one liberty: a generated series
// is produced as its pages are fetched, so its job stays RUNNING until its
// last page has been served (or it is cancelled). Running reports what the
// fake's own job states say, which is what the conformance suite observes.
package fake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server is a fake BigQuery API. It is safe for concurrent use.
type Server struct {
	ts *httptest.Server

	mu       sync.Mutex
	jobs     map[string]*job // by project + "/" + job id
	inserts  int             // jobs.insert calls, duplicates and dry runs included
	datasets map[string]map[string][]Field
	scan     int64 // bytes a dry run reports
}

// Field is a column of a fake table, in the REST API's TableFieldSchema terms.
type Field struct {
	Name   string  `json:"name"`
	Type   string  `json:"type"`           // INTEGER, STRING, RECORD, NUMERIC…
	Mode   string  `json:"mode,omitempty"` // NULLABLE, REQUIRED, REPEATED
	Fields []Field `json:"fields,omitempty"`
	// Precision, Scale and MaxLength are parameterised types' parameters.
	Precision int64 `json:"precision,omitempty,string"`
	Scale     int64 `json:"scale,omitempty,string"`
	MaxLength int64 `json:"maxLength,omitempty,string"`
}

// Job is what the fake knows of one job, for tests.
type Job struct {
	Project, ID, Location, SQL string
	State                      string          // PENDING, RUNNING or DONE
	Error                      string          // the errorResult's reason, if any
	Config                     json.RawMessage // the configuration as inserted
}

// New starts a fake on 127.0.0.1; Close stops it.
func New() *Server {
	s := &Server{jobs: make(map[string]*job), datasets: make(map[string]map[string][]Field)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /projects/{project}/jobs", s.insertJob)
	mux.HandleFunc("GET /projects/{project}/jobs/{job}", s.getJob)
	mux.HandleFunc("POST /projects/{project}/jobs/{job}/cancel", s.cancelJob)
	mux.HandleFunc("GET /projects/{project}/queries/{job}", s.getQueryResults)
	mux.HandleFunc("GET /projects/{project}/datasets", s.listDatasets)
	mux.HandleFunc("GET /projects/{project}/datasets/{dataset}/tables", s.listTables)
	mux.HandleFunc("GET /projects/{project}/datasets/{dataset}/tables/{table}", s.getTable)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "notFound", fmt.Sprintf("fake: no such method: %s %s", r.Method, r.URL.Path))
	})
	s.ts = httptest.NewServer(mux)
	return s
}

// URL is the endpoint to give the client (option.WithEndpoint).
func (s *Server) URL() string { return s.ts.URL }

// Close stops the server and every job's timers.
func (s *Server) Close() {
	s.ts.CloseClientConnections()
	s.ts.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range s.jobs {
		j.stopTimers()
	}
}

// AddTable adds (or replaces) a table in dataset, listed by datasets.list,
// tables.list and tables.get in every project.
func (s *Server) AddTable(dataset, table string, fields []Field) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.datasets[dataset] == nil {
		s.datasets[dataset] = make(map[string][]Field)
	}
	s.datasets[dataset][table] = fields
}

// SetScanBytes sets the totalBytesProcessed every dry run reports.
func (s *Server) SetScanBytes(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scan = n
}

// Running reports whether a job whose SQL contains marker is not DONE.
func (s *Server) Running(marker string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range s.jobs {
		if j.state != stateDone && strings.Contains(j.sql, marker) {
			return true
		}
	}
	return false
}

// Jobs lists the jobs inserted so far, sorted by id.
func (s *Server) Jobs() []Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Job, 0, len(s.jobs))
	for _, j := range s.jobs {
		info := Job{Project: j.project, ID: j.id, Location: j.location, SQL: j.sql, State: j.state, Config: j.config}
		if j.err != nil {
			info.Error = j.err.Reason
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b Job) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Inserts counts jobs.insert calls, duplicates and dry runs included.
func (s *Server) Inserts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inserts
}

// Job states, as the API spells them.
const (
	statePending = "PENDING"
	stateRunning = "RUNNING"
	stateDone    = "DONE"
)

// errorProto is the API's ErrorProto.
type errorProto struct {
	Reason   string `json:"reason"`
	Location string `json:"location,omitempty"`
	Message  string `json:"message"`
}

// job is one inserted query job. Its fields are guarded by Server.mu.
type job struct {
	project, id, location, sql string
	config                     json.RawMessage
	created, started, ended    time.Time
	state                      string
	err                        *errorProto
	res                        *result       // nil until the result is ready
	ready                      chan struct{} // closed once res or err is set
	timers                     []*time.Timer
}

func (j *job) stopTimers() {
	for _, t := range j.timers {
		t.Stop()
	}
}

// finish ends j with res or err; callers hold Server.mu. It does nothing
// when j has ended already.
func (j *job) finish(res *result, err *errorProto) {
	if j.state == stateDone {
		return
	}
	j.state, j.ended = stateDone, time.Now()
	j.stopTimers()
	if err != nil {
		j.err, j.res = err, nil
	} else if j.res == nil {
		j.res = res
	}
	select {
	case <-j.ready:
	default:
		close(j.ready)
	}
}

// publish makes res readable while j keeps running (a series produced as
// it is fetched); callers hold Server.mu.
func (j *job) publish(res *result) {
	j.res = res
	close(j.ready)
}

// insertRequest is the part of a Job resource jobs.insert reads.
type insertRequest struct {
	JobReference struct {
		JobID    string `json:"jobId"`
		Location string `json:"location"`
	} `json:"jobReference"`
	Configuration json.RawMessage `json:"configuration"`
}

type jobConfig struct {
	DryRun       bool   `json:"dryRun"`
	JobTimeoutMs string `json:"jobTimeoutMs"`
	Query        *struct {
		Query string `json:"query"`
	} `json:"query"`
}

func (s *Server) insertJob(w http.ResponseWriter, r *http.Request) {
	project := r.PathValue("project")
	var req insertRequest
	var cfg jobConfig
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || json.Unmarshal(req.Configuration, &cfg) != nil {
		writeError(w, http.StatusBadRequest, "invalid", "fake: the request body is not a Job resource")
		return
	}
	if cfg.Query == nil {
		writeError(w, http.StatusBadRequest, "invalid", "fake: only query jobs are supported")
		return
	}
	if req.JobReference.JobID == "" {
		writeError(w, http.StatusBadRequest, "invalid", "fake: the client must choose the job id")
		return
	}
	loc := req.JobReference.Location
	if loc == "" {
		loc = "US"
	}
	st := parse(cfg.Query.Query)

	s.mu.Lock()
	defer s.mu.Unlock()
	s.inserts++
	if cfg.DryRun {
		if st.err != nil {
			writeError(w, http.StatusBadRequest, st.err.Reason, st.err.Message)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"kind":          "bigquery#job",
			"jobReference":  map[string]string{"projectId": project, "location": loc},
			"configuration": req.Configuration,
			"status":        map[string]string{"state": stateDone},
			"statistics": map[string]any{
				"creationTime":        strconv.FormatInt(time.Now().UnixMilli(), 10),
				"totalBytesProcessed": strconv.FormatInt(s.scan, 10),
				"query":               map[string]string{"totalBytesProcessed": strconv.FormatInt(s.scan, 10), "statementType": "SELECT"},
			},
		})
		return
	}
	key := project + "/" + req.JobReference.JobID
	if _, dup := s.jobs[key]; dup {
		writeError(w, http.StatusConflict, "duplicate",
			fmt.Sprintf("Already Exists: Job %s:%s.%s", project, loc, req.JobReference.JobID))
		return
	}
	now := time.Now()
	j := &job{
		project: project, id: req.JobReference.JobID, location: loc, sql: cfg.Query.Query,
		config: req.Configuration, created: now, started: now, state: stateRunning,
		ready: make(chan struct{}),
	}
	s.jobs[key] = j
	s.start(j, st, cfg)
	writeJSON(w, http.StatusOK, j.resource())
}

// start sets j going; callers hold s.mu.
func (s *Server) start(j *job, st statement, cfg jobConfig) {
	switch {
	case st.err != nil:
		j.finish(nil, st.err)
	case st.sleep > 0:
		j.timers = append(j.timers, time.AfterFunc(st.sleep, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			j.finish(st.res, nil)
		}))
		if ms, _ := strconv.ParseInt(cfg.JobTimeoutMs, 10, 64); ms > 0 && time.Duration(ms)*time.Millisecond < st.sleep {
			limit := time.Duration(ms) * time.Millisecond
			j.timers = append(j.timers, time.AfterFunc(limit, func() {
				s.mu.Lock()
				defer s.mu.Unlock()
				j.finish(nil, &errorProto{Reason: "timeout", Message: fmt.Sprintf(
					"Operation timed out after %.1f seconds. Consider reducing the amount of work performed by your operation so that it can complete within this limit.",
					limit.Seconds())})
			}))
		}
	case st.lazy && st.res.total > 0:
		j.publish(st.res)
	default:
		j.finish(st.res, nil)
	}
}

func (j *job) resource() map[string]any {
	status := map[string]any{"state": j.state}
	if j.err != nil {
		status["errorResult"] = j.err
		status["errors"] = []*errorProto{j.err}
	}
	stats := map[string]any{
		"creationTime":        strconv.FormatInt(j.created.UnixMilli(), 10),
		"startTime":           strconv.FormatInt(j.started.UnixMilli(), 10),
		"totalBytesProcessed": "0",
		"query":               map[string]string{"statementType": "SELECT"},
	}
	if !j.ended.IsZero() {
		stats["endTime"] = strconv.FormatInt(j.ended.UnixMilli(), 10)
	}
	return map[string]any{
		"kind":          "bigquery#job",
		"id":            j.project + ":" + j.location + "." + j.id,
		"jobReference":  map[string]string{"projectId": j.project, "jobId": j.id, "location": j.location},
		"configuration": j.config,
		"status":        status,
		"statistics":    stats,
	}
}

// lookup finds the job the request names, or writes a 404 and returns nil.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request) *job {
	j := s.jobs[r.PathValue("project")+"/"+r.PathValue("job")]
	if j == nil {
		writeError(w, http.StatusNotFound, "notFound", fmt.Sprintf("Not found: Job %s:%s", r.PathValue("project"), r.PathValue("job")))
	}
	return j
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j := s.lookup(w, r); j != nil {
		writeJSON(w, http.StatusOK, j.resource())
	}
}

// cancelJob stops a job that has not ended; an ended job is left as it is,
// and the call succeeds either way, as BigQuery's does.
func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.lookup(w, r)
	if j == nil {
		return
	}
	j.finish(nil, &errorProto{Reason: "stopped", Message: "Job execution was cancelled: User requested cancellation"})
	writeJSON(w, http.StatusOK, map[string]any{"kind": "bigquery#jobCancelResponse", "job": j.resource()})
}

// pageSize is how many rows a page holds when the client names no maxResults.
const pageSize = 20_000

// defaultWait is how long getQueryResults waits for a job without timeoutMs.
const defaultWait = 10 * time.Second

func (s *Server) getQueryResults(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	wait := defaultWait
	if ms, err := strconv.ParseInt(q.Get("timeoutMs"), 10, 64); err == nil {
		wait = time.Duration(ms) * time.Millisecond
	}
	s.mu.Lock()
	j := s.lookup(w, r)
	if j == nil {
		s.mu.Unlock()
		return
	}
	ready := j.ready
	s.mu.Unlock()

	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ready:
	case <-t.C:
	case <-r.Context().Done():
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	ref := map[string]string{"projectId": j.project, "jobId": j.id, "location": j.location}
	if j.err != nil {
		writeError(w, http.StatusBadRequest, j.err.Reason, j.err.Message)
		return
	}
	if j.res == nil {
		writeJSON(w, http.StatusOK, map[string]any{"kind": "bigquery#getQueryResultsResponse", "jobReference": ref, "jobComplete": false})
		return
	}
	res := j.res
	start, err := strconv.ParseInt(q.Get("startIndex"), 10, 64)
	if tok := q.Get("pageToken"); tok != "" {
		start, err = strconv.ParseInt(strings.TrimPrefix(tok, "row-"), 10, 64)
	}
	if err != nil {
		start = 0
	}
	count := int64(pageSize)
	if m, err := strconv.ParseInt(q.Get("maxResults"), 10, 64); err == nil {
		count = min(m, pageSize)
	}
	count = max(0, min(count, res.total-start))

	var b bytes.Buffer
	b.WriteString(`{"kind":"bigquery#getQueryResultsResponse","jobComplete":true,"cacheHit":false,"jobReference":`)
	writeTo(&b, ref)
	b.WriteString(`,"schema":{"fields":`)
	writeTo(&b, res.schema)
	fmt.Fprintf(&b, `},"totalRows":"%d","totalBytesProcessed":"0"`, res.total)
	if count > 0 {
		b.WriteString(`,"rows":[`)
		for i := start; i < start+count; i++ {
			if i > start {
				b.WriteByte(',')
			}
			res.row(&b, i)
		}
		b.WriteByte(']')
	}
	if next := start + count; next < res.total && count > 0 {
		fmt.Fprintf(&b, `,"pageToken":"row-%d"`, next)
	} else if count > 0 || res.total == 0 {
		j.finish(res, nil) // the last page has been served
	}
	b.WriteByte('}')
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Write(b.Bytes())
}

func (s *Server) listDatasets(w http.ResponseWriter, r *http.Request) {
	project := r.PathValue("project")
	s.mu.Lock()
	defer s.mu.Unlock()
	var list []map[string]any
	for _, name := range sortedKeys(s.datasets) {
		list = append(list, map[string]any{
			"kind":             "bigquery#dataset",
			"id":               project + ":" + name,
			"datasetReference": map[string]string{"projectId": project, "datasetId": name},
			"location":         "US",
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"kind": "bigquery#datasetList", "datasets": list})
}

func (s *Server) listTables(w http.ResponseWriter, r *http.Request) {
	project, dataset := r.PathValue("project"), r.PathValue("dataset")
	s.mu.Lock()
	defer s.mu.Unlock()
	tables, ok := s.datasets[dataset]
	if !ok {
		writeError(w, http.StatusNotFound, "notFound", fmt.Sprintf("Not found: Dataset %s:%s", project, dataset))
		return
	}
	var list []map[string]any
	for _, name := range sortedKeys(tables) {
		list = append(list, map[string]any{
			"kind":           "bigquery#table",
			"id":             project + ":" + dataset + "." + name,
			"tableReference": map[string]string{"projectId": project, "datasetId": dataset, "tableId": name},
			"type":           "TABLE",
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"kind": "bigquery#tableList", "tables": list, "totalItems": len(list)})
}

func (s *Server) getTable(w http.ResponseWriter, r *http.Request) {
	project, dataset, table := r.PathValue("project"), r.PathValue("dataset"), r.PathValue("table")
	s.mu.Lock()
	defer s.mu.Unlock()
	fields, ok := s.datasets[dataset][table]
	if !ok {
		writeError(w, http.StatusNotFound, "notFound", fmt.Sprintf("Not found: Table %s:%s.%s", project, dataset, table))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"kind":           "bigquery#table",
		"id":             project + ":" + dataset + "." + table,
		"tableReference": map[string]string{"projectId": project, "datasetId": dataset, "tableId": table},
		"type":           "TABLE",
		"location":       "US",
		"schema":         map[string]any{"fields": fields},
	})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// writeError writes the API's error body: {"error": {code, message, errors, status}}.
func writeError(w http.ResponseWriter, code int, reason, message string) {
	status := map[int]string{400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 409: "ALREADY_EXISTS"}[code]
	writeJSON(w, code, map[string]any{"error": map[string]any{
		"code":    code,
		"message": message,
		"errors":  []map[string]string{{"message": message, "domain": "global", "reason": reason}},
		"status":  status,
	}})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeTo(b *bytes.Buffer, v any) {
	enc, _ := json.Marshal(v) // only the fake's own maps and Fields
	b.Write(enc)
}
