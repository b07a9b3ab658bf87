// Package fake is an in-process Databricks SQL warehouse for tests: an HTTPS
// server on 127.0.0.1 that speaks the Thrift TCLIService protocol
// (TBinaryProtocol over HTTP POST) the way a warehouse does to the real
// github.com/databricks/databricks-sql-go driver.
//
// It implements OpenSession, ExecuteStatement, GetOperationStatus,
// GetResultSetMetadata, FetchResults, CancelOperation, CloseOperation and
// CloseSession, and, beside Thrift, the SQL Statement Execution API's
// statement cancel (POST /api/2.0/sql/statements/<id>/cancel), which
// cancels the operation whose GUID is <id>. It answers OpenSession with the
// HiveServer2 protocol V10, so the driver asks for neither direct results,
// Arrow nor CloudFetch, and every result travels as column-based row sets,
// one FetchResults page at a time.
//
// It runs a tiny SQL subset, recognised by pattern:
//
//   - TypesSQL: one row with a value of every type, and a row of NULLs;
//   - "SELECT 1": one INT column;
//   - "SELECT id AS n, concat('label ', id) AS label FROM range(a, b)": rows
//     a..b-1, generated page by page, so millions stream without the fake
//     holding them;
//   - "SELECT fake_sleep(<seconds>) ...": runs (RUNNING_STATE) for that long,
//     or until cancelled, then returns one row;
//   - "SELECT table_schema, table_name, column_name, full_data_type FROM
//     [`<catalog>`.]information_schema.columns WHERE table_schema <>
//     'information_schema' ORDER BY table_schema, table_name,
//     ordinal_position", exactly so: the rows of a small fixed Unity
//     Catalog (catalogs "main", the default, and "samples");
//   - a statement not starting with SELECT/WITH fails with Databricks'
//     "[PARSE_SYNTAX_ERROR] Syntax error at or near '<word>'." message.
package fake

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
)

// HTTPPath is the warehouse's HTTP path.
const HTTPPath = "/sql/1.0/warehouses/fake"

// TypesSQL returns two rows: one with a value in every column, then NULLs.
const TypesSQL = "SELECT * FROM VALUES " +
	"(CAST(1 AS TINYINT), CAST(2 AS SMALLINT), 3, CAST(4 AS BIGINT), CAST(1.5 AS FLOAT), CAST(2.25 AS DOUBLE), " +
	"CAST('12345678901234567890.123456789' AS DECIMAL(38,9)), true, 'héllo', DATE'2024-02-29', " +
	"TIMESTAMP'2024-02-29 12:34:56.123456', X'DEADBEEF', array(1, 2, 3), map('a', 1), named_struct('x', 1, 'y', 'z')), " +
	"(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL) " +
	"AS t(tiny, small, i, big, f, d, dec, b, s, dt, ts, bin, arr, m, st)"

// Thrift TTypeId values.
const (
	typeBoolean   i32 = 0
	typeTinyint   i32 = 1
	typeSmallint  i32 = 2
	typeInt       i32 = 3
	typeBigint    i32 = 4
	typeFloat     i32 = 5
	typeDouble    i32 = 6
	typeString    i32 = 7
	typeTimestamp i32 = 8
	typeBinary    i32 = 9
	typeArray     i32 = 10
	typeMap       i32 = 11
	typeStruct    i32 = 12
	typeDecimal   i32 = 15
	typeDate      i32 = 17
)

// Thrift TOperationState values.
const (
	stateRunning  i32 = 1
	stateFinished i32 = 2
	stateCanceled i32 = 3
	stateClosed   i32 = 4
	stateError    i32 = 5
)

// Thrift TStatusCode values.
const (
	statusSuccess       i32 = 0
	statusError         i32 = 3
	statusInvalidHandle i32 = 4
)

// protocolV10 is HIVE_CLI_SERVICE_PROTOCOL_V10.
const protocolV10 i32 = 9

// maxPage bounds the rows of one FetchResults page.
const maxPage = 10_000

// Server is a running fake warehouse. Its methods are safe for concurrent use.
type Server struct {
	ts    *httptest.Server
	token string

	mu       sync.Mutex
	sessions map[string]string // session GUID → its current catalog
	ops      map[string]*operation
	calls    map[string]int
	sessionC []Session // every OpenSession, in order
	timeouts []int64   // every ExecuteStatement's queryTimeout, in order
}

// Session is what a client asked for when it opened a session.
type Session struct {
	Configuration   map[string]string
	Catalog, Schema string
}

// column is one result column: its name, Thrift type, and how to build a
// page of its values.
type column struct {
	name string
	typ  i32
	page func(start, n int64) strct // a TColumn
}

// operation is one statement.
type operation struct {
	session  string
	sql      string
	cols     []column
	total    int64
	offset   int64
	state    i32
	until    time.Time // a sleep finishes then
	errMsg   string
	sqlState string
}

// New starts a fake warehouse that accepts the access token token. Close it
// when done.
func New(token string) *Server {
	s := &Server{
		token:    token,
		sessions: make(map[string]string),
		ops:      make(map[string]*operation),
		calls:    make(map[string]int),
	}
	s.ts = httptest.NewTLSServer(http.HandlerFunc(s.serveHTTP))
	return s
}

// Close stops the server.
func (s *Server) Close() { s.ts.Close() }

// Host and Port are where the server listens (127.0.0.1).
func (s *Server) Host() string {
	u, _ := url.Parse(s.ts.URL)
	return u.Hostname()
}

// Port is the server's TCP port.
func (s *Server) Port() int {
	u, _ := url.Parse(s.ts.URL)
	p, _ := strconv.Atoi(u.Port())
	return p
}

// Transport is an HTTP transport that trusts the server's certificate.
func (s *Server) Transport() http.RoundTripper { return s.ts.Client().Transport }

// Calls reports how many times method (e.g. "CancelOperation") was called;
// "HTTP" counts requests that were not Thrift calls to HTTPPath.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// OpenedSessions lists what each OpenSession asked for, in order.
func (s *Server) OpenedSessions() []Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Session(nil), s.sessionC...)
}

// QueryTimeouts lists each ExecuteStatement's queryTimeout (seconds).
func (s *Server) QueryTimeouts() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.timeouts...)
}

// Sessions reports how many sessions are open.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Running reports whether a statement whose text contains marker is running
// or has rows left that its client has not closed.
func (s *Server) Running(marker string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for _, op := range s.ops {
		if !strings.Contains(op.sql, marker) {
			continue
		}
		op.tick(now)
		if op.state == stateRunning || op.state == stateFinished {
			return true
		}
	}
	return false
}

// tick moves a sleeping statement to FINISHED once its time is up.
func (op *operation) tick(now time.Time) {
	if op.state == stateRunning && !op.until.IsZero() && !now.Before(op.until) {
		op.state = stateFinished
	}
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if id, ok := cancelStatementPath(r.URL.Path); ok && r.Method == http.MethodPost {
		s.serveCancel(w, r, id)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != HTTPPath {
		s.mu.Lock()
		s.calls["HTTP"]++
		s.mu.Unlock()
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+s.token {
		http.Error(w, "Invalid access token.", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	in := thrift.NewTMemoryBuffer()
	in.Buffer = bytes.NewBuffer(body)
	out := thrift.NewTMemoryBuffer()
	conf := &thrift.TConfiguration{}
	ip := thrift.NewTBinaryProtocolConf(in, conf)
	op := thrift.NewTBinaryProtocolConf(out, conf)

	name, _, seq, err := ip.ReadMessageBegin(ctx)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	args, err := readStruct(ctx, ip, 0)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	resp, ok := s.call(name, args.rec(1))
	if !ok {
		http.Error(w, "unknown method "+name, http.StatusBadRequest)
		return
	}
	if err := op.WriteMessageBegin(ctx, name, thrift.REPLY, seq); err == nil {
		err = writeValue(ctx, op, strct{{0, resp}})
		if err == nil {
			err = op.WriteMessageEnd(ctx)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	w.Header().Set("Content-Type", "application/x-thrift")
	w.Write(out.Bytes())
}

// call runs one RPC and returns its response struct.
func (s *Server) call(name string, req record) (strct, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[name]++
	switch name {
	case "OpenSession":
		sess := Session{Configuration: map[string]string{}}
		if conf, ok := req[4].(map[any]any); ok {
			for k, v := range conf {
				b, _ := v.([]byte)
				sess.Configuration[fmt.Sprint(k)] = string(b)
			}
		}
		sess.Catalog, sess.Schema = req.rec(1284).str(1), req.rec(1284).str(2)
		s.sessionC = append(s.sessionC, sess)
		id := newGUID()
		s.sessions[string(id)] = cmp.Or(sess.Catalog, DefaultCatalog)
		return strct{{1, success()}, {2, protocolV10}, {3, strct{{1, handleID(id)}}}}, true
	case "CloseSession":
		id := string(req.rec(1).rec(1).bin(1))
		delete(s.sessions, id)
		for _, op := range s.ops {
			if op.session == id && op.state != stateCanceled && op.state != stateError {
				op.state = stateClosed
			}
		}
		return strct{{1, success()}}, true
	case "ExecuteStatement":
		return s.execute(req), true
	case "GetOperationStatus":
		op, ok := s.op(req.rec(1))
		if !ok {
			return strct{{1, invalidHandle()}}, true
		}
		op.tick(time.Now())
		resp := strct{{1, success()}, {2, op.state}, {9, len(op.cols) > 0}}
		if op.state == stateError {
			resp = append(resp, field{3, op.sqlState}, field{5, op.errMsg}, field{1281, op.errMsg})
		}
		return resp, true
	case "GetResultSetMetadata":
		op, ok := s.op(req.rec(1))
		if !ok {
			return strct{{1, invalidHandle()}}, true
		}
		return s.metadata(op), true
	case "FetchResults":
		op, ok := s.op(req.rec(1))
		if !ok || op.state != stateFinished {
			return strct{{1, invalidHandle()}}, true
		}
		n := min(req.i64(3), maxPage, op.total-op.offset)
		if n < 0 {
			n = 0
		}
		cols := make([]strct, len(op.cols))
		for i, c := range op.cols {
			cols[i] = c.page(op.offset, n)
		}
		rowSet := strct{{1, op.offset}, {2, []strct{}}, {3, cols}}
		op.offset += n
		return strct{{1, success()}, {2, op.offset < op.total}, {3, rowSet}}, true
	case "CancelOperation":
		op, ok := s.op(req.rec(1))
		if ok {
			op.tick(time.Now())
			if op.state == stateRunning || op.state == stateFinished {
				op.state = stateCanceled
			}
		}
		return strct{{1, success()}}, true
	case "CloseOperation":
		op, ok := s.op(req.rec(1))
		if ok && op.state != stateCanceled && op.state != stateError {
			op.state = stateClosed
		}
		return strct{{1, success()}}, true
	}
	return nil, false
}

// op finds the operation of a TOperationHandle.
func (s *Server) op(handle record) (*operation, bool) {
	op, ok := s.ops[string(handle.rec(1).bin(1))]
	return op, ok
}

func (s *Server) metadata(op *operation) strct {
	descs := make([]strct, len(op.cols))
	for i, c := range op.cols {
		entry := strct{{1, strct{{1, c.typ}}}} // TTypeEntry{primitiveEntry{type}}
		descs[i] = strct{{1, c.name}, {2, strct{{1, []strct{entry}}}}, {3, int32(i + 1)}}
	}
	return strct{{1, success()}, {2, strct{{1, descs}}}}
}

var (
	seriesRE = regexp.MustCompile(`(?is)^\s*SELECT\s+id\s+AS\s+n\s*,\s*concat\('label ',\s*id\)\s+AS\s+label\s+FROM\s+range\((\d+),\s*(\d+)\)\s*$`)
	sleepRE  = regexp.MustCompile(`(?is)^\s*SELECT\s+fake_sleep\(([0-9.]+)\)`)
	wordRE   = regexp.MustCompile(`^\s*([^\s(]+)`)
)

func (s *Server) execute(req record) strct {
	session := string(req.rec(1).rec(1).bin(1))
	catalog, ok := s.sessions[session]
	if !ok {
		return strct{{1, invalidHandle()}}
	}
	sql := req.str(2)
	s.timeouts = append(s.timeouts, req.i64(5))
	op := &operation{session: session, sql: sql, state: stateFinished}
	switch m := seriesRE.FindStringSubmatch(sql); {
	case strings.TrimSpace(sql) == TypesSQL:
		op.cols, op.total = typesColumns(), 2
	case strings.EqualFold(strings.TrimSpace(sql), "SELECT 1"):
		op.cols, op.total = []column{{"1", typeInt, func(start, n int64) strct {
			return tcolumn(4, make([]int32, n), n, func(int64) bool { return false }, func(vs []int32, i int64) { vs[i] = 1 })
		}}}, 1
	case m != nil:
		from, _ := strconv.ParseInt(m[1], 10, 64)
		to, _ := strconv.ParseInt(m[2], 10, 64)
		op.cols, op.total = seriesColumns(from), max(to-from, 0)
	case schemaRE.MatchString(sql):
		if m := schemaRE.FindStringSubmatch(sql); m[1] != "" {
			catalog = strings.ReplaceAll(m[1], "``", "`")
		}
		var found bool
		if op.cols, op.total, found = schemaColumns(catalog); !found {
			op.cols, op.state, op.sqlState = nil, stateError, "42704"
			op.errMsg = fmt.Sprintf("[NO_SUCH_CATALOG_EXCEPTION] Catalog '%s' was not found. SQLSTATE: 42704", catalog)
		}
	default:
		if m := sleepRE.FindStringSubmatch(sql); m != nil {
			secs, _ := strconv.ParseFloat(m[1], 64)
			op.state = stateRunning
			op.until = time.Now().Add(time.Duration(secs * float64(time.Second)))
			op.cols, op.total = []column{{"slept", typeBoolean, func(start, n int64) strct {
				return tcolumn(1, make([]bool, n), n, func(int64) bool { return false }, func(vs []bool, i int64) { vs[i] = true })
			}}}, 1
			break
		}
		op.state, op.sqlState = stateError, "42601"
		word := wordRE.FindStringSubmatch(sql)
		switch {
		case word == nil:
			op.errMsg = "[PARSE_EMPTY_STATEMENT] Syntax error, unexpected empty statement. SQLSTATE: 42617"
			op.sqlState = "42617"
		case !strings.EqualFold(word[1], "SELECT") && !strings.EqualFold(word[1], "WITH"):
			op.errMsg = fmt.Sprintf("[PARSE_SYNTAX_ERROR] Syntax error at or near '%s'. SQLSTATE: 42601 (line 1, pos 0)", word[1])
		default:
			op.errMsg = "[UNSUPPORTED_FEATURE] The fake warehouse does not run this statement. SQLSTATE: 0A000"
			op.sqlState = "0A000"
		}
	}
	id := newGUID()
	s.ops[string(id)] = op
	handle := strct{{1, handleID(id)}, {2, i32(0)}, {3, len(op.cols) > 0}}
	return strct{{1, success()}, {2, handle}}
}

// seriesColumns are n (BIGINT) and label (STRING) for rows from, from+1, ….
func seriesColumns(from int64) []column {
	never := func(int64) bool { return false }
	return []column{
		{"n", typeBigint, func(start, n int64) strct {
			return tcolumn(5, make([]int64, n), n, never, func(vs []int64, i int64) { vs[i] = from + start + i })
		}},
		{"label", typeString, func(start, n int64) strct {
			return tcolumn(7, make([]string, n), n, never, func(vs []string, i int64) {
				vs[i] = "label " + strconv.FormatInt(from+start+i, 10)
			})
		}},
	}
}

// typesColumns are TypesSQL's columns; row 0 holds values, row 1 NULLs.
// DECIMAL, DATE, TIMESTAMP and the complex types travel as strings, as a
// warehouse sends them in column-based results.
func typesColumns() []column {
	isNull := func(i int64) bool { return i == 1 }
	one := func(id int16, typ i32, name string, v any) column {
		return column{name, typ, func(start, n int64) strct {
			switch v := v.(type) {
			case int8:
				return tcolumn(id, make([]int8, n), n, func(i int64) bool { return isNull(start + i) }, func(vs []int8, i int64) { vs[i] = v })
			case int16:
				return tcolumn(id, make([]int16, n), n, func(i int64) bool { return isNull(start + i) }, func(vs []int16, i int64) { vs[i] = v })
			case int32:
				return tcolumn(id, make([]int32, n), n, func(i int64) bool { return isNull(start + i) }, func(vs []int32, i int64) { vs[i] = v })
			case int64:
				return tcolumn(id, make([]int64, n), n, func(i int64) bool { return isNull(start + i) }, func(vs []int64, i int64) { vs[i] = v })
			case float64:
				return tcolumn(id, make([]float64, n), n, func(i int64) bool { return isNull(start + i) }, func(vs []float64, i int64) { vs[i] = v })
			case bool:
				return tcolumn(id, make([]bool, n), n, func(i int64) bool { return isNull(start + i) }, func(vs []bool, i int64) { vs[i] = v })
			case []byte:
				return tcolumn(id, make([][]byte, n), n, func(i int64) bool { return isNull(start + i) }, func(vs [][]byte, i int64) { vs[i] = v })
			default:
				s := v.(string)
				return tcolumn(id, make([]string, n), n, func(i int64) bool { return isNull(start + i) }, func(vs []string, i int64) { vs[i] = s })
			}
		}}
	}
	return []column{
		one(2, typeTinyint, "tiny", int8(1)),
		one(3, typeSmallint, "small", int16(2)),
		one(4, typeInt, "i", int32(3)),
		one(5, typeBigint, "big", int64(4)),
		one(6, typeFloat, "f", float64(1.5)),
		one(6, typeDouble, "d", float64(2.25)),
		one(7, typeDecimal, "dec", "12345678901234567890.123456789"),
		one(1, typeBoolean, "b", true),
		one(7, typeString, "s", "héllo"),
		one(7, typeDate, "dt", "2024-02-29"),
		one(7, typeTimestamp, "ts", "2024-02-29 12:34:56.123456"),
		one(8, typeBinary, "bin", []byte{0xde, 0xad, 0xbe, 0xef}),
		one(7, typeArray, "arr", "[1,2,3]"),
		one(7, typeMap, "m", `{"a":1}`),
		one(7, typeStruct, "st", `{"x":1,"y":"z"}`),
	}
}

// tcolumn builds a TColumn whose union field id holds n values set by set,
// with the NULL bitmap from null.
func tcolumn[T any](id int16, vs []T, n int64, null func(int64) bool, set func([]T, int64)) strct {
	nulls := make([]byte, (n+7)/8)
	for i := range n {
		if null(i) {
			nulls[i/8] |= 1 << (i % 8)
			continue
		}
		set(vs, i)
	}
	return strct{{id, strct{{1, any(vs)}, {2, nulls}}}}
}

func success() strct { return strct{{1, statusSuccess}} }

func invalidHandle() strct {
	return strct{{1, statusInvalidHandle}, {5, "Invalid OperationHandle"}}
}

func handleID(guid []byte) strct {
	return strct{{1, guid}, {2, newGUID()}}
}

func newGUID() []byte {
	b := make([]byte, 16)
	rand.Read(b)
	return b
}
