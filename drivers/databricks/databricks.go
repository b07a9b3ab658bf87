// Package databricks is the Databricks SQL driver (Redash type "databricks"),
// built on github.com/databricks/databricks-sql-go (Thrift over HTTPS) and
// database/sql's pool.
//
// Each Conn holds a pool of up to Options.MaxConnections warehouse sessions.
// A Query's statement runs asynchronously in the warehouse; cancelling the
// Query's ctx while it runs makes the client library send CancelOperation,
// and cancelling it while rows stream, or closing the Rows early, closes
// the rows, which sends CloseOperation.
//
// The id reported through drivers.ReportQueryID, as soon as the warehouse
// accepts a statement, is the Thrift operation handle's GUID in its usual
// text form ("01ef…-…"), which Databricks uses as the statement's id in
// query history and in the SQL Statement Execution API. Conn.CancelQuery
// (drivers.Canceler) cancels a statement by that id from any process
// through that API: POST /api/2.0/sql/statements/<id>/cancel on the data
// source's host, with its access token. That the API reaches statements
// submitted over Thrift this way was tested against this package's fake
// warehouse only, not against a real workspace.
//
// Conn.Schema (drivers.Inspector) reads Unity Catalog's
// information_schema.columns of the configured catalog, or of the
// session's default catalog when the catalog option is unset.
//
// The driver talks to the data source's host only, to the warehouse's HTTP
// path and the statement cancel endpoint: the library's telemetry and
// feature-flag requests are refused before they leave the process, and
// CloudFetch (result downloads from cloud storage) is off.
//
// Values follow the drivers package comment, with these Databricks choices:
// TINYINT, SMALLINT, INT and BIGINT are int64; FLOAT and DOUBLE are float64
// (Redash type float); DECIMAL is a drivers.Decimal in the warehouse's exact
// text (Redash type float); BOOLEAN is bool; DATE is a time.Time at midnight
// UTC; TIMESTAMP is a time.Time in UTC; TIMESTAMP_NTZ, which has no zone, is
// a string "2006-01-02T15:04:05.999999"; BINARY is []byte; ARRAY, MAP and
// STRUCT are the warehouse's JSON text; everything else (STRING, INTERVAL,
// VARCHAR, …) is text. Column.DatabaseType is the library's type name
// ("BIGINT", "DECIMAL", …).
package databricks

import (
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	dblogger "github.com/databricks/databricks-sql-go/logger"

	"github.com/queryd/queryd/drivers"
)

// Driver is the Databricks SQL driver; main registers it as "databricks". It
// implements drivers.Driver, drivers.Configurer and drivers.Dialecter, and
// its Conns implement drivers.Pinger, drivers.Inspector and drivers.Canceler.
type Driver struct {
	// transport, when set (by tests), carries the HTTPS requests instead of
	// a transport trusting the system's certificate authorities.
	transport http.RoundTripper
}

var (
	_ drivers.Driver     = (*Driver)(nil)
	_ drivers.Configurer = (*Driver)(nil)
	_ drivers.Dialecter  = (*Driver)(nil)
	_ drivers.Pinger     = (*conn)(nil)
	_ drivers.Inspector  = (*conn)(nil)
	_ drivers.Canceler   = (*conn)(nil)
)

// New returns the Databricks SQL driver.
func New() *Driver { return &Driver{} }

// Options are a Databricks data source's options, under the names of
// Redash's databricks runner (host, http_path, http_password) plus queryd's
// own. Unknown keys (schemas, useQueryAnnotation, …) are ignored.
type Options struct {
	Host             string `json:"host"`              // workspace host name, required; "https://" is tolerated
	HTTPPath         string `json:"http_path"`         // the warehouse's HTTP path, required
	HTTPPassword     string `json:"http_password"`     // personal access token (Redash's key), secret
	AccessToken      string `json:"access_token"`      // the same, under its own name; secret
	Port             int    `json:"port"`              // default 443; 1..65535
	Catalog          string `json:"catalog"`           // initial catalog, optional
	Schema           string `json:"schema"`            // initial schema, optional
	StatementTimeout int    `json:"statement_timeout"` // seconds, 0 = none; the statement's queryTimeout
	MaxConnections   int    `json:"max_connections"`   // pool size (sessions), default 10, 1..100
}

// Option defaults and limits.
const (
	defaultPort           = 443
	defaultMaxConnections = 10
	maxMaxConnections     = 100
	maxStatementTimeout   = 172800 // 48 hours, Databricks' own upper bound
	// idleTimeout closes sessions unused for this long.
	idleTimeout = 10 * time.Minute
)

// token is the access token, under whichever key it was given.
func (o Options) token() string {
	if o.HTTPPassword != "" {
		return o.HTTPPassword
	}
	return o.AccessToken
}

// addr is host:port, the only connection detail errors name.
func (o Options) addr() string {
	return net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
}

// ValidateOptions returns an *drivers.OptionsError naming the first bad
// field of config, or nil.
func (d *Driver) ValidateOptions(config json.RawMessage) error {
	_, err := parseOptions(config)
	return err
}

// SecretOptions names the option keys whose values must never be shown.
func (d *Driver) SecretOptions() []string { return []string{"http_password", "access_token"} }

// Dialect is Databricks SQL's: backquoted identifiers, LIMIT, and a
// statement timeout sent with each statement.
func (d *Driver) Dialect() drivers.Dialect {
	return drivers.Dialect{
		QuoteOpen:          "`",
		QuoteClose:         "`",
		StatementTimeout:   "statement_timeout option (seconds), sent as each statement's query timeout",
		DefaultConcurrency: defaultMaxConnections,
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
	quietLibrary.Do(func() {
		// The library logs every failure it also returns, as JSON on stderr
		// outside queryd's logging; its logger is process-wide.
		_ = dblogger.SetLogLevel("disabled")
	})
	base := d.transport
	if base == nil {
		base = defaultTransport()
	}
	path := o.HTTPPath
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	tr := &onlyThrift{base: base, host: o.Host, path: path}
	opts := []dbsql.ConnOption{
		// "https://" keeps the library from choosing plain HTTP for localhost.
		dbsql.WithServerHostname("https://" + o.Host),
		dbsql.WithPort(o.Port),
		dbsql.WithHTTPPath(o.HTTPPath),
		dbsql.WithAccessToken(o.token()),
		dbsql.WithCloudFetch(false),
		dbsql.WithTimeout(time.Duration(o.StatementTimeout) * time.Second),
		dbsql.WithRetries(2, 500*time.Millisecond, 5*time.Second),
		dbsql.WithUserAgentEntry("queryd"),
		// Timestamps are rendered in UTC, and read back as UTC.
		dbsql.WithSessionParams(map[string]string{"timezone": "UTC"}),
		dbsql.WithTransport(tr),
	}
	if o.Catalog != "" || o.Schema != "" {
		opts = append(opts, dbsql.WithInitialNamespace(o.Catalog, o.Schema))
	}
	connector, err := dbsql.NewConnector(opts...)
	if err != nil {
		return nil, redact(o, fmt.Errorf("connect to %s: %w", o.addr(), err))
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(o.MaxConnections)
	db.SetMaxIdleConns(o.MaxConnections)
	db.SetConnMaxIdleTime(idleTimeout)
	return &conn{db: db, opts: o, transport: tr}, nil
}

// quietLibrary silences the client library's logger once per process.
var quietLibrary sync.Once

// defaultTransport is net/http's default transport (proxy from the
// environment, system CAs), with TLS 1.2 at least.
func defaultTransport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	return t
}

// onlyThrift passes the Thrift requests to the warehouse's HTTP path and
// the Statement Execution API's cancel requests (POST
// /api/2.0/sql/statements/<id>/cancel, sent by CancelQuery) to the same
// host, and refuses every other request the library makes (telemetry,
// feature flags), which turns those features off.
type onlyThrift struct {
	base http.RoundTripper
	host string
	path string

	refused atomic.Pointer[string] // see refusal
}

// errRefused is returned for requests onlyThrift does not let through.
var errRefused = errors.New("databricks: request outside the warehouse's HTTP path refused")

func (t *onlyThrift) RoundTrip(req *http.Request) (*http.Response, error) {
	thriftCall := req.URL.Path == t.path
	if req.URL.Scheme != "https" || req.URL.Hostname() != t.host || req.Method != http.MethodPost ||
		!thriftCall && !isCancelPath(req.URL.Path) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, errRefused
	}
	resp, err := t.base.RoundTrip(req)
	if err == nil && thriftCall {
		// 401 and 403 are not retried by the library; they are remembered so
		// that the error they cause reads as a refused token.
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			status := resp.Status
			t.refused.Store(&status)
		} else if resp.StatusCode == http.StatusOK {
			t.refused.Store(nil)
		}
	}
	return resp, err
}

// refusal returns the HTTP status with which the warehouse last refused the
// access token, or "" if its last answer was not a refusal.
func (t *onlyThrift) refusal() string {
	if s := t.refused.Load(); s != nil {
		return *s
	}
	return ""
}

// parseOptions decodes config, fills in defaults and checks every field.
func parseOptions(config json.RawMessage) (Options, error) {
	var o Options
	if err := drivers.DecodeOptions(config, &o); err != nil {
		return o, err
	}
	o.Host = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(o.Host), "https://"), "/")
	o.HTTPPath = strings.TrimSpace(o.HTTPPath)
	if o.HTTPPath != "" && !strings.HasPrefix(o.HTTPPath, "/") {
		o.HTTPPath = "/" + o.HTTPPath
	}
	if o.Port == 0 {
		o.Port = defaultPort
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = defaultMaxConnections
	}
	switch {
	case o.Host == "":
		return o, &drivers.OptionsError{Field: "host", Reason: "is required"}
	case strings.HasPrefix(o.Host, "http://"):
		return o, &drivers.OptionsError{Field: "host", Reason: "must use https"}
	case strings.ContainsAny(o.Host, " \t\r\n,/?#@:"):
		return o, &drivers.OptionsError{Field: "host", Reason: "must be a host name, e.g. dbc-1234.cloud.databricks.com"}
	case o.HTTPPath == "":
		return o, &drivers.OptionsError{Field: "http_path", Reason: "is required"}
	case strings.ContainsAny(o.HTTPPath, " \t\r\n#"):
		return o, &drivers.OptionsError{Field: "http_path", Reason: "must be a URL path, e.g. /sql/1.0/warehouses/abc123"}
	case o.token() == "":
		return o, &drivers.OptionsError{Field: "http_password", Reason: "is required (the access token)"}
	case o.HTTPPassword != "" && o.AccessToken != "" && o.HTTPPassword != o.AccessToken:
		return o, &drivers.OptionsError{Field: "access_token", Reason: "differs from http_password: give the token once"}
	case o.Port < 1 || o.Port > 65535:
		return o, &drivers.OptionsError{Field: "port", Reason: "must be between 1 and 65535"}
	case strings.ContainsAny(o.Catalog, "\x00\r\n"):
		return o, &drivers.OptionsError{Field: "catalog", Reason: "must be a catalog name"}
	case strings.ContainsAny(o.Schema, "\x00\r\n"):
		return o, &drivers.OptionsError{Field: "schema", Reason: "must be a schema name"}
	case o.StatementTimeout < 0 || o.StatementTimeout > maxStatementTimeout:
		return o, &drivers.OptionsError{Field: "statement_timeout", Reason: fmt.Sprintf("must be between 0 and %d seconds", maxStatementTimeout)}
	case o.MaxConnections < 1 || o.MaxConnections > maxMaxConnections:
		return o, &drivers.OptionsError{Field: "max_connections", Reason: fmt.Sprintf("must be between 1 and %d", maxMaxConnections)}
	}
	return o, nil
}
