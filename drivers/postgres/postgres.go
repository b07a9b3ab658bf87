// Package postgres is the PostgreSQL driver (Redash type "pg") and, with
// Redshift's defaults and schema query, the Redshift driver (Redash type
// "redshift"), built on pgx v5 and its pool.
//
// Each Conn holds a pool of up to Options.MaxConnections connections.
// Cancelling a Query's ctx, before or while rows are read, sends PostgreSQL a
// cancel request for the statement and leaves the connection usable.
// Statements run with the extended protocol (one unnamed prepared statement
// per Query), so a Query holds exactly one SQL statement.
//
// Values follow the drivers package comment, with these PostgreSQL choices:
// int2/int4/int8/oid are int64; float4/float8 are float64; numeric is a
// drivers.Decimal in PostgreSQL's own exact text, and nil for NaN and
// ±Infinity, which no Decimal can spell; date and timestamptz are time.Time in
// UTC, and nil for ±infinity; timestamp (without time zone) is a string
// "2006-01-02T15:04:05.999999" ("infinity" and "-infinity" as such); bytea is
// []byte; every other type, including json, jsonb, uuid, interval, time,
// arrays, enums and types pgx does not know, is PostgreSQL's text for it.
//
// Connections are reused. Settings a statement changes (SET, SET ROLE,
// search_path) are reset with RESET ALL before the connection serves the next
// statement; temporary tables stay with their connection.
//
// Each statement's query id (drivers.ReportQueryID) is "<pid>:<tag>": the
// backend's process id and a tag unique to the statement, which Query puts in
// a comment in front of the statement's text ("/* queryd <pid>:<tag> */ ")
// so that CancelQuery, from any process, cancels that statement and never a
// later one on the same backend or on a backend that reused the pid.
package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/queryd/queryd/drivers"
)

// Driver is the PostgreSQL driver (New), which main registers as "pg", or
// the Redshift driver (NewRedshift), registered as "redshift". It implements
// drivers.Driver, drivers.Configurer and drivers.Dialecter, and its Conns
// implement drivers.Pinger, drivers.Canceler and drivers.Inspector.
type Driver struct {
	// redshift selects Redshift's option defaults (port 5439, sslmode
	// require) and a schema query on information_schema alone.
	redshift bool
}

var (
	_ drivers.Driver     = (*Driver)(nil)
	_ drivers.Configurer = (*Driver)(nil)
	_ drivers.Dialecter  = (*Driver)(nil)
	_ drivers.Pinger     = (*conn)(nil)
	_ drivers.Canceler   = (*conn)(nil)
	_ drivers.Inspector  = (*conn)(nil)
)

// New returns the PostgreSQL driver.
func New() *Driver { return &Driver{} }

// NewRedshift returns the Redshift driver: the PostgreSQL driver with port
// 5439 and sslmode "require" as defaults, and a Schema that reads
// information_schema only.
func NewRedshift() *Driver { return &Driver{redshift: true} }

// Dialect is ANSI quoting and LIMIT, with the statement_timeout option sent
// as the statement_timeout runtime parameter, for PostgreSQL and Redshift
// alike.
func (d *Driver) Dialect() drivers.Dialect {
	return drivers.Dialect{
		QuoteOpen:          `"`,
		QuoteClose:         `"`,
		StatementTimeout:   "option statement_timeout (seconds), sent as the statement_timeout runtime parameter",
		DefaultConcurrency: 5,
	}
}

// Options are a PostgreSQL or Redshift data source's options, under Redash's
// names. Unknown keys are ignored.
type Options struct {
	Host             string `json:"host"`              // default "127.0.0.1"
	Port             int    `json:"port"`              // default 5432 (Redshift 5439); 1..65535
	User             string `json:"user"`              // required
	Password         string `json:"password"`          // secret
	DBName           string `json:"dbname"`            // required
	SSLMode          string `json:"sslmode"`           // disable|allow|prefer|require|verify-ca|verify-full; default prefer (Redshift require)
	StatementTimeout int    `json:"statement_timeout"` // seconds, 0 = the server's default; sent as the statement_timeout runtime parameter
	MaxConnections   int    `json:"max_connections"`   // pool size, default 5, 1..100
}

// Option defaults and limits.
const (
	defaultHost           = "127.0.0.1"
	defaultPort           = 5432
	defaultSSLMode        = "prefer"
	redshiftPort          = 5439
	redshiftSSLMode       = "require"
	defaultMaxConnections = 5
	maxMaxConnections     = 100
	// maxStatementTimeout is the largest statement_timeout PostgreSQL
	// accepts (INT_MAX milliseconds), in seconds.
	maxStatementTimeout = 2147483
	// connectTimeout bounds each connection attempt, including those the
	// pool makes in the background without a caller's ctx.
	connectTimeout = 10 * time.Second
	// cancelDeadline is how long after a cancel request the connection
	// waits for PostgreSQL to answer before giving up on it.
	cancelDeadline = 5 * time.Second
)

var sslModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

// ValidateOptions returns an *drivers.OptionsError naming the first bad
// field of config, or nil.
func (d *Driver) ValidateOptions(config json.RawMessage) error {
	_, err := d.parseOptions(config)
	return err
}

// SecretOptions names the option keys whose values must never be shown.
func (d *Driver) SecretOptions() []string { return []string{"password"} }

// Open validates config and returns a Conn holding a connection pool. It does
// not connect: the first Query or Ping does, and reports connection errors.
// It returns an *drivers.OptionsError when config is invalid.
func (d *Driver) Open(ctx context.Context, config json.RawMessage) (drivers.Conn, error) {
	o, err := d.parseOptions(config)
	if err != nil {
		return nil, err
	}
	cfg, err := poolConfig(o)
	if err != nil {
		return nil, newConnectError(o, err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, newConnectError(o, err)
	}
	return &conn{pool: pool, opts: o, redshift: d.redshift}, nil
}

// parseOptions decodes config, fills in d's defaults and checks every field.
func (d *Driver) parseOptions(config json.RawMessage) (Options, error) {
	if d.redshift {
		return parseOptions(config, Options{Port: redshiftPort, SSLMode: redshiftSSLMode})
	}
	return parseOptions(config, Options{Port: defaultPort, SSLMode: defaultSSLMode})
}

// parseOptions decodes config, fills in defaults (the Port and SSLMode of
// defaults; the host and pool size default alike for both drivers) and
// checks every field.
func parseOptions(config json.RawMessage, defaults Options) (Options, error) {
	var o Options
	if err := drivers.DecodeOptions(config, &o); err != nil {
		return o, err
	}
	if o.Host == "" {
		o.Host = defaultHost
	}
	if o.Port == 0 {
		o.Port = defaults.Port
	}
	if o.SSLMode == "" {
		o.SSLMode = defaults.SSLMode
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = defaultMaxConnections
	}
	switch {
	case strings.ContainsAny(o.Host, " \t\r\n,"):
		return o, &drivers.OptionsError{Field: "host", Reason: "must be one host name or address"}
	case o.Port < 1 || o.Port > 65535:
		return o, &drivers.OptionsError{Field: "port", Reason: "must be between 1 and 65535"}
	case o.User == "":
		return o, &drivers.OptionsError{Field: "user", Reason: "is required"}
	case o.DBName == "":
		return o, &drivers.OptionsError{Field: "dbname", Reason: "is required"}
	case !slices.Contains(sslModes, o.SSLMode):
		return o, &drivers.OptionsError{Field: "sslmode", Reason: "must be one of " + strings.Join(sslModes, ", ")}
	case o.StatementTimeout < 0 || o.StatementTimeout > maxStatementTimeout:
		return o, &drivers.OptionsError{Field: "statement_timeout", Reason: fmt.Sprintf("must be between 0 and %d seconds", maxStatementTimeout)}
	case o.MaxConnections < 1 || o.MaxConnections > maxMaxConnections:
		return o, &drivers.OptionsError{Field: "max_connections", Reason: fmt.Sprintf("must be between 1 and %d", maxMaxConnections)}
	}
	return o, nil
}

// addr is host:port/dbname, the only connection detail errors name.
func (o Options) addr() string {
	return net.JoinHostPort(o.Host, strconv.Itoa(o.Port)) + "/" + o.DBName
}

// poolConfig builds the pool configuration from o alone. pgx's parser also
// consults PG* environment variables and files under $HOME for settings the
// connection string leaves out, so the string sets every setting that could
// be picked up that way (except PGSERVICE, which cannot be overridden), and
// the runtime parameters are replaced wholesale. The password never goes
// into the string, so no parse error can quote it.
func poolConfig(o Options) (*pgxpool.Config, error) {
	settings := []struct{ key, value string }{
		{"host", o.Host},
		{"port", strconv.Itoa(o.Port)},
		{"dbname", o.DBName},
		{"user", o.User},
		{"sslmode", o.SSLMode},
		{"connect_timeout", strconv.Itoa(int(connectTimeout / time.Second))},
		{"passfile", ""},
		{"servicefile", ""},
		{"sslrootcert", ""},
		{"sslcert", ""},
		{"sslkey", ""},
		{"sslpassword", ""},
		{"sslcertmode", "allow"},
		{"sslsni", "1"},
		{"sslnegotiation", ""},
		{"target_session_attrs", "any"},
		{"min_protocol_version", "3.0"},
		{"max_protocol_version", "3.0"},
		{"channel_binding", "prefer"},
		{"require_auth", ""},
	}
	var dsn strings.Builder
	for _, s := range settings {
		if dsn.Len() > 0 {
			dsn.WriteByte(' ')
		}
		dsn.WriteString(s.key)
		dsn.WriteString("='")
		dsn.WriteString(dsnEscaper.Replace(s.value))
		dsn.WriteByte('\'')
	}
	cfg, err := pgxpool.ParseConfig(dsn.String())
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = int32(o.MaxConnections)
	cc := cfg.ConnConfig
	cc.Password = o.Password
	cc.KerberosSrvName, cc.KerberosSpn = "", ""
	cc.RuntimeParams = map[string]string{"application_name": "queryd"}
	if o.StatementTimeout > 0 {
		cc.RuntimeParams["statement_timeout"] = strconv.Itoa(o.StatementTimeout * 1000)
	}
	cc.DefaultQueryExecMode = pgx.QueryExecModeDescribeExec
	cc.StatementCacheCapacity = 0
	cc.DescriptionCacheCapacity = 0
	cc.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{
			Conn:               pc,
			CancelRequestDelay: 0,
			DeadlineDelay:      cancelDeadline,
		}
	}
	// A statement may change its session (SET, SET ROLE, search_path); the
	// connection goes back to the pool only after RESET ALL, so the next
	// query, perhaps another user's, starts from the data source's own
	// settings. pgx runs this after the caller is done with the connection;
	// a connection that cannot be reset is dropped.
	cfg.AfterRelease = func(c *pgx.Conn) bool {
		ctx, cancel := context.WithTimeout(context.Background(), resetTimeout)
		defer cancel()
		_, err := c.PgConn().Exec(ctx, "RESET ALL").ReadAll()
		return err == nil
	}
	return cfg, nil
}

// resetTimeout bounds the RESET ALL that cleans a connection for reuse.
const resetTimeout = 5 * time.Second

// dsnEscaper quotes a value for a single-quoted keyword/value setting.
var dsnEscaper = strings.NewReplacer(`\`, `\\`, `'`, `\'`)
