package postgres

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
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

func utc(y int, m time.Month, d, h, mi, s, ns int) time.Time {
	return time.Date(y, m, d, h, mi, s, ns, time.UTC)
}

func TestTypes(t *testing.T) {
	conn := openTest(t, nil)
	schema := createSchema(t, conn)
	exec(t, conn, fmt.Sprintf("CREATE TYPE %s.mood AS ENUM ('sad', 'happy')", schema))
	exec(t, conn, fmt.Sprintf("CREATE DOMAIN %s.positive AS int4 CHECK (VALUE > 0)", schema))

	tests := []struct {
		expr     string
		typ      drivers.ColumnType
		dbType   string // "oid:" matches any unknown OID
		want     any
		wantType string // the Go type wanted, when want is nil
	}{
		{expr: "1::int2", typ: drivers.TypeInteger, dbType: "int2", want: int64(1)},
		{expr: "(-32768)::int2", typ: drivers.TypeInteger, dbType: "int2", want: int64(math.MinInt16)},
		{expr: "(-2147483648)::int4", typ: drivers.TypeInteger, dbType: "int4", want: int64(math.MinInt32)},
		{expr: "9223372036854775807::int8", typ: drivers.TypeInteger, dbType: "int8", want: int64(math.MaxInt64)},
		{expr: "4294967295::oid", typ: drivers.TypeInteger, dbType: "oid", want: int64(math.MaxUint32)},
		{expr: "1.1::float4", typ: drivers.TypeFloat, dbType: "float4", want: 1.1},
		{expr: "'-Infinity'::float4", typ: drivers.TypeFloat, dbType: "float4", want: math.Inf(-1)},
		{expr: "0.1::float8", typ: drivers.TypeFloat, dbType: "float8", want: 0.1},
		{expr: "'Infinity'::float8", typ: drivers.TypeFloat, dbType: "float8", want: math.Inf(1)},
		{expr: "12345678901234567890.123456789::numeric", typ: drivers.TypeFloat, dbType: "numeric", want: drivers.Decimal("12345678901234567890.123456789")},
		{expr: "(-12.3)::numeric(10, 4)", typ: drivers.TypeFloat, dbType: "numeric", want: drivers.Decimal("-12.3000")},
		{expr: "1e30::numeric", typ: drivers.TypeFloat, dbType: "numeric", want: drivers.Decimal("1000000000000000000000000000000")},
		{expr: "0.000000001::numeric", typ: drivers.TypeFloat, dbType: "numeric", want: drivers.Decimal("0.000000001")},
		{expr: "'NaN'::numeric", typ: drivers.TypeFloat, dbType: "numeric", want: nil},
		{expr: "'Infinity'::numeric", typ: drivers.TypeFloat, dbType: "numeric", want: nil},
		{expr: "true", typ: drivers.TypeBoolean, dbType: "bool", want: true},
		{expr: "false", typ: drivers.TypeBoolean, dbType: "bool", want: false},
		{expr: "date '2024-02-29'", typ: drivers.TypeDate, dbType: "date", want: utc(2024, 2, 29, 0, 0, 0, 0)},
		{expr: "date '1999-12-31'", typ: drivers.TypeDate, dbType: "date", want: utc(1999, 12, 31, 0, 0, 0, 0)},
		{expr: "'infinity'::date", typ: drivers.TypeDate, dbType: "date", want: nil},
		{expr: "timestamptz '2024-02-29 13:14:15.123456+02'", typ: drivers.TypeDatetime, dbType: "timestamptz", want: utc(2024, 2, 29, 11, 14, 15, 123456000)},
		{expr: "timestamptz '1969-07-20 20:17:40.5+00'", typ: drivers.TypeDatetime, dbType: "timestamptz", want: utc(1969, 7, 20, 20, 17, 40, 500000000)},
		{expr: "'-infinity'::timestamptz", typ: drivers.TypeDatetime, dbType: "timestamptz", want: nil},
		{expr: "timestamp '2024-02-29 13:14:15.123456'", typ: drivers.TypeDatetime, dbType: "timestamp", want: "2024-02-29T13:14:15.123456"},
		{expr: "timestamp '2024-02-29 13:14:15'", typ: drivers.TypeDatetime, dbType: "timestamp", want: "2024-02-29T13:14:15"},
		{expr: "timestamp '1999-12-31 23:59:59.000001'", typ: drivers.TypeDatetime, dbType: "timestamp", want: "1999-12-31T23:59:59.000001"},
		{expr: "'infinity'::timestamp", typ: drivers.TypeDatetime, dbType: "timestamp", want: "infinity"},
		{expr: "'héllo'::text", typ: drivers.TypeString, dbType: "text", want: "héllo"},
		{expr: "''::text", typ: drivers.TypeString, dbType: "text", want: ""},
		{expr: "'abc'", typ: drivers.TypeString, dbType: "text", want: "abc"},
		{expr: "'v'::varchar(5)", typ: drivers.TypeString, dbType: "varchar", want: "v"},
		{expr: "'ab'::char(4)", typ: drivers.TypeString, dbType: "bpchar", want: "ab  "},
		{expr: "'n'::name", typ: drivers.TypeString, dbType: "name", want: "n"},
		{expr: "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid", typ: drivers.TypeString, dbType: "uuid", want: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
		{expr: `'{"b": 2,  "a": [1]}'::json`, typ: drivers.TypeString, dbType: "json", want: `{"b": 2,  "a": [1]}`},
		{expr: `'{"b": 2,  "a": [1]}'::jsonb`, typ: drivers.TypeString, dbType: "jsonb", want: `{"a": [1], "b": 2}`},
		{expr: "interval '1 day 2 hours'", typ: drivers.TypeString, dbType: "interval", want: "1 day 02:00:00"},
		{expr: "time '13:14:15.5'", typ: drivers.TypeString, dbType: "time", want: "13:14:15.5"},
		{expr: "ARRAY[1, 2, NULL]::int4[]", typ: drivers.TypeString, dbType: "_int4", want: "{1,2,NULL}"},
		{expr: "ARRAY['a', 'b c']", typ: drivers.TypeString, dbType: "_text", want: `{a,"b c"}`},
		{expr: "'10.0.0.1/8'::inet", typ: drivers.TypeString, dbType: "inet", want: "10.0.0.1/8"},
		{expr: `'\x00ff'::bytea`, typ: drivers.TypeString, dbType: "bytea", want: []byte{0, 0xff}},
		{expr: `''::bytea`, typ: drivers.TypeString, dbType: "bytea", want: []byte{}},
		{expr: fmt.Sprintf("'happy'::%s.mood", schema), typ: drivers.TypeString, dbType: "oid:", want: "happy"},
		{expr: fmt.Sprintf("7::%s.positive", schema), typ: drivers.TypeInteger, dbType: "int4", want: int64(7)},
		{expr: "NULL::int8", typ: drivers.TypeInteger, dbType: "int8", want: nil, wantType: "<nil>"},
		{expr: "NULL::text", typ: drivers.TypeString, dbType: "text", want: nil, wantType: "<nil>"},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			sql := "SELECT " + tc.expr + " AS v"
			cols, row := queryOne(t, conn, sql)
			if len(cols) != 1 {
				t.Fatalf("Query(%q).Columns() = %v, want one column", sql, cols)
			}
			got := cols[0]
			if strings.HasSuffix(tc.dbType, ":") && strings.HasPrefix(got.DatabaseType, tc.dbType) {
				got.DatabaseType = tc.dbType
			}
			if diff := cmp.Diff(drivers.Column{Name: "v", Type: tc.typ, DatabaseType: tc.dbType}, got); diff != "" {
				t.Errorf("Query(%q).Columns()[0] mismatch (-want +got):\n%s", sql, diff)
			}
			if diff := cmp.Diff(tc.want, row[0]); diff != "" {
				t.Errorf("Query(%q) value mismatch (-want +got):\n%s", sql, diff)
			}
			if tc.want != nil {
				if got, want := fmt.Sprintf("%T", row[0]), fmt.Sprintf("%T", tc.want); got != want {
					t.Errorf("Query(%q) value type = %s, want %s", sql, got, want)
				}
			}
		})
	}
}

func TestNumericRoundTrip(t *testing.T) {
	conn := openTest(t, nil)
	tests := []string{
		"12345678901234567890.123456789",
		"-0.000000000000000000000000000001",
		"99999999999999999999999999999999999999.99",
		"0",
		"-1.50",
	}
	for _, in := range tests {
		t.Run(in, func(t *testing.T) {
			_, row := queryOne(t, conn, "SELECT $1::numeric", in)
			if got := row[0]; got != drivers.Decimal(in) {
				t.Errorf("SELECT %s::numeric = %#v, want Decimal(%q)", in, got, in)
			}
		})
	}
}

// TestTimestamptzSessionZone checks that timestamptz values come back in UTC
// whatever the session's TimeZone, and that the zone really was in effect.
func TestTimestamptzSessionZone(t *testing.T) {
	conn := openTest(t, nil)
	// The zone is set by the statement itself: settings do not outlive a
	// statement on a pooled connection.
	_, row := queryOne(t, conn, `SELECT timestamptz '2024-07-01 12:00:00+00', timestamptz '2024-07-01 12:00:00+00'::text,
		date '2024-07-01', current_setting('TimeZone')
		FROM (SELECT set_config('TimeZone', 'Asia/Kolkata', false)) AS zone`)
	want := []any{utc(2024, 7, 1, 12, 0, 0, 0), "2024-07-01 17:30:00+05:30", utc(2024, 7, 1, 0, 0, 0, 0), "Asia/Kolkata"}
	if diff := cmp.Diff(want, row); diff != "" {
		t.Errorf("timestamptz in session zone Asia/Kolkata mismatch (-want +got):\n%s", diff)
	}
	for i, v := range row[:3:3] {
		if tm, ok := v.(time.Time); ok && tm.Location() != time.UTC {
			t.Errorf("value %d location = %v, want UTC", i, tm.Location())
		}
	}
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

// createSchema creates a schema of its own for t, dropped when t ends.
func createSchema(t *testing.T, conn drivers.Conn) string {
	t.Helper()
	name := fmt.Sprintf("drivertest_%d", time.Now().UnixNano())
	exec(t, conn, "CREATE SCHEMA "+name)
	t.Cleanup(func() {
		rows, err := conn.Query(context.Background(), "DROP SCHEMA "+name+" CASCADE")
		if err == nil {
			err = rows.Next(nil)
			rows.Close()
		}
		if err != io.EOF {
			t.Errorf("DROP SCHEMA %s: %v", name, err)
		}
	})
	return name
}
