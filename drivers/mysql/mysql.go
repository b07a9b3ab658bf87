// Package mysql is the MySQL and MariaDB driver (Redash type "mysql"), built
// on github.com/go-sql-driver/mysql and database/sql's pool.
//
// Each Conn holds a pool of up to Options.MaxConnections connections, and a
// second, small pool it uses only to send KILL QUERY. Every Query runs on a
// connection of its own, whose connection id is known; cancelling the
// Query's ctx, before or while rows are read, or closing its Rows before the
// end, sends KILL QUERY <id> from the second pool, reads what the server had
// already sent and gives the connection back to the pool, usable. Should the
// KILL fail or not take effect within a second or two, the connection is
// closed and dropped instead. A Query holds exactly one SQL statement.
//
// Before sending a statement, Query reports its query id
// (drivers.ReportQueryID): "<connection id>:<start>", the start being the
// server's clock in Unix microseconds as the connection estimates it. Any
// process can stop the statement with CancelQuery, which kills the
// connection's running statement only when it started within a second of
// that time (see CancelQuery for what this cannot rule out).
//
// Values follow the drivers package comment, with these MySQL choices:
// TINYINT, SMALLINT, MEDIUMINT, INT, BIGINT, YEAR and BIT are int64 (an
// unsigned BIGINT or BIT(64) above math.MaxInt64 is a drivers.Decimal instead,
// so no value is lost); TINYINT(1) and BOOL are integers too, because the
// client library does not report a column's display width; FLOAT and DOUBLE
// are float64; DECIMAL is a drivers.Decimal in MySQL's own exact text; DATE
// is a time.Time at midnight UTC; TIMESTAMP is a time.Time in UTC (every
// connection sets its session time_zone to '+00:00', so NOW() and friends
// answer in UTC too); DATETIME, which has no zone, is a string
// "2006-01-02T15:04:05.999999"; a zero or otherwise invalid date, DATETIME or
// TIMESTAMP ("0000-00-00") is nil; BINARY, VARBINARY, the BLOBs, GEOMETRY and
// VECTOR are []byte; everything else (CHAR, VARCHAR, the TEXTs, ENUM, SET,
// JSON, TIME) is MySQL's text for it.
//
// Connections are reused: session state a statement changes (SET, temporary
// tables, user variables) stays with its pooled connection for later
// statements.
package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/queryd/queryd/drivers"
)

// Driver is the MySQL/MariaDB driver; main registers it as "mysql". It
// implements drivers.Driver, drivers.Configurer and drivers.Dialecter, and
// its Conns implement drivers.Pinger, drivers.Canceler and
// drivers.Inspector.
type Driver struct{}

var (
	_ drivers.Driver     = (*Driver)(nil)
	_ drivers.Configurer = (*Driver)(nil)
	_ drivers.Dialecter  = (*Driver)(nil)
	_ drivers.Pinger     = (*conn)(nil)
	_ drivers.Canceler   = (*conn)(nil)
	_ drivers.Inspector  = (*conn)(nil)
)

// New returns the MySQL/MariaDB driver.
func New() *Driver { return &Driver{} }

// Options are a MySQL data source's options, under the names of Redash's
// mysql runner. Unknown keys (connect_timeout, charset, use_ssl, …) are
// ignored.
type Options struct {
	Host             string `json:"host"`              // default "127.0.0.1"
	Port             int    `json:"port"`              // default 3306; 1..65535
	User             string `json:"user"`              // required
	Passwd           string `json:"passwd"`            // secret
	DB               string `json:"db"`                // required
	SSLMode          string `json:"ssl_mode"`          // disabled|preferred|required|verify-identity; default preferred
	StatementTimeout int    `json:"statement_timeout"` // seconds, 0 = none; max_statement_time (MariaDB) or max_execution_time (MySQL, SELECTs only)
	MaxConnections   int    `json:"max_connections"`   // pool size, default 5, 1..100

	// Redash's certificate paths name files on the Redash host; queryd
	// rejects them rather than connect with less checking than asked for.
	SSLCACert string `json:"ssl_cacert,omitempty"`
	SSLCert   string `json:"ssl_cert,omitempty"`
	SSLKey    string `json:"ssl_key,omitempty"`
}

// Option defaults and limits.
const (
	defaultHost           = "127.0.0.1"
	defaultPort           = 3306
	defaultSSLMode        = "preferred"
	defaultMaxConnections = 5
	maxMaxConnections     = 100
	// maxStatementTimeout is the largest timeout, in seconds, that both
	// max_execution_time (milliseconds) and max_statement_time accept.
	maxStatementTimeout = 2147483
	// connectTimeout bounds each connection attempt (dial and handshake).
	connectTimeout = 10 * time.Second
	// idleTimeout closes pooled connections unused for this long.
	idleTimeout = 30 * time.Minute
	// maxLifetime replaces pooled connections this old, so that the server
	// clock reading a connection takes at connect (for query ids) never
	// drifts far.
	maxLifetime = time.Hour
)

// sslModes maps ssl_mode to go-sql-driver/mysql's tls setting.
var sslModes = map[string]string{
	"disabled":        "false",
	"preferred":       "preferred",   // TLS without verification when the server offers it
	"required":        "skip-verify", // TLS, certificate not verified
	"verify-identity": "true",        // TLS, certificate and host name verified
}

// ValidateOptions returns an *drivers.OptionsError naming the first bad
// field of config, or nil.
func (d *Driver) ValidateOptions(config json.RawMessage) error {
	_, err := parseOptions(config)
	return err
}

// SecretOptions names the option keys whose values must never be shown.
func (d *Driver) SecretOptions() []string { return []string{"passwd"} }

// Dialect describes MySQL's SQL: LIMIT, backquoted identifiers, and the
// statement timeout as a session variable.
func (d *Driver) Dialect() drivers.Dialect {
	return drivers.Dialect{
		QuoteOpen:  "`",
		QuoteClose: "`",
		StatementTimeout: "statement_timeout (seconds) sets the session's max_statement_time on MariaDB " +
			"(every statement) or max_execution_time on MySQL (read-only SELECTs only)",
		DefaultConcurrency: 5,
	}
}

// Open validates config and returns a Conn holding a connection pool. It does
// not connect: the first Query or Ping does, and reports connection errors.
// It returns an *drivers.OptionsError when config is invalid.
func (d *Driver) Open(ctx context.Context, config json.RawMessage) (drivers.Conn, error) {
	o, err := parseOptions(config)
	if err != nil {
		return nil, err
	}
	cfg := clientConfig(o)
	inner, err := gomysql.NewConnector(cfg)
	if err != nil {
		return nil, redact(o, fmt.Errorf("connect to %s: %w", o.addr(), err))
	}
	db := sql.OpenDB(&connector{inner: inner, timeout: o.StatementTimeout})
	db.SetMaxOpenConns(o.MaxConnections)
	db.SetMaxIdleConns(o.MaxConnections)
	db.SetConnMaxIdleTime(idleTimeout)
	db.SetConnMaxLifetime(maxLifetime)
	// The killer pool sends KILL QUERY; it is separate so that a cancel
	// never waits for a connection of a full main pool.
	killer := sql.OpenDB(&connector{inner: inner})
	killer.SetMaxOpenConns(2)
	killer.SetMaxIdleConns(1)
	killer.SetConnMaxIdleTime(time.Minute)
	return &conn{db: db, killer: killer, opts: o}, nil
}

// parseOptions decodes config, fills in defaults and checks every field.
func parseOptions(config json.RawMessage) (Options, error) {
	var o Options
	if err := drivers.DecodeOptions(config, &o); err != nil {
		return o, err
	}
	if o.Host == "" {
		o.Host = defaultHost
	}
	if o.Port == 0 {
		o.Port = defaultPort
	}
	if o.SSLMode == "" {
		o.SSLMode = defaultSSLMode
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = defaultMaxConnections
	}
	modes := make([]string, 0, len(sslModes))
	for m := range sslModes {
		modes = append(modes, m)
	}
	slices.Sort(modes)
	switch {
	case strings.ContainsAny(o.Host, " \t\r\n,/()"):
		return o, &drivers.OptionsError{Field: "host", Reason: "must be one host name or address"}
	case o.Port < 1 || o.Port > 65535:
		return o, &drivers.OptionsError{Field: "port", Reason: "must be between 1 and 65535"}
	case o.User == "":
		return o, &drivers.OptionsError{Field: "user", Reason: "is required"}
	case o.DB == "":
		return o, &drivers.OptionsError{Field: "db", Reason: "is required"}
	case sslModes[o.SSLMode] == "":
		return o, &drivers.OptionsError{Field: "ssl_mode", Reason: "must be one of " + strings.Join(modes, ", ")}
	case o.SSLCACert != "":
		return o, &drivers.OptionsError{Field: "ssl_cacert", Reason: "is not supported: use ssl_mode verify-identity (system CAs) or required"}
	case o.SSLCert != "":
		return o, &drivers.OptionsError{Field: "ssl_cert", Reason: "is not supported (client certificates)"}
	case o.SSLKey != "":
		return o, &drivers.OptionsError{Field: "ssl_key", Reason: "is not supported (client certificates)"}
	case o.StatementTimeout < 0 || o.StatementTimeout > maxStatementTimeout:
		return o, &drivers.OptionsError{Field: "statement_timeout", Reason: fmt.Sprintf("must be between 0 and %d seconds", maxStatementTimeout)}
	case o.MaxConnections < 1 || o.MaxConnections > maxMaxConnections:
		return o, &drivers.OptionsError{Field: "max_connections", Reason: fmt.Sprintf("must be between 1 and %d", maxMaxConnections)}
	}
	return o, nil
}

// addr is host:port/db, the only connection detail errors name.
func (o Options) addr() string {
	return net.JoinHostPort(o.Host, strconv.Itoa(o.Port)) + "/" + o.DB
}

// clientConfig builds the client library's configuration from o alone. Values
// arrive as text (no parseTime) and are decoded by rows; parameters are
// interpolated client-side, so a Query with args is one round trip too.
func clientConfig(o Options) *gomysql.Config {
	cfg := gomysql.NewConfig()
	cfg.User = o.User
	cfg.Passwd = o.Passwd
	cfg.Net = "tcp"
	cfg.Addr = net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
	cfg.DBName = o.DB
	cfg.TLSConfig = sslModes[o.SSLMode]
	cfg.Timeout = connectTimeout
	cfg.InterpolateParams = true
	cfg.ParseTime = false
	cfg.Loc = time.UTC
	cfg.AllowAllFiles = false
	cfg.MultiStatements = false
	cfg.ConnectionAttributes = "program_name:queryd"
	// The library's own log lines go to stderr, outside queryd's logging;
	// every failure it logs is also returned.
	cfg.Logger = &gomysql.NopLogger{}
	cfg.DialFunc = dial
	return cfg
}

// dialedKey is the ctx key under which connector.Connect asks dial for the
// network connection it makes.
type dialedKey struct{}

// dial connects like the library would, and hands the connection to
// connector.Connect, so that a statement that ignores KILL QUERY can be
// stopped by closing it.
func dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err == nil {
		if h, ok := ctx.Value(dialedKey{}).(*net.Conn); ok {
			*h = nc
		}
	}
	return nc, err
}

// serverConn is a client connection that knows its server-side connection
// id, its server's flavour and clock, and its network connection. It
// forwards every interface database/sql uses to the library's connection.
type serverConn struct {
	libConn
	id       int64
	mariaDB  bool     // the server is MariaDB, not MySQL
	netConn  net.Conn // closing it fails whatever the connection is doing
	clockAt  time.Time
	serverAt int64 // the server's clock at clockAt, Unix microseconds
}

// serverNow estimates the server's clock now, in Unix microseconds: the
// reading taken at connect plus the local monotonic time since, so a step
// of the local wall clock does not move it.
func (s *serverConn) serverNow() int64 {
	return s.serverAt + time.Since(s.clockAt).Microseconds()
}

// libConn is what go-sql-driver/mysql's connections implement.
type libConn interface {
	driver.Conn
	driver.ConnPrepareContext
	driver.ConnBeginTx
	driver.QueryerContext
	driver.ExecerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
	driver.NamedValueChecker
}

// connector opens connections with the client library, then learns each
// one's connection id and server flavour and sets its session: time_zone
// '+00:00', and the statement timeout, if any, under the flavour's name.
type connector struct {
	inner   driver.Connector
	timeout int // seconds, 0 = none
}

func (c *connector) Driver() driver.Driver { return c.inner.Driver() }

func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	var nc net.Conn
	dc, err := c.inner.Connect(context.WithValue(ctx, dialedKey{}, &nc))
	if err != nil {
		return nil, err
	}
	lc, ok := dc.(libConn)
	if !ok || nc == nil {
		dc.Close()
		return nil, fmt.Errorf("mysql: client connection %T lacks the interfaces database/sql needs, or was not dialled by dial", dc)
	}
	before := time.Now()
	id, version, serverAt, err := identify(ctx, lc)
	if err != nil {
		lc.Close()
		return nil, err
	}
	// The server read its clock about halfway through the round trip.
	clockAt := before.Add(time.Since(before) / 2)
	mariaDB := strings.Contains(version, "MariaDB")
	set := "SET time_zone = '+00:00'"
	if c.timeout > 0 {
		if mariaDB {
			set += ", max_statement_time = " + strconv.Itoa(c.timeout)
		} else {
			set += ", max_execution_time = " + strconv.Itoa(c.timeout*1000)
		}
	}
	if _, err := lc.ExecContext(ctx, set, nil); err != nil {
		lc.Close()
		return nil, err
	}
	return &serverConn{libConn: lc, id: id, mariaDB: mariaDB, netConn: nc, clockAt: clockAt, serverAt: serverAt}, nil
}

// serverClock is SQL for the server's clock in Unix microseconds, whatever
// the session's time zone.
const serverClock = "TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6))"

// identify returns the connection's id, the server's VERSION() and the
// server's clock in Unix microseconds.
func identify(ctx context.Context, lc libConn) (id int64, version string, clock int64, err error) {
	rs, err := lc.QueryContext(ctx, "SELECT CONNECTION_ID(), VERSION(), "+serverClock, nil)
	if err != nil {
		return 0, "", 0, err
	}
	defer rs.Close()
	vals := make([]driver.Value, 3)
	if err := rs.Next(vals); err != nil {
		return 0, "", 0, fmt.Errorf("mysql: SELECT CONNECTION_ID(): %w", err)
	}
	if id, err = driverInt(vals[0]); err != nil {
		return 0, "", 0, fmt.Errorf("mysql: CONNECTION_ID() = %w", err)
	}
	if clock, err = driverInt(vals[2]); err != nil {
		return 0, "", 0, fmt.Errorf("mysql: UTC_TIMESTAMP(6) in microseconds = %w", err)
	}
	v, _ := vals[1].([]byte)
	return id, string(v), clock, nil
}

// driverInt returns the integer the client library returned as v.
func driverInt(v driver.Value) (int64, error) {
	switch v := v.(type) {
	case int64:
		return v, nil
	case uint64:
		if v <= math.MaxInt64 {
			return int64(v), nil
		}
	case []byte:
		if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return n, nil
		}
	}
	return 0, fmt.Errorf("%#v, want an integer", v)
}
