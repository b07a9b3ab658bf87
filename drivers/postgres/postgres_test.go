package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/queryd/queryd/drivers"
	"github.com/queryd/queryd/drivers/drivertest"
)

const defaultTestURL = "postgres://queryd:queryd@127.0.0.1:5432/queryd_test?sslmode=disable"

var (
	reachOnce sync.Once
	reachErr  error
	reachURL  string
	reachOpts Options
)

// testOptions returns Options for the test database named by
// QUERYD_TEST_DATABASE_URL (default defaultTestURL). When PostgreSQL is
// unreachable it skips tb, or fails it under CI=true.
func testOptions(tb testing.TB) Options {
	tb.Helper()
	reachOnce.Do(func() {
		reachURL = os.Getenv("QUERYD_TEST_DATABASE_URL")
		if reachURL == "" {
			reachURL = defaultTestURL
		}
		reachOpts, reachErr = optionsFromURL(reachURL)
		if reachErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var c *pgx.Conn
		c, reachErr = pgx.Connect(ctx, reachURL)
		if reachErr == nil {
			reachErr = c.Close(ctx)
		}
	})
	if reachErr != nil {
		msg := fmt.Sprintf("PostgreSQL test database %s unreachable: %v; run `make test` (it starts PostgreSQL), or set QUERYD_TEST_DATABASE_URL",
			redactURL(reachURL), reachErr)
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return reachOpts
}

// optionsFromURL turns a postgres:// URL into Options.
func optionsFromURL(raw string) (Options, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Options{}, fmt.Errorf("parse QUERYD_TEST_DATABASE_URL: %w", err)
	}
	o := Options{Host: u.Hostname(), User: u.User.Username(), DBName: u.Path[min(1, len(u.Path)):], SSLMode: u.Query().Get("sslmode")}
	o.Password, _ = u.User.Password()
	if p := u.Port(); p != "" {
		if o.Port, err = strconv.Atoi(p); err != nil {
			return Options{}, fmt.Errorf("parse QUERYD_TEST_DATABASE_URL port: %w", err)
		}
	}
	return o, nil
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// openTest opens a Conn of the PostgreSQL driver on the test database with
// the options edit makes, closed when tb ends.
func openTest(tb testing.TB, edit func(*Options)) drivers.Conn {
	tb.Helper()
	return openTestDriver(tb, New(), edit)
}

// openTestDriver is openTest with driver d (New or NewRedshift). The test
// options name the port and sslmode, so the Redshift defaults do not apply.
func openTestDriver(tb testing.TB, d *Driver, edit func(*Options)) drivers.Conn {
	tb.Helper()
	o := testOptions(tb)
	if edit != nil {
		edit(&o)
	}
	conn, err := d.Open(context.Background(), mustJSON(tb, o))
	if err != nil {
		tb.Fatalf("Open(test database) error = %v, want nil", err)
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

// activity watches pg_stat_activity from its own connection.
type activity struct {
	mu   sync.Mutex
	conn *pgx.Conn
}

func newActivity(tb testing.TB) *activity {
	tb.Helper()
	testOptions(tb)
	c, err := pgx.Connect(tb.Context(), reachURL)
	if err != nil {
		tb.Fatalf("connect to watch pg_stat_activity: %v", err)
	}
	tb.Cleanup(func() { c.Close(context.Background()) })
	return &activity{conn: c}
}

// running reports whether another backend is running a statement whose text
// contains marker.
func (a *activity) running(ctx context.Context, marker string) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var n int
	err := a.conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
		WHERE state = 'active' AND pid <> pg_backend_pid() AND strpos(query, $1) > 0`, marker).Scan(&n)
	return n > 0, err
}

func TestConformance(t *testing.T) {
	drivertest.Run(t, conformanceSuite(t, New()))
}

// TestConformanceRedshift runs the suite with the Redshift driver, whose
// dialect (information_schema for Schema) PostgreSQL accepts too.
func TestConformanceRedshift(t *testing.T) {
	drivertest.Run(t, conformanceSuite(t, NewRedshift()))
}

// conformanceSuite is the drivertest Suite for d on the test database. It
// creates the SchemaTable in a schema of t's own.
func conformanceSuite(t *testing.T, d *Driver) drivertest.Suite {
	a := newActivity(t)
	setup := openTest(t, nil)
	schema := createSchema(t, setup)
	exec(t, setup, `CREATE TABLE `+schema+`.numbers (n bigint NOT NULL, label character varying(20),
		score double precision, ok boolean, day date, at timestamp with time zone, amount numeric(12,2), note text)`)
	return drivertest.Suite{
		// One connection per pool, so ConnUsableAfterCancel reuses the very
		// connection whose statement was cancelled.
		Open: func(tb testing.TB) drivers.Conn {
			return openTestDriver(tb, d, func(o *Options) { o.MaxConnections = 1 })
		},
		Types: `SELECT * FROM (VALUES
			(42::int8, 2.5::float8, 12345678901234567890.123456789::numeric, true, 'héllo'::text,
			 date '2024-02-29', timestamptz '2024-02-29 13:14:15.123456+02', timestamp '2024-02-29 13:14:15.5',
			 '\x0001feff'::bytea, '{"a": [1, 2]}'::jsonb),
			(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
		) AS t(i, f, d, b, s, day, at, ts, raw, doc)`,
		TypesCols: []drivers.Column{
			{Name: "i", Type: drivers.TypeInteger, DatabaseType: "int8"},
			{Name: "f", Type: drivers.TypeFloat, DatabaseType: "float8"},
			{Name: "d", Type: drivers.TypeFloat, DatabaseType: "numeric"},
			{Name: "b", Type: drivers.TypeBoolean, DatabaseType: "bool"},
			{Name: "s", Type: drivers.TypeString, DatabaseType: "text"},
			{Name: "day", Type: drivers.TypeDate, DatabaseType: "date"},
			{Name: "at", Type: drivers.TypeDatetime, DatabaseType: "timestamptz"},
			{Name: "ts", Type: drivers.TypeDatetime, DatabaseType: "timestamp"},
			{Name: "raw", Type: drivers.TypeString, DatabaseType: "bytea"},
			{Name: "doc", Type: drivers.TypeString, DatabaseType: "jsonb"},
		},
		TypesRow: []any{
			int64(42), 2.5, drivers.Decimal("12345678901234567890.123456789"), true, "héllo",
			time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
			time.Date(2024, 2, 29, 11, 14, 15, 123456000, time.UTC),
			"2024-02-29T13:14:15.5",
			[]byte{0, 1, 0xfe, 0xff},
			`{"a": [1, 2]}`,
		},
		Series: func(n int) string {
			return fmt.Sprintf(`SELECT n, 'label ' || n AS label FROM (SELECT generate_series(1::int8, %d::int8) AS n) AS drivertest_series`, n)
		},
		Empty: `SELECT 1::int8 AS n, 'x'::text AS label WHERE false`,
		EmptyCols: []drivers.Column{
			{Name: "n", Type: drivers.TypeInteger, DatabaseType: "int8"},
			{Name: "label", Type: drivers.TypeString, DatabaseType: "text"},
		},
		Sleep: func(d time.Duration, marker string) string {
			return fmt.Sprintf("SELECT pg_sleep(%g) /* %s */", d.Seconds(), marker)
		},
		Running:    a.running,
		Bad:        "SELEC 1",
		BadMessage: `syntax error at or near "SELEC"`,
		SchemaTable: &drivers.Table{Schema: schema, Name: "numbers", Columns: []drivers.TableColumn{
			{Name: "n", Type: "bigint"},
			{Name: "label", Type: "character varying(20)"},
			{Name: "score", Type: "double precision"},
			{Name: "ok", Type: "boolean"},
			{Name: "day", Type: "date"},
			{Name: "at", Type: "timestamp with time zone"},
			{Name: "amount", Type: "numeric(12,2)"},
			{Name: "note", Type: "text"},
		}},
		ReportsQueryID: true,
	}
}
