package mysql

import (
	"fmt"
	"io"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/queryd/queryd/drivers"
)

// queryOne runs sql on conn and returns its columns and its only row.
func queryOne(t *testing.T, conn drivers.Conn, sql string, args ...any) ([]drivers.Column, []any) {
	t.Helper()
	rows, err := conn.Query(t.Context(), sql, args...)
	if err != nil {
		t.Fatalf("Query(%q) error = %v, want nil", sql, err)
	}
	defer rows.Close()
	dest := make([]any, len(rows.Columns()))
	if err := rows.Next(dest); err != nil {
		t.Fatalf("Next() on %q = %v, want nil", sql, err)
	}
	if err := rows.Next(make([]any, len(dest))); err != io.EOF {
		t.Fatalf("second Next() on %q = %v, want io.EOF", sql, err)
	}
	return rows.Columns(), dest
}

// exec runs a statement that returns no rows.
func exec(t *testing.T, conn drivers.Conn, sql string) {
	t.Helper()
	rows, err := conn.Query(t.Context(), sql)
	if err != nil {
		t.Fatalf("Query(%q) error = %v, want nil", sql, err)
	}
	defer rows.Close()
	if err := rows.Next(nil); err != io.EOF {
		t.Fatalf("Next() on %q = %v, want io.EOF", sql, err)
	}
}

func utc(y int, m time.Month, d, h, mi, s, ns int) time.Time {
	return time.Date(y, m, d, h, mi, s, ns, time.UTC)
}

// TestTypes stores one value in a column of each type (a temporary table on
// the pool's only connection) and reads it back.
func TestTypes(t *testing.T) {
	conn := openTest(t, func(o *Options) { o.MaxConnections = 1 })
	// The server reports every TEXT and BLOB column, and JSON, as a BLOB,
	// which the client library names TEXT or BLOB by its character set.
	tests := []struct {
		column string // the column's type
		value  string // the SQL literal stored
		typ    drivers.ColumnType
		dbType string
		want   any
	}{
		{"TINYINT", "-128", drivers.TypeInteger, "TINYINT", int64(math.MinInt8)},
		{"TINYINT(1)", "1", drivers.TypeInteger, "TINYINT", int64(1)},
		{"BOOL", "TRUE", drivers.TypeInteger, "TINYINT", int64(1)},
		{"TINYINT UNSIGNED", "255", drivers.TypeInteger, "UNSIGNED TINYINT", int64(255)},
		{"SMALLINT", "-32768", drivers.TypeInteger, "SMALLINT", int64(math.MinInt16)},
		{"MEDIUMINT UNSIGNED", "16777215", drivers.TypeInteger, "UNSIGNED MEDIUMINT", int64(16777215)},
		{"INT", "-2147483648", drivers.TypeInteger, "INT", int64(math.MinInt32)},
		{"INT UNSIGNED", "4294967295", drivers.TypeInteger, "UNSIGNED INT", int64(math.MaxUint32)},
		{"BIGINT", "9223372036854775807", drivers.TypeInteger, "BIGINT", int64(math.MaxInt64)},
		{"BIGINT", "-9223372036854775808", drivers.TypeInteger, "BIGINT", int64(math.MinInt64)},
		{"BIGINT UNSIGNED", "9223372036854775807", drivers.TypeInteger, "UNSIGNED BIGINT", int64(math.MaxInt64)},
		{"BIGINT UNSIGNED", "18446744073709551615", drivers.TypeInteger, "UNSIGNED BIGINT", drivers.Decimal("18446744073709551615")},
		{"YEAR", "2024", drivers.TypeInteger, "YEAR", int64(2024)},
		{"BIT(1)", "b'1'", drivers.TypeInteger, "BIT", int64(1)},
		{"BIT(12)", "b'101000000001'", drivers.TypeInteger, "BIT", int64(0xa01)},
		{"BIT(64)", "b'1111111111111111111111111111111111111111111111111111111111111111'", drivers.TypeInteger, "BIT", drivers.Decimal("18446744073709551615")},
		{"FLOAT", "1.1", drivers.TypeFloat, "FLOAT", 1.1},
		{"FLOAT", "-3.4e38", drivers.TypeFloat, "FLOAT", -3.4e38},
		{"DOUBLE", "0.1", drivers.TypeFloat, "DOUBLE", 0.1},
		{"DOUBLE", "1.7976931348623157e308", drivers.TypeFloat, "DOUBLE", math.MaxFloat64},
		{"DECIMAL(38, 9)", "12345678901234567890.123456789", drivers.TypeFloat, "DECIMAL", drivers.Decimal("12345678901234567890.123456789")},
		{"DECIMAL(10, 4)", "-12.3", drivers.TypeFloat, "DECIMAL", drivers.Decimal("-12.3000")},
		{"DECIMAL(65, 0)", "99999999999999999999999999999999999999999999999999999999999999999", drivers.TypeFloat, "DECIMAL", drivers.Decimal("99999999999999999999999999999999999999999999999999999999999999999")},
		{"DECIMAL(30, 30)", "0.000000000000000000000000000001", drivers.TypeFloat, "DECIMAL", drivers.Decimal("0.000000000000000000000000000001")},
		{"DATE", "'2024-02-29'", drivers.TypeDate, "DATE", utc(2024, 2, 29, 0, 0, 0, 0)},
		{"DATE", "'1000-01-01'", drivers.TypeDate, "DATE", utc(1000, 1, 1, 0, 0, 0, 0)},
		{"DATE", "'0000-00-00'", drivers.TypeDate, "DATE", nil},
		{"DATE", "'2024-02-00'", drivers.TypeDate, "DATE", nil},
		{"DATETIME(6)", "'2024-02-29 13:14:15.123456'", drivers.TypeDatetime, "DATETIME", "2024-02-29T13:14:15.123456"},
		{"DATETIME(6)", "'2024-02-29 13:14:15.5'", drivers.TypeDatetime, "DATETIME", "2024-02-29T13:14:15.5"},
		{"DATETIME", "'9999-12-31 23:59:59'", drivers.TypeDatetime, "DATETIME", "9999-12-31T23:59:59"},
		{"DATETIME", "'0000-00-00 00:00:00'", drivers.TypeDatetime, "DATETIME", nil},
		{"TIMESTAMP(6)", "'2024-02-29 13:14:15.123456'", drivers.TypeDatetime, "TIMESTAMP", utc(2024, 2, 29, 13, 14, 15, 123456000)},
		{"TIMESTAMP", "'1970-01-01 00:00:01'", drivers.TypeDatetime, "TIMESTAMP", utc(1970, 1, 1, 0, 0, 1, 0)},
		{"TIMESTAMP", "'0000-00-00 00:00:00'", drivers.TypeDatetime, "TIMESTAMP", nil},
		{"TIME(3)", "'-838:59:59.5'", drivers.TypeString, "TIME", "-838:59:59.500"},
		{"CHAR(4)", "'ab'", drivers.TypeString, "CHAR", "ab"},
		{"VARCHAR(10)", "'héllo'", drivers.TypeString, "VARCHAR", "héllo"},
		{"VARCHAR(10)", "''", drivers.TypeString, "VARCHAR", ""},
		{"TINYTEXT", "'t'", drivers.TypeString, "TEXT", "t"},
		{"TEXT", "'t'", drivers.TypeString, "TEXT", "t"},
		{"MEDIUMTEXT", "'t'", drivers.TypeString, "TEXT", "t"},
		{"LONGTEXT", "'t'", drivers.TypeString, "TEXT", "t"},
		{"JSON", `'{"b": 2, "a": [1]}'`, drivers.TypeString, "TEXT", `{"b": 2, "a": [1]}`},
		{"ENUM('sad', 'happy')", "'happy'", drivers.TypeString, "ENUM", "happy"},
		{"SET('a', 'b', 'c')", "'a,c'", drivers.TypeString, "SET", "a,c"},
		{"BINARY(3)", "X'00FF'", drivers.TypeString, "BINARY", []byte{0, 0xff, 0}},
		{"VARBINARY(4)", "X'00FF'", drivers.TypeString, "VARBINARY", []byte{0, 0xff}},
		{"VARBINARY(4)", "''", drivers.TypeString, "VARBINARY", []byte{}},
		{"TINYBLOB", "X'01'", drivers.TypeString, "BLOB", []byte{1}},
		{"BLOB", "X'01'", drivers.TypeString, "BLOB", []byte{1}},
		{"MEDIUMBLOB", "X'01'", drivers.TypeString, "BLOB", []byte{1}},
		{"LONGBLOB", "X'01'", drivers.TypeString, "BLOB", []byte{1}},
		{"INET6", "'::1'", drivers.TypeString, "CHAR", "::1"},
		{"UUID", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", drivers.TypeString, "CHAR", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
		{"INT", "NULL", drivers.TypeInteger, "INT", nil},
		{"TEXT", "NULL", drivers.TypeString, "TEXT", nil},
		{"DATETIME", "NULL", drivers.TypeDatetime, "DATETIME", nil},
	}
	for _, tc := range tests {
		t.Run(tc.column+" "+tc.value, func(t *testing.T) {
			exec(t, conn, "CREATE TEMPORARY TABLE drivertest_types (v "+tc.column+")")
			defer exec(t, conn, "DROP TEMPORARY TABLE drivertest_types")
			exec(t, conn, "SET SESSION sql_mode = ''") // allows zero dates
			exec(t, conn, "INSERT INTO drivertest_types VALUES ("+tc.value+")")
			exec(t, conn, "SET SESSION sql_mode = DEFAULT")
			sql := "SELECT v FROM drivertest_types"
			cols, row := queryOne(t, conn, sql)
			if diff := cmp.Diff([]drivers.Column{{Name: "v", Type: tc.typ, DatabaseType: tc.dbType}}, cols); diff != "" {
				t.Errorf("Query(%q).Columns() for a %s column mismatch (-want +got):\n%s", sql, tc.column, diff)
			}
			if diff := cmp.Diff(tc.want, row[0]); diff != "" {
				t.Errorf("Query(%q) value for %s %s mismatch (-want +got):\n%s", sql, tc.column, tc.value, diff)
			}
			if got, want := fmt.Sprintf("%T", row[0]), fmt.Sprintf("%T", tc.want); got != want {
				t.Errorf("Query(%q) value type for %s %s = %s, want %s", sql, tc.column, tc.value, got, want)
			}
			if tm, ok := row[0].(time.Time); ok && tm.Location() != time.UTC {
				t.Errorf("Query(%q) value location for %s %s = %v, want UTC", sql, tc.column, tc.value, tm.Location())
			}
		})
	}
}

// TestExpressions checks values computed by the server rather than stored.
func TestExpressions(t *testing.T) {
	conn := openTest(t, nil)
	cols, row := queryOne(t, conn, `SELECT 1 AS i, 2.50 AS d, 1e0 / 3 AS f, 'x' AS s, NULL AS n, TRUE AS b,
		UTC_TIMESTAMP() = NOW() AS utc_session, @@session.time_zone AS tz`)
	want := []any{int64(1), drivers.Decimal("2.50"), 1.0 / 3, "x", nil, int64(1), int64(1), "+00:00"}
	if diff := cmp.Diff(want, row); diff != "" {
		t.Errorf("expressions mismatch (-want +got):\n%s", diff)
	}
	types := make([]drivers.ColumnType, len(cols))
	for i, c := range cols {
		types[i] = c.Type
	}
	wantTypes := []drivers.ColumnType{"integer", "float", "float", "string", "string", "integer", "integer", "string"}
	if diff := cmp.Diff(wantTypes, types); diff != "" {
		t.Errorf("expression column types mismatch (-want +got):\n%s", diff)
	}
}

func TestDecimalRoundTrip(t *testing.T) {
	conn := openTest(t, nil)
	tests := []string{
		"12345678901234567890.123456789",
		"-0.000000000000000000000000000001",
		"99999999999999999999999999999999999.999999999999999999999999999999",
		"0",
		"-1.50",
	}
	for _, in := range tests {
		t.Run(in, func(t *testing.T) {
			_, row := queryOne(t, conn, "SELECT CAST(? AS DECIMAL(65, 30)) + 0", in)
			_, exact := queryOne(t, conn, "SELECT CAST(? AS DECIMAL(65, 30)) = CAST("+in+" AS DECIMAL(65, 30))", string(row[0].(drivers.Decimal)))
			if exact[0] != int64(1) {
				t.Errorf("SELECT CAST(%s AS DECIMAL(65, 30)) = %#v, which the server does not read back as equal", in, row[0])
			}
		})
	}
}
