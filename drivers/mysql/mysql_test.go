package mysql

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/queryd/queryd/drivers"
	"github.com/queryd/queryd/drivers/drivertest"
)

// The tests run against the MySQL or MariaDB server named by
// QUERYD_TEST_MYSQL_URL, mysql://user:password@host:port/db, by default
// defaultTestURL: the user and database scripts/services.sh (make test)
// creates. When that user cannot log in (access denied or no such database)
// and root logs in on the same host:port without a password, as on a fresh
// Debian install, the tests create the user and database themselves.
const defaultTestURL = "mysql://queryd:queryd@127.0.0.1:3306/queryd_test"

var (
	reachOnce sync.Once
	reachErr  error
	reachURL  string
	reachOpts Options
)

// testOptions returns Options for the test database. When the server is
// unreachable it skips tb, or fails it under CI=true.
func testOptions(tb testing.TB) Options {
	tb.Helper()
	reachOnce.Do(func() {
		reachURL = os.Getenv("QUERYD_TEST_MYSQL_URL")
		if reachURL == "" {
			reachURL = defaultTestURL
		}
		reachOpts, reachErr = optionsFromURL(reachURL)
		if reachErr != nil {
			return
		}
		reachErr = ping(reachOpts)
		var myErr *gomysql.MySQLError
		if errors.As(reachErr, &myErr) && (myErr.Number == 1045 || myErr.Number == 1044 || myErr.Number == 1049) {
			if err := provision(reachOpts); err == nil {
				reachErr = ping(reachOpts)
			}
		}
	})
	if reachErr != nil {
		msg := fmt.Sprintf("MySQL test database %s unreachable: %v; run `make test` (it starts MariaDB), or set QUERYD_TEST_MYSQL_URL",
			redactURL(reachURL), reachErr)
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return reachOpts
}

// optionsFromURL turns a mysql:// URL into Options.
func optionsFromURL(raw string) (Options, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Options{}, fmt.Errorf("parse QUERYD_TEST_MYSQL_URL: %w", err)
	}
	o := Options{Host: u.Hostname(), Port: defaultPort, User: u.User.Username(), DB: u.Path[min(1, len(u.Path)):],
		SSLMode: "disabled", MaxConnections: defaultMaxConnections}
	o.Passwd, _ = u.User.Password()
	if p := u.Port(); p != "" {
		if o.Port, err = strconv.Atoi(p); err != nil {
			return Options{}, fmt.Errorf("parse QUERYD_TEST_MYSQL_URL port: %w", err)
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

// openDB opens a plain database/sql pool with o, for the tests' own
// statements.
func openDB(o Options) *sql.DB {
	cfg := gomysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.DBName = o.User, o.Passwd, o.DB
	cfg.Net, cfg.Addr = "tcp", net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
	cfg.Timeout = 5 * time.Second
	c, err := gomysql.NewConnector(cfg)
	if err != nil {
		panic(err) // a config without TLS names or server keys cannot fail
	}
	return sql.OpenDB(c)
}

func ping(o Options) error {
	db := openDB(o)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// provision creates o's database and user (at localhost and 127.0.0.1) as
// root without a password.
func provision(o Options) error {
	root := o
	root.User, root.Passwd, root.DB = "root", "", ""
	db := openDB(root)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q := func(s string) string { return "'" + s + "'" }
	stmts := []string{"CREATE DATABASE IF NOT EXISTS `" + o.DB + "`"}
	for _, host := range []string{"localhost", "127.0.0.1"} {
		who := q(o.User) + "@" + q(host)
		stmts = append(stmts,
			"CREATE USER IF NOT EXISTS "+who+" IDENTIFIED BY "+q(o.Passwd),
			"GRANT ALL PRIVILEGES ON `"+o.DB+"`.* TO "+who)
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// openTest opens a Conn on the test database with the options edit makes,
// closed when tb ends.
func openTest(tb testing.TB, edit func(*Options)) drivers.Conn {
	tb.Helper()
	o := testOptions(tb)
	if edit != nil {
		edit(&o)
	}
	conn, err := New().Open(context.Background(), mustJSON(tb, o))
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

// processlist watches information_schema.PROCESSLIST from a connection of
// its own, logged in as the test user (who sees its own threads).
type processlist struct {
	db *sql.DB
}

func newProcesslist(tb testing.TB) *processlist {
	tb.Helper()
	db := openDB(testOptions(tb))
	db.SetMaxOpenConns(1)
	tb.Cleanup(func() { db.Close() })
	return &processlist{db: db}
}

// running reports whether another connection is running a statement whose
// text contains marker.
func (p *processlist) running(ctx context.Context, marker string) (bool, error) {
	var n int
	err := p.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.PROCESSLIST
		WHERE COMMAND = 'Query' AND ID <> CONNECTION_ID() AND LOCATE(?, INFO) > 0`, marker).Scan(&n)
	return n > 0, err
}

func TestConformance(t *testing.T) {
	p := newProcesslist(t)
	schemaTable := createTable(t, fmt.Sprintf("drivertest_schema_%d", time.Now().UnixNano()),
		"id INT NOT NULL, amount DECIMAL(12,2), name VARCHAR(40) NOT NULL, created DATETIME(6), mood ENUM('sad','happy')")
	schemaTable.Columns = []drivers.TableColumn{
		{Name: "id", Type: "int(11)"},
		{Name: "amount", Type: "decimal(12,2)"},
		{Name: "name", Type: "varchar(40)"},
		{Name: "created", Type: "datetime(6)"},
		{Name: "mood", Type: "enum('sad','happy')"},
	}
	drivertest.Run(t, drivertest.Suite{
		// One connection per pool, so ConnUsableAfterCancel reuses the very
		// connection whose statement was cancelled.
		Open: func(tb testing.TB) drivers.Conn {
			return openTest(tb, func(o *Options) { o.MaxConnections = 1 })
		},
		Types: `SELECT * FROM (
			SELECT CAST(42 AS SIGNED) AS i, CAST(2.5 AS DOUBLE) AS f, CAST('12345678901234567890.123456789' AS DECIMAL(38, 9)) AS d,
				_utf8mb4'héllo' AS s, DATE '2024-02-29' AS day, TIMESTAMP '2024-02-29 13:14:15.123456' AS ts,
				CAST(TIMESTAMP '2024-02-29 11:14:15.123456' AS DATETIME(6)) AS dt, X'0001FEFF' AS raw, JSON_OBJECT('a', 1) AS doc
			UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
		) AS t`,
		TypesCols: []drivers.Column{
			{Name: "i", Type: drivers.TypeInteger, DatabaseType: "INT"},
			{Name: "f", Type: drivers.TypeFloat, DatabaseType: "DOUBLE"},
			{Name: "d", Type: drivers.TypeFloat, DatabaseType: "DECIMAL"},
			{Name: "s", Type: drivers.TypeString, DatabaseType: "VARCHAR"},
			{Name: "day", Type: drivers.TypeDate, DatabaseType: "DATE"},
			{Name: "ts", Type: drivers.TypeDatetime, DatabaseType: "DATETIME"},
			{Name: "dt", Type: drivers.TypeDatetime, DatabaseType: "DATETIME"},
			{Name: "raw", Type: drivers.TypeString, DatabaseType: "VARBINARY"},
			{Name: "doc", Type: drivers.TypeString, DatabaseType: "VARCHAR"},
		},
		TypesRow: []any{
			int64(42), 2.5, drivers.Decimal("12345678901234567890.123456789"), "héllo",
			time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
			"2024-02-29T13:14:15.123456",
			"2024-02-29T11:14:15.123456",
			[]byte{0, 1, 0xfe, 0xff},
			`{"a": 1}`,
		},
		// MariaDB's SEQUENCE engine streams seq_1_to_<n> without building it
		// first.
		Series: func(n int) string {
			return fmt.Sprintf("SELECT CAST(seq AS SIGNED) AS n, CONCAT('label ', seq) AS label FROM seq_1_to_%d", n)
		},
		Empty: `SELECT CAST(1 AS SIGNED) AS n, 'x' AS label FROM DUAL WHERE FALSE`,
		EmptyCols: []drivers.Column{
			{Name: "n", Type: drivers.TypeInteger, DatabaseType: "INT"},
			{Name: "label", Type: drivers.TypeString, DatabaseType: "VARCHAR"},
		},
		Sleep: func(d time.Duration, marker string) string {
			return fmt.Sprintf("SELECT SLEEP(%g) /* %s */", d.Seconds(), marker)
		},
		Running:    p.running,
		Bad:        "SELEC 1",
		BadMessage: "You have an error in your SQL syntax",
		// Column types as MariaDB writes them: MySQL 8 leaves out int's
		// display width.
		SchemaTable:    &schemaTable,
		ReportsQueryID: true,
	})
}

// createTable creates table name with the given column definitions in the
// test database, dropped when t ends, and returns it without its columns.
func createTable(t *testing.T, name, columns string) drivers.Table {
	t.Helper()
	o := testOptions(t)
	db := openDB(o)
	t.Cleanup(func() {
		if _, err := db.Exec("DROP TABLE IF EXISTS `" + name + "`"); err != nil {
			t.Errorf("drop table %s: %v", name, err)
		}
		db.Close()
	})
	if _, err := db.ExecContext(t.Context(), "CREATE TABLE `"+name+"` ("+columns+")"); err != nil {
		t.Fatalf("create table %s: %v", name, err)
	}
	return drivers.Table{Schema: o.DB, Name: name}
}
