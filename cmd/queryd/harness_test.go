package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/queryd/queryd/store"
	"github.com/queryd/queryd/store/storetest"
	"github.com/queryd/queryd/worker/workertest"
)

// testEnv is a queryd started with its real wiring on 127.0.0.1:0 against a
// private PostgreSQL schema, a private redis-server and a temporary results
// directory, with an admin user and a "pg" data source on the test database.
type testEnv struct {
	t        *testing.T
	cfg      Config
	store    *store.Store
	base     string // http://127.0.0.1:port
	key      string // the admin's API key
	dsID     int64
	redisURL string
	logs     *syncBuffer
	shutdown func() // signals the first process started to stop, as SIGTERM does
}

// startEnv starts queryd: the API, and a worker in the same process when
// runWorker (otherwise jobs stay pending until startWorker).
func startEnv(t *testing.T, runWorker bool) *testEnv {
	t.Helper()
	return startEnvWith(t, runWorker, nil)
}

// startEnvWith is startEnv with extra environment variables, which win.
func startEnvWith(t *testing.T, runWorker bool, extra map[string]string) *testEnv {
	t.Helper()
	st, schemaURL := storetest.New(t)
	e := &testEnv{t: t, store: st, redisURL: workertest.Redis(t), logs: &syncBuffer{}}
	env := map[string]string{
		"QUERYD_DATABASE_URL":            schemaURL,
		"QUERYD_REDIS_URL":               e.redisURL,
		"QUERYD_RESULTS_URL":             "file://" + t.TempDir(),
		"QUERYD_SECRET_KEY":              storetest.SecretKey,
		"QUERYD_WORKER_CONCURRENCY":      "4",
		"QUERYD_QUERY_TIMEOUT":           "1m",
		"QUERYD_QUERY_MAX_RETRY":         "2",
		"QUERYD_TASK_CHECK_INTERVAL":     "20ms",
		"QUERYD_HEARTBEAT_INTERVAL":      "200ms",
		"QUERYD_RECONCILE_INTERVAL":      "200ms",
		"QUERYD_RECONCILE_PENDING_AFTER": "500ms",
		"QUERYD_RECONCILE_STALE_AFTER":   "1s",
		"QUERYD_SHUTDOWN_TIMEOUT":        "5s",
		"QUERYD_LOG_LEVEL":               "debug",
	}
	maps.Copy(env, extra)
	cfg, err := loadConfig(env)
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	e.cfg = cfg
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("queryd logs:\n%s", e.logs.String())
		}
	})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.base = "http://" + ln.Addr().String()
	e.serve(ln, runWorker)
	e.waitReady()

	_, e.key, err = st.CreateUser(context.Background(), "admin@example.com", "", true)
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	e.dsID = e.createDataSource("test-pg", pgOptions(t))
	return e
}

// serve runs the wiring (API on ln when not nil, worker when runWorker)
// until the test ends.
func (e *testEnv) serve(ln net.Listener, runWorker bool) {
	t := e.t
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := openApp(ctx, e.cfg, newRegistry(), log)
	if err != nil {
		t.Fatalf("openApp: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- a.serve(ctx, ln, runWorker) }()
	if e.shutdown == nil {
		e.shutdown = cancel
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		a.close()
	})
}

// startWorker starts a worker process's wiring against the same services.
func (e *testEnv) startWorker() { e.serve(nil, true) }

func (e *testEnv) waitReady() {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(e.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("queryd not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pgOptions are "pg" data source options for the test database.
func pgOptions(t testing.TB) map[string]any {
	u, err := url.Parse(storetest.DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	if port == 0 {
		port = 5432
	}
	pw, _ := u.User.Password()
	return map[string]any{
		"host": u.Hostname(), "port": port, "user": u.User.Username(), "password": pw,
		"dbname": strings.TrimPrefix(u.Path, "/"), "sslmode": "disable",
	}
}

func (e *testEnv) createDataSource(name string, options map[string]any) int64 {
	e.t.Helper()
	var ds struct{ ID int64 }
	e.do("POST", "/api/data_sources", map[string]any{"name": name, "type": "pg", "options": options}, http.StatusOK, &ds)
	return ds.ID
}

// request sends body (nil, a string sent verbatim, or a value encoded as
// JSON, with no Content-Type header as Redash's tooling does) with the
// admin's key, and returns the status and body.
func (e *testEnv) request(method, path string, body any) (int, []byte) {
	e.t.Helper()
	return e.requestWithKey(method, path, body, e.key)
}

func (e *testEnv) requestWithKey(method, path string, body any, key string) (int, []byte) {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.base+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Key "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// do sends a request with the admin's key, checks the status and decodes
// the JSON answer into out.
func (e *testEnv) do(method, path string, body any, want int, out any) {
	e.t.Helper()
	e.doWithKey(e.key, method, path, body, want, out)
}

// doWithKey is do with key instead of the admin's.
func (e *testEnv) doWithKey(key, method, path string, body any, want int, out any) {
	e.t.Helper()
	status, b := e.requestWithKey(method, path, body, key)
	if status != want {
		e.t.Fatalf("%s %s = %d %s, want %d", method, path, status, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

type jobBody struct {
	ID            string `json:"id"`
	Status        int    `json:"status"`
	Error         string `json:"error"`
	QueryResultID *int64 `json:"query_result_id"`
}

type queryResultBody struct {
	ID           int64  `json:"id"`
	QueryHash    string `json:"query_hash"`
	Query        string `json:"query"`
	DataSourceID int64  `json:"data_source_id"`
	Data         struct {
		Columns []struct{ Name, Type string } `json:"columns"`
		Rows    []map[string]any              `json:"rows"`
	} `json:"data"`
}

type executeAnswer struct {
	Job         *jobBody         `json:"job"`
	QueryResult *queryResultBody `json:"query_result"`
}

// execute posts an ad hoc query and returns the answer.
func (e *testEnv) execute(query string, extra map[string]any) executeAnswer {
	e.t.Helper()
	body := map[string]any{"data_source_id": e.dsID, "query": query}
	for k, v := range extra {
		body[k] = v
	}
	var a executeAnswer
	e.do("POST", "/api/query_results", body, http.StatusOK, &a)
	return a
}

// pollJob polls GET /api/jobs/<id> until the job is done (status 3, 4 or 5).
func (e *testEnv) pollJob(id string) jobBody {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var a struct{ Job jobBody }
		e.do("GET", "/api/jobs/"+id, nil, http.StatusOK, &a)
		if a.Job.Status >= 3 {
			return a.Job
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("job %s still in status %d after 30s", id, a.Job.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pg opens a direct connection to the test database.
func pg(t testing.TB) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), storetest.DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// uniqueName returns a name no other test uses at the same time.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano())
}

// syncBuffer collects logs from goroutines that outlive assertions.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
