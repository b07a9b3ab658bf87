package fake

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Database is the fake's one database; sessions start in its PUBLIC schema.
const Database = "QUERYD_TEST"

// Table is a table of the fake's catalog, with its rows as Snowflake sends
// them in a JSON result (nil for NULL).
type Table struct {
	Schema, Name string
	Columns      []Column
	Rows         [][]*string
}

// Column is a table column: its name, its type as INFORMATION_SCHEMA names
// it (DataType) and as a result's rowtype describes it.
type Column struct {
	Name     string
	DataType string // NUMBER, FLOAT, TEXT, BOOLEAN, DATE, TIME, TIMESTAMP_NTZ, …
	rowType  rowType
}

// charLength is CHARACTER_MAXIMUM_LENGTH (-1 for NULL).
func (c Column) charLength() int {
	if c.DataType == "TEXT" || c.DataType == "BINARY" {
		return c.rowType.Length
	}
	return -1
}

// numeric is n for a NUMBER column, -1 (NULL) for others.
func (c Column) numeric(n int) int {
	if c.DataType == "NUMBER" {
		return n
	}
	return -1
}

func number(name string, precision, scale int) Column {
	return Column{Name: name, DataType: "NUMBER", rowType: rowType{Name: name, Type: "fixed", Precision: precision, Scale: scale, Nullable: true}}
}

func typed(name, dataType, wireType string, scale, length int) Column {
	return Column{Name: name, DataType: dataType, rowType: rowType{Name: name, Type: wireType, Scale: scale, Length: length, ByteLength: length, Nullable: true}}
}

// Catalog is every table the fake holds. ALL_TYPES has one row with a value
// in every column and one row of NULLs.
var Catalog = []*Table{
	{
		Schema: "PUBLIC", Name: "ALL_TYPES",
		Columns: []Column{
			number("I", 38, 0),
			number("BIG", 38, 0),
			number("DEC", 10, 4),
			typed("F", "FLOAT", "real", 0, 0),
			typed("B", "BOOLEAN", "boolean", 0, 0),
			typed("S", "TEXT", "text", 0, 16777216),
			typed("D", "DATE", "date", 0, 0),
			typed("T", "TIME", "time", 9, 0),
			typed("NTZ", "TIMESTAMP_NTZ", "timestamp_ntz", 9, 0),
			typed("LTZ", "TIMESTAMP_LTZ", "timestamp_ltz", 9, 0),
			typed("TZ", "TIMESTAMP_TZ", "timestamp_tz", 9, 0),
			typed("BIN", "BINARY", "binary", 0, 8388608),
			typed("V", "VARIANT", "variant", 0, 0),
			typed("O", "OBJECT", "object", 0, 0),
			typed("A", "ARRAY", "array", 0, 0),
		},
		Rows: [][]*string{
			{
				wire("42"),
				wire("12345678901234567890123"),
				wire("-12345.6789"),
				wire("2.5"),
				wire("1"),
				wire(`héllo "snow"`),
				wireDate("2024-02-29"),
				wireTime("13:14:15.123456789"),
				wireInstant("2024-02-29T13:14:15.123456789Z"), // NTZ: the wall clock, as if in UTC
				wireInstant("2024-02-29T11:14:15.5Z"),
				wireZoned("2024-02-29T13:14:15.123456789+02:00"),
				wire(strings.ToUpper(hex.EncodeToString([]byte{0x00, 0x01, 0xfe, 0xff}))),
				wire(`{"a":[1,2]}`),
				wire(`{"k":"v"}`),
				wire(`[1,"two",null]`),
			},
			make([]*string, 15),
		},
	},
	{
		Schema: "PUBLIC", Name: "EVENTS",
		Columns: []Column{number("ID", 38, 0), typed("PAYLOAD", "VARIANT", "variant", 0, 0)},
	},
	{
		Schema: "ANALYTICS", Name: "DAILY_TOTALS",
		Columns: []Column{typed("DAY", "DATE", "date", 0, 0), number("TOTAL", 18, 2)},
	},
}

// lookup finds a catalog table by name, bare or qualified with its schema
// and database, unquoted (so case does not matter).
func lookup(name string) *Table {
	parts := strings.Split(strings.ToUpper(name), ".")
	if len(parts) == 3 && parts[0] != Database || len(parts) > 3 {
		return nil
	}
	for _, t := range Catalog {
		switch {
		case len(parts) == 1 && parts[0] == t.Name && t.Schema == "PUBLIC",
			len(parts) >= 2 && parts[len(parts)-2] == t.Schema && parts[len(parts)-1] == t.Name:
			return t
		}
	}
	return nil
}

// Snowflake's JSON result format: every value is text. Dates are days since
// 1970-01-01; times are seconds since midnight with nanoseconds; TIMESTAMP_NTZ
// and TIMESTAMP_LTZ are seconds since the epoch with nanoseconds (NTZ of the
// wall clock read as UTC); TIMESTAMP_TZ adds, after a space, the offset in
// minutes plus 1440; BINARY is upper-case hex.

func wire(s string) *string { return &s }

func wireDate(s string) *string {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return wire(strconv.FormatInt(t.Unix()/86400, 10))
}

func wireTime(s string) *string {
	t, err := time.Parse("15:04:05.999999999", s)
	if err != nil {
		panic(err)
	}
	secs := t.Hour()*3600 + t.Minute()*60 + t.Second()
	return wire(fmt.Sprintf("%d.%09d", secs, t.Nanosecond()))
}

func wireInstant(s string) *string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return wire(fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond()))
}

func wireZoned(s string) *string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	_, offset := t.Zone()
	return wire(fmt.Sprintf("%d.%09d %d", t.Unix(), t.Nanosecond(), offset/60+1440))
}
