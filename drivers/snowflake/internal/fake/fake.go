// Package fake is a small stand-in for Snowflake's HTTP API, for tests: the
// real client library (gosnowflake) logs in, runs statements, polls for
// results, downloads result chunks, aborts statements and logs out against
// it, over plain HTTP on 127.0.0.1.
//
// It speaks the endpoints the client library uses, written from the
// protocol's public description and the exchanges observed between the
// client and the server:
//
//	POST /session/v1/login-request      password or key-pair (JWT) login
//	POST /queries/v1/query-request      run a statement (JSON result format)
//	GET  /queries/<id>/result           poll a statement "in progress"
//	GET  /chunks/<id>/<n>               a result chunk (Snowflake: a presigned
//	                                    cloud-storage URL)
//	POST /queries/v1/abort-request      abort a statement by its request id
//	GET  /monitoring/queries/<id>       a statement's status
//	POST /session/heartbeat             keep a session alive
//	POST /session?delete=true           log out (aborts the session's statements)
//
// Like Snowflake, the server holds a query request (and each poll) until the
// statement ends or InProgressAfter passes, and then answers "in progress"
// (code 333333) with the URL to poll.
//
// It runs a tiny SQL subset itself (see statement.go): SELECT 1; a row
// generator; SYSTEM$WAIT; SYSTEM$CANCEL_QUERY; SELECT * from the tables of its
// catalog (Catalog); INFORMATION_SCHEMA.COLUMNS of its database; and it
// reports a syntax error, in Snowflake's words, for a statement that does not
// start with a keyword it knows.
//
// A statement counts as running (Running) from its query request until it
// ends: it finishes, it is aborted (abort request, SYSTEM$CANCEL_QUERY, its
// session logged out, its statement timeout), or — for a result the fake
// produces chunk by chunk on download — its last chunk is served, a chunk
// download is abandoned mid-way, or no chunk has been fetched for
// FetchIdle while chunks remain.
package fake

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults for the Server's settings.
const (
	// DefaultInProgressAfter is how long the server holds a query request
	// or poll before answering "in progress". Snowflake holds them about 45
	// seconds; the fake answers sooner so tests see the in-progress path
	// (and the query id it carries) within their time limits.
	DefaultInProgressAfter = 300 * time.Millisecond
	// DefaultFetchIdle is how long a partly downloaded result stays
	// running without a chunk being fetched.
	DefaultFetchIdle = 500 * time.Millisecond
	// Rows in a result's first rowset, sent with the query response, and in
	// each chunk after it.
	firstRowsetRows = 1000
	chunkRows       = 10000
)

// Server is a running fake. Its exported fields may be set before the first
// request.
type Server struct {
	// URL is the server's base URL, http://127.0.0.1:<port>.
	URL string
	// Host and Port are URL's parts, as the client library's Config wants.
	Host string
	Port int

	// InProgressAfter: see DefaultInProgressAfter.
	InProgressAfter time.Duration
	// FetchIdle: see DefaultFetchIdle.
	FetchIdle time.Duration

	hs *httptest.Server

	mu         sync.Mutex
	users      map[string]user       // by upper-case login name
	sessions   map[string]*session   // by session token
	statements map[string]*statement // by query id
	byRequest  map[string]*statement // by request id
	closed     bool
}

type user struct {
	password string
	key      *rsa.PublicKey
}

// session is a logged-in session.
type session struct {
	id     int64
	token  string
	user   string
	params map[string]string // session parameters from the login, upper-case names
}

// Start starts a fake on 127.0.0.1. Close it when done.
func Start() *Server {
	s := &Server{
		InProgressAfter: DefaultInProgressAfter,
		FetchIdle:       DefaultFetchIdle,
		users:           make(map[string]user),
		sessions:        make(map[string]*session),
		statements:      make(map[string]*statement),
		byRequest:       make(map[string]*statement),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /session/v1/login-request", s.login)
	mux.HandleFunc("POST /session", s.logout)
	mux.HandleFunc("POST /session/heartbeat", s.heartbeat)
	mux.HandleFunc("POST /queries/v1/query-request", s.queryRequest)
	mux.HandleFunc("GET /queries/{id}/result", s.queryResult)
	mux.HandleFunc("POST /queries/v1/abort-request", s.abortRequest)
	mux.HandleFunc("GET /monitoring/queries/{id}", s.monitoring)
	mux.HandleFunc("GET /chunks/{id}/{n}", s.chunk)
	s.hs = httptest.NewServer(mux)
	u, _ := url.Parse(s.hs.URL)
	s.URL = s.hs.URL
	s.Host = u.Hostname()
	s.Port, _ = strconv.Atoi(u.Port())
	return s
}

// Close ends every running statement and stops the server.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for _, st := range s.statements {
		s.endLocked(st, "server closed", cancelledError)
	}
	s.mu.Unlock()
	s.hs.CloseClientConnections()
	s.hs.Close()
}

// AddUser lets name log in with password.
func (s *Server) AddUser(name, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[strings.ToUpper(name)] = user{password: password}
}

// AddKeyUser lets name log in with a JWT signed by the private key of key
// (Snowflake's key-pair authentication).
func (s *Server) AddKeyUser(name string, key *rsa.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[strings.ToUpper(name)] = user{key: key}
}

// Running reports whether a statement whose text contains marker is running
// (see the package comment).
func (s *Server) Running(marker string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.statements {
		if strings.Contains(st.sql, marker) && s.runningLocked(st) {
			return true
		}
	}
	return false
}

// EndedBy says how the latest statement whose text contains marker ended:
// "finished", "failed", "abort request", "SYSTEM$CANCEL_QUERY", "logout",
// "statement timeout", "abandoned download", "idle download"; "running" if it
// has not ended, "" if there is no such statement.
func (s *Server) EndedBy(marker string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var latest *statement
	for _, st := range s.statements {
		if strings.Contains(st.sql, marker) && (latest == nil || st.seq > latest.seq) {
			latest = st
		}
	}
	switch {
	case latest == nil:
		return ""
	case s.runningLocked(latest):
		return "running"
	case latest.endedBy == "" && latest.fetching:
		return "idle download"
	}
	return latest.endedBy
}

// SessionParam returns the value the latest session logged in with for the
// session parameter name, and whether it was set.
func (s *Server) SessionParam(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var latest *session
	for _, ss := range s.sessions {
		if latest == nil || ss.id > latest.id {
			latest = ss
		}
	}
	if latest == nil {
		return "", false
	}
	v, ok := latest.params[strings.ToUpper(name)]
	return v, ok
}

// Sessions is how many sessions are logged in.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// response is the envelope of every answer: {"data", "code", "message",
// "success"}.
type response struct {
	Data    any     `json:"data"`
	Code    *string `json:"code"`
	Message *string `json:"message"`
	Success bool    `json:"success"`
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		return // the client went away
	}
}

// writeFailure answers with success false, Snowflake's error code and
// message, and data (which may carry a query id and SQL state).
func writeFailure(w http.ResponseWriter, code, message string, data any) {
	writeJSON(w, response{Data: data, Code: &code, Message: &message})
}

// sessionFor returns the session whose token the request's Authorization
// header carries (`Snowflake Token="<token>"`), answering the request with
// Snowflake's error when there is none.
func (s *Server) sessionFor(w http.ResponseWriter, r *http.Request) *session {
	auth := r.Header.Get("Authorization")
	token := strings.TrimSuffix(strings.TrimPrefix(auth, `Snowflake Token="`), `"`)
	s.mu.Lock()
	ss := s.sessions[token]
	s.mu.Unlock()
	if ss == nil {
		writeFailure(w, "390111", "Session no longer exists.  New login required to access the service.", nil)
	}
	return ss
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// login checks the credentials in the login request and opens a session:
// {"data": {"LOGIN_NAME", "PASSWORD" | "AUTHENTICATOR": "SNOWFLAKE_JWT" +
// "TOKEN", "ACCOUNT_NAME", "SESSION_PARAMETERS", …}}.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Data struct {
			AccountName       string         `json:"ACCOUNT_NAME"`
			LoginName         string         `json:"LOGIN_NAME"`
			Password          string         `json:"PASSWORD"`
			Authenticator     string         `json:"AUTHENTICATOR"`
			Token             string         `json:"TOKEN"`
			SessionParameters map[string]any `json:"SESSION_PARAMETERS"`
		} `json:"data"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, "bad login request", http.StatusBadRequest)
		return
	}
	d := req.Data
	jwt := strings.EqualFold(d.Authenticator, "SNOWFLAKE_JWT")
	if jwt {
		// A key-pair login names its user only in the token's subject.
		d.LoginName = jwtUser(d.Token)
	}
	s.mu.Lock()
	u, known := s.users[strings.ToUpper(d.LoginName)]
	s.mu.Unlock()
	switch {
	case jwt:
		if !known || u.key == nil || verifyJWT(d.Token, u.key, d.AccountName, d.LoginName) != nil {
			writeFailure(w, "390144", "JWT token is invalid.", nil)
			return
		}
	case !known || u.password == "" || d.Password != u.password:
		writeFailure(w, "390100", "Incorrect username or password was specified.", nil)
		return
	}
	params := make(map[string]string)
	for k, v := range d.SessionParameters {
		params[strings.ToUpper(k)] = fmt.Sprint(v)
	}
	s.mu.Lock()
	ss := &session{id: int64(len(s.sessions)) + time.Now().UnixNano(), token: newID(), user: strings.ToUpper(d.LoginName), params: params}
	s.sessions[ss.token] = ss
	s.mu.Unlock()
	writeJSON(w, response{Success: true, Data: map[string]any{
		"token":                   ss.token,
		"masterToken":             "master-" + ss.token,
		"validityInSeconds":       3600,
		"masterValidityInSeconds": 14400,
		"sessionId":               ss.id,
		"serverVersion":           "fake",
		"parameters": []map[string]any{
			{"name": "CLIENT_TELEMETRY_ENABLED", "value": false},
			{"name": "CLIENT_SESSION_KEEP_ALIVE", "value": false},
			{"name": "CLIENT_PREFETCH_THREADS", "value": 4},
			{"name": "TIMEZONE", "value": "America/Los_Angeles"},
		},
		"sessionInfo": map[string]any{
			"databaseName":  Database,
			"schemaName":    "PUBLIC",
			"warehouseName": "FAKE_WH",
			"roleName":      "PUBLIC",
		},
	}})
}

// logout (POST /session?delete=true) ends the session and aborts its
// running statements.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("delete") != "true" {
		http.Error(w, "unsupported session request", http.StatusBadRequest)
		return
	}
	ss := s.sessionFor(w, r)
	if ss == nil {
		return
	}
	s.mu.Lock()
	delete(s.sessions, ss.token)
	for _, st := range s.statements {
		if st.session == ss {
			s.endLocked(st, "logout", cancelledError)
		}
	}
	s.mu.Unlock()
	writeJSON(w, response{Success: true})
}

func (s *Server) heartbeat(w http.ResponseWriter, r *http.Request) {
	if s.sessionFor(w, r) != nil {
		writeJSON(w, response{Success: true})
	}
}

// queryRequest starts the statement in {"sqlText", "asyncExec", …} and
// answers as soon as it ends, or with "in progress" after InProgressAfter
// (at once for asyncExec).
func (s *Server) queryRequest(w http.ResponseWriter, r *http.Request) {
	ss := s.sessionFor(w, r)
	if ss == nil {
		return
	}
	var req struct {
		SQLText   string `json:"sqlText"`
		AsyncExec bool   `json:"asyncExec"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, "bad query request", http.StatusBadRequest)
		return
	}
	st := s.start(ss, r.URL.Query().Get("requestId"), req.SQLText, req.AsyncExec)
	wait := s.InProgressAfter
	if req.AsyncExec {
		wait = 0
	}
	s.answer(w, r, st, wait)
}

// queryResult answers a poll for a statement's result.
func (s *Server) queryResult(w http.ResponseWriter, r *http.Request) {
	if s.sessionFor(w, r) == nil {
		return
	}
	s.mu.Lock()
	st := s.statements[r.PathValue("id")]
	s.mu.Unlock()
	if st == nil {
		writeFailure(w, "000709", "Statement "+r.PathValue("id")+" not found", nil)
		return
	}
	s.answer(w, r, st, s.InProgressAfter)
}

// answer waits up to wait for st to end and writes its result, its error, or
// "in progress": code 333333, or 333334 for a statement submitted
// asynchronously.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, st *statement, wait time.Duration) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-st.done:
	case <-timer.C:
	case <-r.Context().Done():
		return // the client gave up on this request; the statement runs on
	}
	select {
	case <-st.done:
	default:
		code := "333333"
		if st.async {
			code = "333334"
		}
		msg := "Asynchronous execution in progress. Use provided query id to perform query monitoring and management."
		writeJSON(w, response{Success: true, Code: &code, Message: &msg, Data: map[string]any{
			"queryId":      st.id,
			"getResultUrl": "/queries/" + st.id + "/result",
			"progressDesc": nil,
		}})
		return
	}
	if e := st.failure; e != nil {
		writeFailure(w, e.code, e.message, map[string]any{"queryId": st.id, "sqlState": e.sqlState})
		return
	}
	s.mu.Lock()
	s.sentLocked(st)
	s.mu.Unlock()
	res := st.result
	first := res.rows(0, min(res.total, firstRowsetRows))
	var chunks []map[string]any
	for start := firstRowsetRows; start < res.total; start += chunkRows {
		n := min(chunkRows, res.total-start)
		chunks = append(chunks, map[string]any{
			"url":              fmt.Sprintf("%s/chunks/%s/%d", s.URL, st.id, len(chunks)),
			"rowCount":         n,
			"uncompressedSize": n * 32,
			"compressedSize":   n * 32,
		})
	}
	writeJSON(w, response{Success: true, Data: map[string]any{
		"queryId":           st.id,
		"queryResultFormat": "json",
		"rowtype":           res.columns,
		"rowset":            first,
		"total":             res.total,
		"returned":          len(first),
		"chunks":            chunks,
		"qrmk":              "fake-result-key",
		"statementTypeId":   4096, // SELECT
		"parameters":        []any{},
	}})
}

// chunk serves rows [firstRowsetRows + n*chunkRows, …) of a result: the rows
// as JSON arrays separated by commas, without the enclosing brackets, as
// Snowflake's result chunks are.
func (s *Server) chunk(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.PathValue("n"))
	s.mu.Lock()
	st := s.statements[r.PathValue("id")]
	if st == nil || st.result == nil || err != nil || n < 0 || firstRowsetRows+n*chunkRows >= st.result.total {
		s.mu.Unlock()
		http.NotFound(w, r)
		return
	}
	st.inflight++
	s.mu.Unlock()

	res := st.result
	start := firstRowsetRows + n*chunkRows
	end := min(start+chunkRows, res.total)
	w.Header().Set("Content-Type", "application/json")
	ok := true
	for i := start; i < end && ok; i += 1000 {
		batch := res.rows(i, min(i+1000, end))
		b, _ := json.Marshal(batch)
		b = b[1 : len(b)-1] // drop the enclosing brackets
		if i > start {
			b = append([]byte{','}, b...)
		}
		_, err := w.Write(b)
		ok = err == nil && r.Context().Err() == nil
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	st.inflight--
	st.lastFetch = time.Now()
	if !ok {
		s.endLocked(st, "abandoned download", nil)
		return
	}
	st.served[n] = true
	if len(st.served) == st.chunks {
		s.endLocked(st, "finished", nil)
	}
}

// abortRequest aborts the statement started by {"requestId"} if it is still
// running, like Snowflake's abort request; otherwise it answers "not
// executing" (000605), which the client retries a few times and then
// accepts.
func (s *Server) abortRequest(w http.ResponseWriter, r *http.Request) {
	ss := s.sessionFor(w, r)
	if ss == nil {
		return
	}
	var req struct {
		RequestID string `json:"requestId"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, "bad abort request", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	st := s.byRequest[req.RequestID]
	aborted := st != nil && st.session == ss && s.runningLocked(st)
	if aborted {
		s.endLocked(st, "abort request", cancelledError)
	}
	s.mu.Unlock()
	if !aborted {
		writeFailure(w, "000605", "Identified SQL statement is not currently executing.", nil)
		return
	}
	writeJSON(w, response{Success: true})
}

// monitoring answers {"data": {"queries": [{"id", "status", …}]}} for a
// statement, with Snowflake's status names.
func (s *Server) monitoring(w http.ResponseWriter, r *http.Request) {
	if s.sessionFor(w, r) == nil {
		return
	}
	s.mu.Lock()
	st := s.statements[r.PathValue("id")]
	var status string
	switch {
	case st == nil:
	case s.runningLocked(st) && st.result == nil && st.failure == nil:
		status = "RUNNING"
	case st.failure == cancelledError:
		status = "ABORTED"
	case st.failure != nil:
		status = "FAILED_WITH_ERROR"
	default:
		status = "SUCCESS"
	}
	s.mu.Unlock()
	if st == nil {
		writeJSON(w, response{Success: true, Data: map[string]any{"queries": []any{}}})
		return
	}
	q := map[string]any{"id": st.id, "status": status, "sqlText": st.sql, "state": status}
	if st.failure != nil {
		q["errorCode"] = st.failure.code
		q["errorMessage"] = st.failure.message
	}
	writeJSON(w, response{Success: true, Data: map[string]any{"queries": []any{q}}})
}
