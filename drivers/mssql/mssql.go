// Package mssql is the SQL Server driver (Redash type "mssql"), built on
// github.com/microsoft/go-mssqldb and database/sql's pool.
//
// Each Conn holds a pool of up to Options.MaxConnections sessions. Every
// Query runs on a session of its own: it first reads the session id
// (SELECT @@SPID), which it reports as the statement's query id
// (drivers.ReportQueryID), then runs the statement under ctx. Cancelling
// ctx, before or while rows are read, or closing the Rows before the end,
// makes the client library send a TDS ATTENTION and wait for the server's
// DONE with the attention flag: the statement stops inside the server and
// the session goes back to the pool, usable. The statement_timeout option
// is applied the same way, as a ctx deadline per statement; a statement that
// runs out of time fails with a *drivers.QueryError.
//
// The Conn does not implement drivers.Canceler: the only way to stop a
// statement from another process is KILL <spid>, which ends the whole
// session, needs ALTER ANY CONNECTION, and can hit an unrelated session
// once the SPID has been reused. The query id is reported for the record.
//
// Values follow the drivers package comment, with these SQL Server choices:
// TINYINT, SMALLINT, INT and BIGINT are int64; REAL and FLOAT are float64;
// DECIMAL, NUMERIC, MONEY and SMALLMONEY are drivers.Decimal (column type
// float); BIT is bool; CHAR, VARCHAR, NCHAR, NVARCHAR, TEXT, NTEXT and XML
// are strings, UNIQUEIDENTIFIER its canonical upper-case text; DATE is a
// time.Time at midnight UTC; DATETIME, DATETIME2 and SMALLDATETIME, which
// have no zone, are strings "2006-01-02T15:04:05.9999999" (up to the 100 ns
// DATETIME2 keeps); DATETIMEOFFSET is a time.Time keeping its offset; TIME
// is a string "15:04:05.9999999"; BINARY, VARBINARY and IMAGE are []byte.
// Anything else (SQL_VARIANT, user-defined types) is rendered as text.
package mssql

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"database/sql"

	mssqldb "github.com/microsoft/go-mssqldb"

	"github.com/queryd/queryd/drivers"
)

// Driver is the SQL Server driver; main registers it as "mssql". It
// implements drivers.Driver, drivers.Configurer and drivers.Dialecter, and
// its Conns implement drivers.Pinger and drivers.Inspector.
type Driver struct{}

var (
	_ drivers.Driver     = (*Driver)(nil)
	_ drivers.Configurer = (*Driver)(nil)
	_ drivers.Dialecter  = (*Driver)(nil)
	_ drivers.Pinger     = (*conn)(nil)
	_ drivers.Inspector  = (*conn)(nil)
)

// New returns the SQL Server driver.
func New() *Driver { return &Driver{} }

// Options are a SQL Server data source's options, under the names of
// Redash's mssql runner. charset and tds_version are accepted and ignored:
// go-mssqldb always speaks UTF-16 and negotiates TDS 7.4 (8.0 with encrypt
// strict) itself. Unknown keys are ignored.
type Options struct {
	Server           string `json:"server"`            // default "127.0.0.1"; a host name or address
	Port             int    `json:"port"`              // default 1433; 1..65535
	User             string `json:"user"`              // required
	Password         string `json:"password"`          // secret
	DB               string `json:"db"`                // required
	Charset          string `json:"charset,omitempty"` // ignored
	TDSVersion       string `json:"tds_version,omitempty"`
	Encrypt          string `json:"encrypt"`           // disable|false|true|strict; default true
	StatementTimeout int    `json:"statement_timeout"` // seconds, 0 = none; a ctx deadline per statement
	MaxConnections   int    `json:"max_connections"`   // pool size, default 5, 1..100
}

// Option defaults and limits.
const (
	defaultServer         = "127.0.0.1"
	defaultPort           = 1433
	defaultEncrypt        = "true"
	defaultMaxConnections = 5
	maxMaxConnections     = 100
	maxStatementTimeout   = 7 * 24 * 3600
	dialTimeoutSeconds    = 10
	idleTimeout           = 30 * time.Minute
)

// encryptModes are go-mssqldb's encrypt values: disable (no TLS at all),
// false (TLS for the login only), true (TLS, certificate verified), strict
// (TDS 8.0, TLS before anything else).
var encryptModes = []string{"disable", "false", "true", "strict"}

// ValidateOptions returns an *drivers.OptionsError naming the first bad
// field of config, or nil.
func (d *Driver) ValidateOptions(config json.RawMessage) error {
	_, err := parseOptions(config)
	return err
}

// SecretOptions names the option keys whose values must never be shown.
func (d *Driver) SecretOptions() []string { return []string{"password"} }

// Dialect describes SQL Server's SQL: SELECT TOP n, [quoted] identifiers.
func (d *Driver) Dialect() drivers.Dialect {
	return drivers.Dialect{
		TopLimit:           true,
		QuoteOpen:          "[",
		QuoteClose:         "]",
		StatementTimeout:   "statement_timeout: a deadline per statement; when it passes the client sends ATTENTION and the statement fails",
		DefaultConcurrency: 5,
	}
}

// Open validates config and returns a Conn holding a session pool. It does
// not connect: the first Query or Ping does, and reports connection errors.
// It returns an *drivers.OptionsError when config is invalid.
func (d *Driver) Open(ctx context.Context, config json.RawMessage) (drivers.Conn, error) {
	o, err := parseOptions(config)
	if err != nil {
		return nil, err
	}
	connector, err := mssqldb.NewConnector(dsn(o))
	if err != nil {
		// The DSN is never part of the message; the library's own text
		// could quote a value, so it is redacted too.
		return nil, redact(o, fmt.Errorf("connect to %s: %w", o.addr(), err))
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(o.MaxConnections)
	db.SetMaxIdleConns(o.MaxConnections)
	db.SetConnMaxIdleTime(idleTimeout)
	return &conn{db: db, opts: o}, nil
}

// parseOptions decodes config, fills in defaults and checks every field.
func parseOptions(config json.RawMessage) (Options, error) {
	var o Options
	if err := drivers.DecodeOptions(config, &o); err != nil {
		return o, err
	}
	if o.Server == "" {
		o.Server = defaultServer
	}
	if o.Port == 0 {
		o.Port = defaultPort
	}
	if o.Encrypt == "" {
		o.Encrypt = defaultEncrypt
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = defaultMaxConnections
	}
	validEncrypt := false
	for _, m := range encryptModes {
		validEncrypt = validEncrypt || o.Encrypt == m
	}
	switch {
	case strings.ContainsAny(o.Server, " \t\r\n,/\\()?#@"):
		return o, &drivers.OptionsError{Field: "server", Reason: `must be one host name or address (for a named instance, give its port instead of "\instance")`}
	case o.Port < 1 || o.Port > 65535:
		return o, &drivers.OptionsError{Field: "port", Reason: "must be between 1 and 65535"}
	case o.User == "":
		return o, &drivers.OptionsError{Field: "user", Reason: "is required"}
	case o.DB == "":
		return o, &drivers.OptionsError{Field: "db", Reason: "is required"}
	case !validEncrypt:
		return o, &drivers.OptionsError{Field: "encrypt", Reason: "must be one of " + strings.Join(encryptModes, ", ")}
	case o.StatementTimeout < 0 || o.StatementTimeout > maxStatementTimeout:
		return o, &drivers.OptionsError{Field: "statement_timeout", Reason: fmt.Sprintf("must be between 0 and %d seconds", maxStatementTimeout)}
	case o.MaxConnections < 1 || o.MaxConnections > maxMaxConnections:
		return o, &drivers.OptionsError{Field: "max_connections", Reason: fmt.Sprintf("must be between 1 and %d", maxMaxConnections)}
	}
	return o, nil
}

// addr is server:port/db, the only connection detail errors name.
func (o Options) addr() string {
	return net.JoinHostPort(o.Server, strconv.Itoa(o.Port)) + "/" + o.DB
}

// dsn builds go-mssqldb's URL connection string from o alone, every value
// escaped. It holds the password: it is never logged or put in an error.
func dsn(o Options) string {
	q := url.Values{}
	q.Set("database", o.DB)
	q.Set("encrypt", o.Encrypt)
	q.Set("app name", "queryd")
	q.Set("dial timeout", strconv.Itoa(dialTimeoutSeconds))
	u := url.URL{
		Scheme:   "sqlserver",
		User:     url.UserPassword(o.User, o.Password),
		Host:     net.JoinHostPort(o.Server, strconv.Itoa(o.Port)),
		RawQuery: q.Encode(),
	}
	return u.String()
}
