package snowflake

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	sf "github.com/snowflakedb/gosnowflake/v2"

	"github.com/queryd/queryd/drivers"
	"github.com/queryd/queryd/drivers/drivertest"
	"github.com/queryd/queryd/drivers/snowflake/internal/fake"
)

func TestMain(m *testing.M) {
	// The client library probes cloud metadata endpoints to describe its
	// platform at login; this machine has no network, and the tests must
	// not depend on one.
	os.Setenv("SNOWFLAKE_DISABLE_PLATFORM_DETECTION", "true")
	// The client library logs every statement error it returns (the tests
	// provoke many) to stderr; the driver returns them, so that is noise.
	if err := sf.GetLogger().SetLogLevel("off"); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

const (
	fakeUser     = "queryd"
	fakePassword = "s3cr3t-Pa55"
)

// startFake starts a fake Snowflake with the test user, closed when tb ends.
func startFake(tb testing.TB) *fake.Server {
	tb.Helper()
	srv := fake.Start()
	srv.AddUser(fakeUser, fakePassword)
	tb.Cleanup(srv.Close)
	return srv
}

// fakeOptions are Options that reach srv.
func fakeOptions(srv *fake.Server) Options {
	return Options{
		Account: "fake", User: fakeUser, Password: fakePassword,
		Warehouse: "FAKE_WH", Database: fake.Database,
		Host: srv.Host, Port: srv.Port, Protocol: "http",
	}
}

// openFake opens a Conn on srv with the options edit makes, closed when tb
// ends.
func openFake(tb testing.TB, srv *fake.Server, edit func(*Options)) drivers.Conn {
	tb.Helper()
	o := fakeOptions(srv)
	if edit != nil {
		edit(&o)
	}
	conn, err := New().Open(context.Background(), mustJSON(tb, o))
	if err != nil {
		tb.Fatalf("Open(fake Snowflake) error = %v, want nil", err)
	}
	tb.Cleanup(func() { conn.Close() })
	return conn
}

func mustJSON(tb testing.TB, v any) json.RawMessage {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatalf("json.Marshal(%#v): %v", v, err)
	}
	return b
}

const typesSQL = "SELECT * FROM QUERYD_TEST.PUBLIC.ALL_TYPES"

var typesCols = []drivers.Column{
	{Name: "I", Type: drivers.TypeInteger, DatabaseType: "FIXED"},
	{Name: "BIG", Type: drivers.TypeInteger, DatabaseType: "FIXED"},
	{Name: "DEC", Type: drivers.TypeFloat, DatabaseType: "FIXED"},
	{Name: "F", Type: drivers.TypeFloat, DatabaseType: "REAL"},
	{Name: "B", Type: drivers.TypeBoolean, DatabaseType: "BOOLEAN"},
	{Name: "S", Type: drivers.TypeString, DatabaseType: "TEXT"},
	{Name: "D", Type: drivers.TypeDate, DatabaseType: "DATE"},
	{Name: "T", Type: drivers.TypeString, DatabaseType: "TIME"},
	{Name: "NTZ", Type: drivers.TypeDatetime, DatabaseType: "TIMESTAMP_NTZ"},
	{Name: "LTZ", Type: drivers.TypeDatetime, DatabaseType: "TIMESTAMP_LTZ"},
	{Name: "TZ", Type: drivers.TypeDatetime, DatabaseType: "TIMESTAMP_TZ"},
	{Name: "BIN", Type: drivers.TypeString, DatabaseType: "BINARY"},
	{Name: "V", Type: drivers.TypeString, DatabaseType: "VARIANT"},
	{Name: "O", Type: drivers.TypeString, DatabaseType: "OBJECT"},
	{Name: "A", Type: drivers.TypeString, DatabaseType: "ARRAY"},
}

var typesRow = []any{
	int64(42),
	drivers.Decimal("12345678901234567890123"),
	drivers.Decimal("-12345.6789"),
	2.5,
	true,
	`héllo "snow"`,
	time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
	"13:14:15.123456789",
	"2024-02-29T13:14:15.123456789",
	time.Date(2024, 2, 29, 11, 14, 15, 500_000_000, time.UTC),
	time.Date(2024, 2, 29, 13, 14, 15, 123456789, time.FixedZone("", 2*3600)),
	[]byte{0x00, 0x01, 0xfe, 0xff},
	`{"a":[1,2]}`,
	`{"k":"v"}`,
	`[1,"two",null]`,
}

// seriesSQL is n rows of n (1..n) and label, in Snowflake's SQL.
func seriesSQL(n int) string {
	return fmt.Sprintf(`SELECT ROW_NUMBER() OVER (ORDER BY SEQ4()) AS "n", 'row ' || "n" AS "label" FROM TABLE(GENERATOR(ROWCOUNT => %d))`, n)
}

// sleepSQL runs for d inside Snowflake, with marker in a comment.
func sleepSQL(d time.Duration, marker string) string {
	return fmt.Sprintf("/* %s */ SELECT SYSTEM$WAIT(%d)", marker, int(d/time.Second))
}

func TestConformance(t *testing.T) {
	srv := startFake(t)
	drivertest.Run(t, drivertest.Suite{
		// One session per pool, so ConnUsableAfterCancel reuses the very
		// session whose statement was cancelled.
		Open: func(tb testing.TB) drivers.Conn {
			return openFake(tb, srv, func(o *Options) { o.MaxConnections = 1 })
		},
		Types:     typesSQL,
		TypesCols: typesCols,
		TypesRow:  typesRow,
		Series:    seriesSQL,
		Empty:     typesSQL + " LIMIT 0",
		EmptyCols: typesCols,
		Sleep:     sleepSQL,
		Running: func(_ context.Context, marker string) (bool, error) {
			return srv.Running(marker), nil
		},
		Bad:        "SELEC 1",
		BadMessage: "syntax error line 1 at position 0 unexpected 'SELEC'",
		SchemaTable: &drivers.Table{Schema: "PUBLIC", Name: "ALL_TYPES", Columns: []drivers.TableColumn{
			{Name: "I", Type: "NUMBER(38,0)"},
			{Name: "BIG", Type: "NUMBER(38,0)"},
			{Name: "DEC", Type: "NUMBER(10,4)"},
			{Name: "F", Type: "FLOAT"},
			{Name: "B", Type: "BOOLEAN"},
			{Name: "S", Type: "TEXT(16777216)"},
			{Name: "D", Type: "DATE"},
			{Name: "T", Type: "TIME"},
			{Name: "NTZ", Type: "TIMESTAMP_NTZ"},
			{Name: "LTZ", Type: "TIMESTAMP_LTZ"},
			{Name: "TZ", Type: "TIMESTAMP_TZ"},
			{Name: "BIN", Type: "BINARY(8388608)"},
			{Name: "V", Type: "VARIANT"},
			{Name: "O", Type: "OBJECT"},
			{Name: "A", Type: "ARRAY"},
		}},
		ReportsQueryID: true,
	})
}
