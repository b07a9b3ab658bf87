package fake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The SQL the fake runs. Statements are recognised by their shape, not
// parsed; anything else is an error in BigQuery's words.
const (
	// TypesSQL returns one row with a value of every scalar type (and a
	// STRUCT), then one row of NULLs.
	TypesSQL = `SELECT * FROM UNNEST([
  STRUCT(42 AS i, 2.5 AS f, NUMERIC '12345678901234567890.123456789' AS num,
    BIGNUMERIC '-0.12345678901234567890123456789012345678' AS bignum, TRUE AS b, 'héllo' AS s,
    b'\x00\x01\xfe\xff' AS raw, DATE '2024-02-29' AS day, DATETIME '2024-02-29 13:14:15.123456' AS dt,
    TIMESTAMP '2024-02-29 13:14:15.123456+02:00' AS ts, TIME '13:14:15.5' AS tm,
    ST_GEOGPOINT(1, 2) AS geo, JSON '{"b": 1, "a": [true, null]}' AS doc,
    INTERVAL '1-2 3 4:5:6' YEAR TO SECOND AS span,
    STRUCT(1 AS x, 'y' AS y, [DATE '2024-01-01'] AS z) AS rec),
  STRUCT(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
])`

	// NestedSQL returns one row of REPEATED columns: integers, records,
	// and an empty array (BigQuery's NULL array).
	NestedSQL = `SELECT [1, 2, 3] AS ints, [STRUCT('a' AS k, 1.5 AS v), STRUCT('b"' AS k, NULL AS v)] AS pairs, ARRAY<STRING>[] AS none`

	// PingSQL is the statement a connection test dry-runs.
	PingSQL = `SELECT 1`
)

// SeriesSQL returns the fake's series statement: columns n (INT64, 1..count)
// and label (STRING, "label <n>").
func SeriesSQL(count int) string {
	return fmt.Sprintf("SELECT n, CONCAT('label ', CAST(n AS STRING)) AS label FROM UNNEST(GENERATE_ARRAY(1, %d)) AS n", count)
}

// SleepSQL returns a statement the fake keeps RUNNING for d (BigQuery has
// no sleep): a one-row SELECT whose comment the fake reads. marker may be
// any text without "*/".
func SleepSQL(d time.Duration, marker string) string {
	return fmt.Sprintf("SELECT 'slept' AS slept /* fake:sleep %s %s */", d, marker)
}

var (
	seriesRE = regexp.MustCompile(`(?is)^\s*SELECT\s+n\s*,\s*CONCAT\('label ',\s*CAST\(n AS STRING\)\)\s+AS\s+label\s+FROM\s+UNNEST\(GENERATE_ARRAY\(1,\s*(\d+)\)\)\s+AS\s+n\s*$`)
	sleepRE  = regexp.MustCompile(`(?s)/\*\s*fake:sleep\s+(\S+)`)
	wordRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*`)
	spaceRE  = regexp.MustCompile(`\s+`)
)

// statement is what a query does once the fake recognises it.
type statement struct {
	res   *result
	sleep time.Duration // keep RUNNING this long before res
	lazy  bool          // rows are produced as fetched: RUNNING until the last page
	err   *errorProto
}

// result is a query result that writes its rows on demand, so a large
// series is never held in memory.
type result struct {
	schema []Field
	total  int64
	row    func(b *bytes.Buffer, i int64) // writes row i as {"f":[{"v":…},…]}
}

func parse(sql string) statement {
	norm := strings.TrimSpace(spaceRE.ReplaceAllString(sql, " "))
	switch {
	case seriesRE.MatchString(sql):
		n, err := strconv.ParseInt(seriesRE.FindStringSubmatch(sql)[1], 10, 64)
		if err != nil {
			return statement{err: invalid("GENERATE_ARRAY produced too many elements")}
		}
		return statement{res: series(n), lazy: true}
	case sleepRE.MatchString(sql):
		d, err := time.ParseDuration(sleepRE.FindStringSubmatch(sql)[1])
		if err != nil || d <= 0 {
			return statement{err: invalid("fake: bad sleep duration")}
		}
		return statement{sleep: d, res: fixed([]Field{{Name: "slept", Type: "STRING", Mode: "NULLABLE"}}, `{"f":[{"v":"slept"}]}`)}
	case norm == spaceRE.ReplaceAllString(TypesSQL, " "):
		return statement{res: typesResult()}
	case norm == NestedSQL:
		return statement{res: fixed([]Field{
			{Name: "ints", Type: "INTEGER", Mode: "REPEATED"},
			{Name: "pairs", Type: "RECORD", Mode: "REPEATED", Fields: []Field{{Name: "k", Type: "STRING", Mode: "NULLABLE"}, {Name: "v", Type: "FLOAT", Mode: "NULLABLE"}}},
			{Name: "none", Type: "STRING", Mode: "REPEATED"},
		}, `{"f":[{"v":[{"v":"1"},{"v":"2"},{"v":"3"}]},`+
			`{"v":[{"v":{"f":[{"v":"a"},{"v":"1.5"}]}},{"v":{"f":[{"v":"b\""},{"v":null}]}}]},{"v":[]}]}`)}
	case strings.EqualFold(norm, PingSQL):
		return statement{res: fixed([]Field{{Name: "f0_", Type: "INTEGER", Mode: "NULLABLE"}}, `{"f":[{"v":"1"}]}`)}
	}
	word := wordRE.FindString(norm)
	if w := strings.ToUpper(word); w != "SELECT" && w != "WITH" {
		if word == "" {
			return statement{err: invalid("Syntax error: Unexpected end of script at [1:1]")}
		}
		return statement{err: invalid(fmt.Sprintf("Syntax error: Unexpected identifier %q at [1:1]", word))}
	}
	return statement{err: invalid("fake: statement not supported by the fake BigQuery")}
}

func invalid(msg string) *errorProto {
	return &errorProto{Reason: "invalidQuery", Location: "query", Message: msg}
}

func series(n int64) *result {
	return &result{
		schema: []Field{{Name: "n", Type: "INTEGER", Mode: "NULLABLE"}, {Name: "label", Type: "STRING", Mode: "NULLABLE"}},
		total:  n,
		row: func(b *bytes.Buffer, i int64) {
			fmt.Fprintf(b, `{"f":[{"v":"%d"},{"v":"label %d"}]}`, i+1, i+1)
		},
	}
}

// fixed is a result of literal rows, in the API's JSON.
func fixed(schema []Field, rows ...string) *result {
	return &result{schema: schema, total: int64(len(rows)), row: func(b *bytes.Buffer, i int64) { b.WriteString(rows[i]) }}
}

func typesResult() *result {
	ts := time.Date(2024, 2, 29, 11, 14, 15, 123456000, time.UTC).UnixMicro()
	doc, _ := json.Marshal(`{"a":[true,null],"b":1}`)
	values := []string{
		`"42"`, `"2.5"`, `"12345678901234567890.123456789"`, `"-0.12345678901234567890123456789012345678"`,
		`"true"`, `"héllo"`, `"AAH+/w=="`, `"2024-02-29"`, `"2024-02-29T13:14:15.123456"`,
		fmt.Sprintf(`"%d"`, ts), `"13:14:15.500000"`, `"POINT(1 2)"`, string(doc), `"1-2 3 4:5:6"`,
		`{"f":[{"v":"1"},{"v":"y"},{"v":[{"v":"2024-01-01"}]}]}`,
	}
	var first, nulls strings.Builder
	first.WriteString(`{"f":[`)
	nulls.WriteString(`{"f":[`)
	for i, v := range values {
		if i > 0 {
			first.WriteByte(',')
			nulls.WriteByte(',')
		}
		first.WriteString(`{"v":` + v + `}`)
		nulls.WriteString(`{"v":null}`)
	}
	first.WriteString(`]}`)
	nulls.WriteString(`]}`)
	n := func(name, typ string) Field { return Field{Name: name, Type: typ, Mode: "NULLABLE"} }
	return fixed([]Field{
		n("i", "INTEGER"), n("f", "FLOAT"), n("num", "NUMERIC"), n("bignum", "BIGNUMERIC"), n("b", "BOOLEAN"),
		n("s", "STRING"), n("raw", "BYTES"), n("day", "DATE"), n("dt", "DATETIME"), n("ts", "TIMESTAMP"),
		n("tm", "TIME"), n("geo", "GEOGRAPHY"), n("doc", "JSON"), n("span", "INTERVAL"),
		{Name: "rec", Type: "RECORD", Mode: "NULLABLE", Fields: []Field{
			n("x", "INTEGER"), n("y", "STRING"), {Name: "z", Type: "DATE", Mode: "REPEATED"},
		}},
	}, first.String(), nulls.String())
}
