package drivers_test

import (
	"testing"

	"github.com/queryd/queryd/drivers"
)

func TestAutoLimit(t *testing.T) {
	top := drivers.Dialect{TopLimit: true}
	tests := []struct {
		name    string
		dialect drivers.Dialect
		in      string
		want    string
	}{
		{"select", drivers.ANSI, "SELECT * FROM t", "SELECT * FROM t LIMIT 1000"},
		{"lower case, trailing semicolon and comment", drivers.ANSI, "select a from t;  -- the end\n", "select a from t LIMIT 1000"},
		{"block comment first", drivers.ANSI, "/* report */ SELECT 1", "/* report */ SELECT 1 LIMIT 1000"},
		{"has a limit", drivers.ANSI, "SELECT * FROM t LIMIT 5", "SELECT * FROM t LIMIT 5"},
		{"has an offset", drivers.ANSI, "SELECT * FROM t OFFSET 5", "SELECT * FROM t OFFSET 5"},
		{"fetch first", drivers.ANSI, "SELECT * FROM t FETCH FIRST 5 ROWS ONLY", "SELECT * FROM t FETCH FIRST 5 ROWS ONLY"},
		{"limit only in a subquery", drivers.ANSI, "SELECT * FROM (SELECT * FROM t LIMIT 5) s", "SELECT * FROM (SELECT * FROM t LIMIT 5) s LIMIT 1000"},
		{"limit only in a string", drivers.ANSI, "SELECT 'LIMIT 5' AS s", "SELECT 'LIMIT 5' AS s LIMIT 1000"},
		{"limit in an escaped string", drivers.ANSI, "SELECT 'it''s LIMIT' AS s", "SELECT 'it''s LIMIT' AS s LIMIT 1000"},
		{"limit only in a quoted name", drivers.ANSI, `SELECT 1 AS "limit"`, `SELECT 1 AS "limit" LIMIT 1000`},
		{"limit only in a comment", drivers.ANSI, "SELECT 1 /* LIMIT 5 */", "SELECT 1 LIMIT 1000"},
		{"not a select", drivers.ANSI, "WITH x AS (SELECT 1) SELECT * FROM x", "WITH x AS (SELECT 1) SELECT * FROM x"},
		{"insert", drivers.ANSI, "INSERT INTO t SELECT 1", "INSERT INTO t SELECT 1"},
		{"select into", drivers.ANSI, "SELECT * INTO t2 FROM t", "SELECT * INTO t2 FROM t"},
		{"last statement only", drivers.ANSI, "SET x = 1; SELECT 2", "SET x = 1; SELECT 2 LIMIT 1000"},
		{"unterminated string", drivers.ANSI, "SELECT 'oops", "SELECT 'oops"},
		{"unbalanced parenthesis", drivers.ANSI, "SELECT (1", "SELECT (1"},
		{"empty", drivers.ANSI, "  ", "  "},
		{"top", top, "SELECT a FROM t", "SELECT TOP 1000 a FROM t"},
		{"top after distinct", top, "select distinct a from t;", "select distinct TOP 1000 a from t"},
		{"has a top", top, "SELECT TOP 5 a FROM t", "SELECT TOP 5 a FROM t"},
		{"bracketed name", top, "SELECT [top] FROM t", "SELECT TOP 1000 [top] FROM t"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.dialect.AutoLimit(tc.in, drivers.AutoLimitRows); got != tc.want {
				t.Errorf("AutoLimit(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
