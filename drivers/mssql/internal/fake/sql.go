package fake

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Statements the fake recognises by their text. Each is also valid T-SQL
// with the same result on SQL Server 2022, so tests can run them on both.
const (
	// TypesQuery returns one row with a value of each type the fake
	// encodes, and one row of NULLs.
	TypesQuery = `SELECT CAST(42 AS INT) AS i, CAST(9007199254740993 AS BIGINT) AS big, ` +
		`CAST(-7 AS SMALLINT) AS small, CAST(1.5 AS FLOAT) AS f, ` +
		`CAST('-12345678901234567890.1234' AS DECIMAL(38,4)) AS d, CAST(12.5 AS MONEY) AS m, ` +
		`CAST(1 AS BIT) AS b, CAST(N'héllo, wörld' AS NVARCHAR(20)) AS s, ` +
		`CAST('6F9619FF-8B86-D011-B42D-00C04FC964FF' AS UNIQUEIDENTIFIER) AS g, ` +
		`CAST('2024-02-29' AS DATE) AS dt, CAST('2024-02-29T13:14:15.1234567' AS DATETIME2(7)) AS ts, ` +
		`CAST('2024-02-29T13:14:15.500+05:30' AS DATETIMEOFFSET(3)) AS tz, ` +
		`CAST('13:14:15.25' AS TIME(2)) AS tm, CAST(0xDEADBEEF AS VARBINARY(4)) AS bin ` +
		`UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL`

	// EmptyQuery returns the columns n INT and label NVARCHAR(10), and no rows.
	EmptyQuery = `SELECT CAST(1 AS INT) AS n, CAST(N'x' AS NVARCHAR(10)) AS label WHERE 1 = 0`
)

// SeriesQuery returns n rows (n INT 1..n, label 'label <n>'); n may also be
// a parameter name such as "@p1".
func SeriesQuery(n string) string {
	return "SELECT value AS n, CONCAT('label ', value) AS label FROM GENERATE_SERIES(1, " + n + ")"
}

var (
	typesCols = []Column{
		{"i", Int}, {"big", BigInt}, {"small", SmallInt}, {"f", Float},
		{"d", Decimal(38, 4)}, {"m", Money}, {"b", Bit}, {"s", NVarChar(20)},
		{"g", GUID}, {"dt", Date}, {"ts", DateTime2(7)}, {"tz", DateTimeOffset(3)},
		{"tm", Time(2)}, {"bin", VarBinary(4)},
	}
	typesRow = []any{
		int64(42), int64(9007199254740993), int64(-7), 1.5,
		"-12345678901234567890.1234", "12.5000", true, "héllo, wörld",
		"6F9619FF-8B86-D011-B42D-00C04FC964FF",
		time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 2, 29, 13, 14, 15, 123456700, time.UTC),
		time.Date(2024, 2, 29, 13, 14, 15, 500000000, time.FixedZone("", 5*3600+30*60)),
		13*time.Hour + 14*time.Minute + 15250*time.Millisecond,
		[]byte{0xDE, 0xAD, 0xBE, 0xEF},
	}

	// The catalog INFORMATION_SCHEMA.COLUMNS reports, in schema, table and
	// ordinal order.
	schemaCols = []Column{
		{"TABLE_SCHEMA", NVarChar(128)}, {"TABLE_NAME", NVarChar(128)},
		{"COLUMN_NAME", NVarChar(128)}, {"DATA_TYPE", NVarChar(128)},
	}
	schemaRows = [][]any{
		{"dbo", "orders", "id", "int"},
		{"dbo", "orders", "amount", "decimal"},
		{"dbo", "orders", "placed_at", "datetime2"},
		{"dbo", "orders", "note", "nvarchar"},
		{"sales", "regions", "code", "nchar"},
		{"sales", "regions", "name", "nvarchar"},
	}

	seriesRE  = regexp.MustCompile(`(?is)^\s*SELECT\s+value\s+AS\s+n\s*,\s*CONCAT\(\s*'label '\s*,\s*value\s*\)\s+AS\s+label\s+FROM\s+GENERATE_SERIES\(\s*1\s*,\s*(\d+|@\w+)\s*\)\s*;?\s*$`)
	waitforRE = regexp.MustCompile(`(?is)^\s*WAITFOR\s+DELAY\s+'(\d{1,2}):(\d{2}):(\d{2})'`)
	spidRE    = regexp.MustCompile(`(?is)^\s*SELECT\s+@@SPID\s*;?\s*$`)
	select1RE = regexp.MustCompile(`(?is)^\s*SELECT\s+1\s*;?\s*$`)
	wordRE    = regexp.MustCompile(`^\s*([^\s(),;]+)`)
)

// execute runs one statement of the fake's subset and sends its response.
func (ss *session) execute(sql string, params map[string]any) error {
	norm := strings.TrimSpace(sql)
	switch {
	case norm == TypesQuery:
		return ss.rows(sql, typesCols, slice([][]any{typesRow, make([]any, len(typesCols))}))
	case norm == EmptyQuery:
		return ss.rows(sql, []Column{{"n", Int}, {"label", NVarChar(10)}}, slice(nil))
	case strings.Contains(strings.ToUpper(norm), "INFORMATION_SCHEMA.COLUMNS"):
		return ss.rows(sql, schemaCols, slice(schemaRows))
	case spidRE.MatchString(norm):
		return ss.rows(sql, []Column{{"", SmallInt}}, slice([][]any{{int64(ss.spid)}}))
	case select1RE.MatchString(norm):
		return ss.rows(sql, []Column{{"", Int}}, slice([][]any{{int64(1)}}))
	}
	if m := seriesRE.FindStringSubmatch(norm); m != nil {
		n, problem := seriesLength(m[1], params)
		if problem != "" {
			return ss.fail(8114, 16, problem)
		}
		i := int64(0)
		row := make([]any, 2)
		return ss.rows(sql, []Column{{"n", Int}, {"label", NVarChar(4000)}}, func() []any {
			if i == n {
				return nil
			}
			i++
			row[0], row[1] = i, "label "+strconv.FormatInt(i, 10)
			return row
		})
	}
	if m := waitforRE.FindStringSubmatch(norm); m != nil {
		h, _ := strconv.Atoi(m[1])
		mi, _ := strconv.Atoi(m[2])
		s, _ := strconv.Atoi(m[3])
		ss.setRunning(sql)
		defer ss.setRunning("")
		status := uint16(doneFinal)
		if ss.sleep(time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute + time.Duration(s)*time.Second) {
			status = doneAttn
		}
		w := newWriter(ss.nc, ss.spid, ss.packetSize)
		w.write(doneToken(nil, status, 0))
		return w.end()
	}
	near := norm
	if m := wordRE.FindStringSubmatch(norm); m != nil {
		near = m[1]
	}
	return ss.fail(102, 15, fmt.Sprintf("Incorrect syntax near '%s'.", near))
}

// seriesLength is GENERATE_SERIES's upper bound: a number, or a parameter
// holding one. A problem is reported in SQL Server's words.
func seriesLength(arg string, params map[string]any) (n int64, problem string) {
	if !strings.HasPrefix(arg, "@") {
		n, err := strconv.ParseInt(arg, 10, 32)
		if err != nil {
			return 0, "Arithmetic overflow error converting expression to data type int."
		}
		return n, ""
	}
	switch v := params[arg].(type) {
	case int64:
		return v, ""
	case nil:
		return 0, fmt.Sprintf("Must declare the scalar variable \"%s\".", arg)
	default:
		return 0, fmt.Sprintf("Operand type clash: %T is incompatible with int", v)
	}
}

// slice returns a row source over rows.
func slice(rows [][]any) func() []any {
	return func() []any {
		if len(rows) == 0 {
			return nil
		}
		r := rows[0]
		rows = rows[1:]
		return r
	}
}

// attnEvery is how many rows are sent between checks for ATTENTION.
const attnEvery = 64

// rows streams a result: COLMETADATA, the rows next returns until nil, and
// DONE with the row count; or, when ATTENTION arrives, DONE_ATTN at once.
// sql counts as running until the DONE is sent.
func (ss *session) rows(sql string, cols []Column, next func() []any) error {
	ss.setRunning(sql)
	defer ss.setRunning("")
	w := newWriter(ss.nc, ss.spid, ss.packetSize)
	buf := colMetadataToken(nil, cols)
	w.write(buf)
	var count uint64
	for {
		if count%attnEvery == 0 && ss.attention() {
			w.write(doneToken(buf[:0], doneAttn, 0))
			return w.end()
		}
		row := next()
		if row == nil {
			break
		}
		buf = rowToken(buf[:0], cols, row)
		w.write(buf)
		if w.err != nil {
			return w.err
		}
		count++
	}
	w.write(doneToken(buf[:0], doneCount, count))
	return w.end()
}
