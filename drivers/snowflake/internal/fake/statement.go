package fake

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// statement is one statement the fake runs. Its fields after sql are
// guarded by Server.mu.
type statement struct {
	seq       int64
	id        string // Snowflake's query id
	requestID string // the client's request id, for the abort request
	sql       string
	async     bool // submitted with asyncExec
	session   *session

	done    chan struct{} // closed once result or failure is set
	stop    chan struct{} // closed when the statement ends, to interrupt a wait
	result  *result
	failure *sqlError

	sent      bool         // the result (or failure) went to the client
	fetching  bool         // sent, and chunks remain to be downloaded
	chunks    int          // chunks in the result
	served    map[int]bool // chunks downloaded in full
	inflight  int          // chunk downloads in progress
	lastFetch time.Time    // when the result was sent or a chunk download ended
	endedBy   string       // how it ended; "" while it runs
}

// sqlError is a statement's failure, as Snowflake reports it.
type sqlError struct {
	code, sqlState, message string
}

var cancelledError = &sqlError{code: "000604", sqlState: "57014", message: "SQL execution canceled"}

// result is a statement's rows, produced on demand so that a large result
// is never held in memory.
type result struct {
	columns []rowType
	total   int
	rows    func(from, to int) [][]*string // rows [from, to) as Snowflake's JSON text
}

// rowType describes a result column as the query response's "rowtype" does.
type rowType struct {
	Name       string `json:"name"`
	Type       string `json:"type"` // fixed, real, text, boolean, date, time, timestamp_ntz, …
	Precision  int    `json:"precision"`
	Scale      int    `json:"scale"`
	Length     int    `json:"length"`
	ByteLength int    `json:"byteLength"`
	Nullable   bool   `json:"nullable"`
}

var statementSeq atomic.Int64

// start registers a statement for sqlText and starts running it.
func (s *Server) start(ss *session, requestID, sqlText string, async bool) *statement {
	st := &statement{
		seq:       statementSeq.Add(1),
		id:        newID(),
		requestID: requestID,
		sql:       sqlText,
		async:     async,
		session:   ss,
		done:      make(chan struct{}),
		stop:      make(chan struct{}),
		served:    make(map[int]bool),
	}
	p := s.plan(sqlText)
	s.mu.Lock()
	s.statements[st.id] = st
	if requestID != "" {
		s.byRequest[requestID] = st
	}
	timeout := 0
	if v, ok := ss.params["STATEMENT_TIMEOUT_IN_SECONDS"]; ok {
		timeout, _ = strconv.Atoi(v)
	}
	switch {
	case p.failure != nil:
		s.completeLocked(st, nil, p.failure)
	case p.wait == 0:
		s.completeLocked(st, p.result, nil)
	default:
		wait, onTimeout := p.wait, false
		if timeout > 0 && time.Duration(timeout)*time.Second < wait {
			wait, onTimeout = time.Duration(timeout)*time.Second, true
		}
		go s.finishAfter(st, wait, onTimeout, timeout, p.result)
	}
	s.mu.Unlock()
	return st
}

// finishAfter completes st with res after d, or fails it with Snowflake's
// statement timeout error when onTimeout is set, unless it ends first.
func (s *Server) finishAfter(st *statement, d time.Duration, onTimeout bool, timeout int, res *result) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-st.stop:
		return
	case <-t.C:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if onTimeout {
		s.endLocked(st, "statement timeout", &sqlError{code: "000630", sqlState: "57014",
			message: fmt.Sprintf("Statement reached its statement or warehouse timeout of %d second(s) and was canceled.", timeout)})
		return
	}
	s.completeLocked(st, res, nil)
}

// completeLocked sets st's outcome once it has run to its end.
func (s *Server) completeLocked(st *statement, res *result, failure *sqlError) {
	select {
	case <-st.done:
		return
	default:
	}
	st.result, st.failure = res, failure
	close(st.done)
	if failure != nil {
		st.endedBy = "failed"
		close(st.stop)
	}
}

// endLocked ends st for reason; a statement still executing fails with
// failure.
func (s *Server) endLocked(st *statement, reason string, failure *sqlError) {
	if st.endedBy != "" {
		return
	}
	st.endedBy = reason
	select {
	case <-st.done:
	default:
		st.failure = failure
		close(st.done)
	}
	close(st.stop)
}

// sentLocked records that st's result went to the client.
func (s *Server) sentLocked(st *statement) {
	st.sent = true
	st.lastFetch = time.Now()
	if st.result.total > firstRowsetRows {
		st.chunks = (st.result.total - firstRowsetRows + chunkRows - 1) / chunkRows
		st.fetching = true
		return
	}
	if st.endedBy == "" {
		st.endedBy = "finished"
		close(st.stop)
	}
}

// runningLocked reports whether st counts as running (see the package
// comment).
func (s *Server) runningLocked(st *statement) bool {
	switch {
	case st.endedBy != "":
		return false
	case !st.sent:
		return true
	default:
		return st.fetching && (st.inflight > 0 || time.Since(st.lastFetch) < s.FetchIdle)
	}
}

// plan is what running a statement amounts to: a result (after wait), or a
// failure.
type plan struct {
	result  *result
	wait    time.Duration
	failure *sqlError
}

var (
	lineComment  = regexp.MustCompile(`--[^\n]*`)
	blockComment = regexp.MustCompile(`(?s)/\*.*?\*/`)
	spaces       = regexp.MustCompile(`\s+`)

	selectOne   = regexp.MustCompile(`(?i)^SELECT 1$`)
	generator   = regexp.MustCompile(`(?i)^SELECT ROW_NUMBER\(\) OVER \(ORDER BY SEQ4\(\)\) AS "n", 'row ' \|\| "n" AS "label" FROM TABLE\(GENERATOR\(ROWCOUNT => (\d+)\)\)$`)
	wait        = regexp.MustCompile(`(?i)^SELECT SYSTEM\$WAIT\((\d+)\)$`)
	cancelQuery = regexp.MustCompile(`(?i)^SELECT SYSTEM\$CANCEL_QUERY\('([^']*)'\)$`)
	columnsOf   = regexp.MustCompile(`(?i)^SELECT (.+?) FROM ("?[A-Za-z0-9_$]+"?)\.INFORMATION_SCHEMA\.COLUMNS( .*)?$`)
	selectStar  = regexp.MustCompile(`(?i)^SELECT \* FROM ([A-Za-z0-9_$.]+)( LIMIT (\d+))?$`)
	firstWord   = regexp.MustCompile(`^[^\s(;]+`)
)

// keywords are the statements Snowflake knows; the fake runs only some
// forms of SELECT, and calls anything else not starting with one of these a
// syntax error.
var keywords = []string{"ALTER", "BEGIN", "CALL", "COMMIT", "COPY", "CREATE", "DELETE", "DESC", "DESCRIBE",
	"DROP", "EXPLAIN", "GET", "GRANT", "INSERT", "LIST", "MERGE", "PUT", "REVOKE", "ROLLBACK", "SELECT",
	"SET", "SHOW", "TRUNCATE", "UNDROP", "UNSET", "UPDATE", "USE", "WITH"}

// plan decides what sqlText does.
func (s *Server) plan(sqlText string) plan {
	q := blockComment.ReplaceAllString(sqlText, " ")
	q = lineComment.ReplaceAllString(q, " ")
	q = strings.TrimSuffix(strings.TrimSpace(spaces.ReplaceAllString(q, " ")), ";")
	q = strings.TrimSpace(q)

	if m := generator.FindStringSubmatch(q); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil {
			return plan{failure: compileError("number too large in ROWCOUNT")}
		}
		return plan{result: series(n)}
	}
	if m := wait.FindStringSubmatch(q); m != nil {
		secs, _ := strconv.Atoi(m[1])
		return plan{wait: time.Duration(secs) * time.Second, result: single("SYSTEM$WAIT("+m[1]+")", "waited "+m[1]+" seconds")}
	}
	if m := cancelQuery.FindStringSubmatch(q); m != nil {
		return plan{result: single("SYSTEM$CANCEL_QUERY('"+m[1]+"')", s.cancel(m[1]))}
	}
	if m := columnsOf.FindStringSubmatch(q); m != nil {
		return informationSchemaColumns(m[1], m[2])
	}
	if m := selectStar.FindStringSubmatch(q); m != nil {
		return selectTable(m[1], m[3])
	}
	if selectOne.MatchString(q) {
		one := "1"
		return plan{result: &result{
			columns: []rowType{{Name: "1", Type: "fixed", Precision: 1}},
			total:   1,
			rows:    func(from, to int) [][]*string { return [][]*string{{&one}}[from:to] },
		}}
	}
	word := firstWord.FindString(q)
	if !slices.Contains(keywords, strings.ToUpper(word)) {
		return plan{failure: &sqlError{code: "001003", sqlState: "42000",
			message: "SQL compilation error:\nsyntax error line 1 at position 0 unexpected '" + word + "'."}}
	}
	return plan{failure: &sqlError{code: "000002", sqlState: "0A000",
		message: "Unsupported feature: the fake Snowflake runs only a small SQL subset."}}
}

func compileError(msg string) *sqlError {
	return &sqlError{code: "001003", sqlState: "42000", message: "SQL compilation error:\n" + msg}
}

// cancel stops the statement with query id id, as SYSTEM$CANCEL_QUERY does,
// and returns the function's answer.
func (s *Server) cancel(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.statements[id]
	if st == nil || st.endedBy != "" || st.result != nil || st.failure != nil {
		return "Identified SQL statement is not currently executing."
	}
	s.endLocked(st, "SYSTEM$CANCEL_QUERY", cancelledError)
	return "query [" + id + "] terminated."
}

// single is a one-row, one-column text result.
func single(column, value string) *result {
	return &result{
		columns: []rowType{{Name: column, Type: "text", Length: 16777216, ByteLength: 16777216, Nullable: true}},
		total:   1,
		rows:    func(from, to int) [][]*string { return [][]*string{{&value}}[from:to] },
	}
}

// series is the generator's result: n (1..count) and label ("row <n>").
func series(count int) *result {
	return &result{
		columns: []rowType{
			{Name: "n", Type: "fixed", Precision: 18},
			{Name: "label", Type: "text", Length: 16777216, ByteLength: 16777216},
		},
		total: count,
		rows: func(from, to int) [][]*string {
			out := make([][]*string, 0, to-from)
			for i := from + 1; i <= to; i++ {
				n := strconv.Itoa(i)
				label := "row " + n
				out = append(out, []*string{&n, &label})
			}
			return out
		},
	}
}

// selectTable is SELECT * FROM a table of the catalog, with an optional
// LIMIT.
func selectTable(name, limit string) plan {
	t := lookup(name)
	if t == nil {
		return plan{failure: &sqlError{code: "002003", sqlState: "42S02",
			message: "SQL compilation error:\nObject '" + strings.ToUpper(name) + "' does not exist or not authorized."}}
	}
	rows := t.Rows
	if limit != "" {
		n, _ := strconv.Atoi(limit)
		rows = rows[:min(n, len(rows))]
	}
	cols := make([]rowType, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = c.rowType
	}
	return plan{result: &result{columns: cols, total: len(rows), rows: func(from, to int) [][]*string { return rows[from:to] }}}
}

// informationSchemaColumns answers SELECT <columns> FROM
// <db>.INFORMATION_SCHEMA.COLUMNS …: every column of the catalog, outside
// INFORMATION_SCHEMA, sorted by schema, table and position. The select list
// is honoured; the WHERE and ORDER BY clauses are not read.
func informationSchemaColumns(selectList, db string) plan {
	if !strings.EqualFold(strings.Trim(db, `"`), Database) {
		return plan{failure: &sqlError{code: "002003", sqlState: "02000",
			message: "SQL compilation error:\nDatabase '" + strings.ToUpper(strings.Trim(db, `"`)) + "' does not exist or not authorized."}}
	}
	type field struct {
		name  string
		typ   rowType
		value func(t *Table, pos int, c Column) *string
	}
	text := func(s string) *string { return &s }
	num := func(n int) *string {
		if n < 0 {
			return nil
		}
		return text(strconv.Itoa(n))
	}
	textType := rowType{Type: "text", Length: 16777216, ByteLength: 16777216, Nullable: true}
	numType := rowType{Type: "fixed", Precision: 9, Nullable: true}
	known := map[string]field{
		"TABLE_CATALOG":            {typ: textType, value: func(*Table, int, Column) *string { return text(Database) }},
		"TABLE_SCHEMA":             {typ: textType, value: func(t *Table, _ int, _ Column) *string { return text(t.Schema) }},
		"TABLE_NAME":               {typ: textType, value: func(t *Table, _ int, _ Column) *string { return text(t.Name) }},
		"COLUMN_NAME":              {typ: textType, value: func(_ *Table, _ int, c Column) *string { return text(c.Name) }},
		"ORDINAL_POSITION":         {typ: numType, value: func(_ *Table, pos int, _ Column) *string { return num(pos) }},
		"DATA_TYPE":                {typ: textType, value: func(_ *Table, _ int, c Column) *string { return text(c.DataType) }},
		"CHARACTER_MAXIMUM_LENGTH": {typ: numType, value: func(_ *Table, _ int, c Column) *string { return num(c.charLength()) }},
		"NUMERIC_PRECISION":        {typ: numType, value: func(_ *Table, _ int, c Column) *string { return num(c.numeric(c.rowType.Precision)) }},
		"NUMERIC_SCALE":            {typ: numType, value: func(_ *Table, _ int, c Column) *string { return num(c.numeric(c.rowType.Scale)) }},
		"IS_NULLABLE":              {typ: textType, value: func(*Table, int, Column) *string { return text("YES") }},
	}
	var fields []field
	for _, name := range strings.Split(selectList, ",") {
		name = strings.ToUpper(strings.TrimSpace(name))
		f, ok := known[name]
		if !ok {
			return plan{failure: compileError("error line 1 at position 7\ninvalid identifier '" + name + "'")}
		}
		f.name = name
		f.typ.Name = name
		fields = append(fields, f)
	}
	tables := slices.Clone(Catalog)
	slices.SortFunc(tables, func(a, b *Table) int {
		return strings.Compare(a.Schema+"."+a.Name, b.Schema+"."+b.Name)
	})
	var rows [][]*string
	for _, t := range tables {
		for i, c := range t.Columns {
			row := make([]*string, len(fields))
			for j, f := range fields {
				row[j] = f.value(t, i+1, c)
			}
			rows = append(rows, row)
		}
	}
	cols := make([]rowType, len(fields))
	for i, f := range fields {
		cols[i] = f.typ
	}
	return plan{result: &result{columns: cols, total: len(rows), rows: func(from, to int) [][]*string { return rows[from:to] }}}
}

// jwtUser is the user a key-pair login token's subject ("ACCOUNT.USER")
// names, read without checking the signature; "" if there is none.
func jwtUser(token string) string {
	claims, err := jwtClaims(token)
	if err != nil {
		return ""
	}
	_, user, _ := strings.Cut(claims.Sub, ".")
	return user
}

type claims struct {
	Sub string `json:"sub"`
	Exp int64  `json:"exp"`
}

func jwtClaims(token string) (claims, error) {
	var c claims
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return c, errors.New("not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return c, err
	}
	return c, json.Unmarshal(payload, &c)
}

// verifyJWT checks a key-pair login token: an RS256 JWT signed by key, for
// user, not expired. (Snowflake also checks the issuer's key fingerprint.)
func verifyJWT(token string, key *rsa.PublicKey, account, user string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errors.New("not a JWT")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig); err != nil {
		return err
	}
	claims, err := jwtClaims(token)
	if err != nil {
		return err
	}
	if !strings.EqualFold(claims.Sub, account+"."+user) {
		return fmt.Errorf("token for %q, want %q", claims.Sub, account+"."+user)
	}
	if time.Now().Unix() > claims.Exp {
		return errors.New("token expired")
	}
	return nil
}
