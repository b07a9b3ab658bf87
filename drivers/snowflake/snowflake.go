// Package snowflake is the Snowflake driver (Redash type "snowflake"), built
// on github.com/snowflakedb/gosnowflake/v2 and database/sql's pool.
//
// Each Conn holds a pool of up to Options.MaxConnections Snowflake sessions,
// logged in with a password or, when private_key is set, with key-pair (JWT)
// authentication. Sessions run with the JSON result format (the session
// parameter GO_QUERY_RESULT_FORMAT), so every value arrives as Snowflake's own
// text and numbers stay exact, and with STATEMENT_TIMEOUT_IN_SECONDS when the
// statement_timeout option is set.
//
// Cancelling a Query's ctx while Snowflake runs the statement makes the
// client library send Snowflake an abort request for it (and Query returns an
// error wrapping ctx's error). A result Snowflake has finished computing is
// downloaded in chunks; cancelling ctx or closing the Rows while reading it
// stops the downloads. The statement's Snowflake query id is passed to
// drivers.ReportQueryID as soon as Snowflake answers the query request: at
// once for a statement that ends quickly, and after about 45 seconds (when
// Snowflake first answers "in progress") for a long one. CancelQuery stops a
// statement by that id from any process, with SYSTEM$CANCEL_QUERY.
//
// Values follow the drivers package comment, with these Snowflake choices:
// FIXED (NUMBER, INT, DECIMAL…) with scale 0 is an integer column of int64,
// or a drivers.Decimal when the value does not fit in an int64; FIXED with a
// scale is a float column of exact drivers.Decimal values; REAL (FLOAT,
// DOUBLE) is float64; TEXT is a string; BOOLEAN is a bool; DATE is a
// time.Time at midnight UTC; TIMESTAMP_NTZ is a string
// "2006-01-02T15:04:05.999999999"; TIMESTAMP_LTZ is a time.Time in UTC and
// TIMESTAMP_TZ a time.Time keeping the value's own offset; TIME is a string
// "15:04:05.999999999"; BINARY is []byte; VARIANT, OBJECT and ARRAY are
// their JSON text; every other type is Snowflake's text for it.
//
// Sessions are reused: what a statement changes in its session (USE, ALTER
// SESSION, temporary tables) stays with its pooled session for later
// statements.
package snowflake

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	sf "github.com/snowflakedb/gosnowflake/v2"

	"github.com/queryd/queryd/drivers"
)

// Driver is the Snowflake driver; main registers it as "snowflake". It
// implements drivers.Driver, drivers.Configurer and drivers.Dialecter, and
// its Conns implement drivers.Pinger, drivers.Inspector and drivers.Canceler.
type Driver struct{}

var (
	_ drivers.Driver     = (*Driver)(nil)
	_ drivers.Configurer = (*Driver)(nil)
	_ drivers.Dialecter  = (*Driver)(nil)
	_ drivers.Pinger     = (*conn)(nil)
	_ drivers.Inspector  = (*conn)(nil)
	_ drivers.Canceler   = (*conn)(nil)
)

// New returns the Snowflake driver.
func New() *Driver { return &Driver{} }

// Options are a Snowflake data source's options, under the names of Redash's
// snowflake runner (account, user, password, private_key, warehouse,
// database, region, host, lower_case_columns) plus schema, role,
// statement_timeout and max_connections. Unknown keys are ignored.
//
// Host, Port and Protocol are advanced options: by default queryd connects to
// https://<account>[.<region>].snowflakecomputing.com:443. Protocol "http" is
// accepted only for a host on the loopback interface (a local stand-in for
// Snowflake, as in tests).
type Options struct {
	Account          string `json:"account"`            // required, e.g. "xy12345" or "myorg-myaccount"
	User             string `json:"user"`               // required
	Password         string `json:"password"`           // secret; this or private_key is required
	PrivateKey       string `json:"private_key"`        // secret; unencrypted RSA key in PEM (PKCS#8 or PKCS#1), for key-pair authentication
	Warehouse        string `json:"warehouse"`          // required
	Database         string `json:"database"`           // required; "DB.SCHEMA" also sets the schema, as in Redash
	Schema           string `json:"schema"`             // optional
	Role             string `json:"role"`               // optional; the user's default role otherwise
	Region           string `json:"region"`             // optional; Redash's default "us-west" means none
	LowerCaseColumns bool   `json:"lower_case_columns"` // report column names in lower case
	StatementTimeout int    `json:"statement_timeout"`  // seconds, 0 = Snowflake's default; STATEMENT_TIMEOUT_IN_SECONDS
	MaxConnections   int    `json:"max_connections"`    // sessions in the pool, default 8, 1..100

	Host     string `json:"host"`     // advanced: overrides the host derived from account and region
	Port     int    `json:"port"`     // advanced: default 443; 1..65535
	Protocol string `json:"protocol"` // advanced: "https" (default), or "http" for a loopback host
}

// Option defaults and limits.
const (
	defaultProtocol       = "https"
	defaultPort           = 443
	defaultMaxConnections = 8
	maxMaxConnections     = 100
	// maxStatementTimeout is the largest STATEMENT_TIMEOUT_IN_SECONDS
	// Snowflake accepts (seven days).
	maxStatementTimeout = 604800
	// redashDefaultRegion is the region Redash's form fills in, which means
	// "the account's own URL, without a region".
	redashDefaultRegion = "us-west"
	// loginTimeout bounds a login, including the client library's retries.
	loginTimeout = 60 * time.Second
	// sessionIdleTime is how long an unused session stays in the pool.
	sessionIdleTime = 10 * time.Minute
)

// ValidateOptions returns an *drivers.OptionsError naming the first bad
// field of config, or nil.
func (d *Driver) ValidateOptions(config json.RawMessage) error {
	_, err := parseOptions(config)
	return err
}

// SecretOptions names the option keys whose values must never be shown.
func (d *Driver) SecretOptions() []string { return []string{"password", "private_key"} }

// Dialect describes Snowflake's SQL: ANSI quoting, LIMIT, and the
// statement_timeout option sent as STATEMENT_TIMEOUT_IN_SECONDS.
func (d *Driver) Dialect() drivers.Dialect {
	return drivers.Dialect{
		QuoteOpen:          `"`,
		QuoteClose:         `"`,
		StatementTimeout:   "session parameter STATEMENT_TIMEOUT_IN_SECONDS, set at login from statement_timeout (seconds)",
		DefaultConcurrency: 8,
	}
}

// silenceLibrary turns gosnowflake's own logging off once per process.
var silenceLibrary sync.Once

// Open validates config and returns a Conn holding a pool of sessions. It
// does not log in: the first Query or Ping does, and reports login errors.
// It returns an *drivers.OptionsError when config is invalid.
func (d *Driver) Open(ctx context.Context, config json.RawMessage) (drivers.Conn, error) {
	// gosnowflake logs every failed statement, with its text, through a
	// process-wide logger of its own; queryd reports errors itself.
	silenceLibrary.Do(func() { sf.GetLogger().SetLogLevel("off") })
	o, err := parseOptions(config)
	if err != nil {
		return nil, err
	}
	cfg, err := sfConfig(o)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(sf.NewConnector(sf.SnowflakeDriver{}, cfg))
	db.SetMaxOpenConns(o.MaxConnections)
	db.SetMaxIdleConns(o.MaxConnections)
	db.SetConnMaxIdleTime(sessionIdleTime)
	return &conn{db: db, opts: o}, nil
}

// parseOptions decodes config, fills in defaults and checks every field. Its
// errors never quote a field's value.
func parseOptions(config json.RawMessage) (Options, error) {
	var o Options
	if err := drivers.DecodeOptions(config, &o); err != nil {
		return o, err
	}
	o.Account = strings.TrimSpace(o.Account)
	o.User = strings.TrimSpace(o.User)
	o.Warehouse = strings.TrimSpace(o.Warehouse)
	o.Database = strings.TrimSpace(o.Database)
	o.Schema = strings.TrimSpace(o.Schema)
	o.Role = strings.TrimSpace(o.Role)
	o.Region = strings.TrimSpace(o.Region)
	o.Host = strings.TrimSpace(o.Host)
	if o.Region == redashDefaultRegion {
		o.Region = ""
	}
	if db, schema, ok := strings.Cut(o.Database, "."); ok && o.Schema == "" && !strings.Contains(o.Database, `"`) {
		o.Database, o.Schema = db, schema
	}
	if o.Protocol == "" {
		o.Protocol = defaultProtocol
	}
	if o.Port == 0 {
		o.Port = defaultPort
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = defaultMaxConnections
	}
	switch {
	case o.Account == "":
		return o, &drivers.OptionsError{Field: "account", Reason: "is required"}
	case !accountPattern.MatchString(o.Account):
		return o, &drivers.OptionsError{Field: "account", Reason: "must be an account identifier such as xy12345 or myorg-myaccount, not a URL"}
	case o.User == "":
		return o, &drivers.OptionsError{Field: "user", Reason: "is required"}
	case o.Password == "" && o.PrivateKey == "":
		return o, &drivers.OptionsError{Field: "password", Reason: "is required unless private_key is set"}
	case o.Password != "" && o.PrivateKey != "":
		return o, &drivers.OptionsError{Field: "private_key", Reason: "cannot be combined with password: set one of them"}
	case o.Warehouse == "":
		return o, &drivers.OptionsError{Field: "warehouse", Reason: "is required"}
	case o.Database == "":
		return o, &drivers.OptionsError{Field: "database", Reason: "is required"}
	case o.Region != "" && !regionPattern.MatchString(o.Region):
		return o, &drivers.OptionsError{Field: "region", Reason: "must be a Snowflake region such as eu-central-1 or us-east-2.aws"}
	case o.Host != "" && !hostPattern.MatchString(o.Host):
		return o, &drivers.OptionsError{Field: "host", Reason: "must be a host name or address, without scheme, port or path"}
	case o.Port < 1 || o.Port > 65535:
		return o, &drivers.OptionsError{Field: "port", Reason: "must be between 1 and 65535"}
	case o.Protocol != "https" && o.Protocol != "http":
		return o, &drivers.OptionsError{Field: "protocol", Reason: `must be "https" or "http"`}
	case o.Protocol == "http" && !isLoopback(o.Host):
		return o, &drivers.OptionsError{Field: "protocol", Reason: `"http" is allowed only with a loopback host (127.0.0.1, ::1, localhost)`}
	case o.StatementTimeout < 0 || o.StatementTimeout > maxStatementTimeout:
		return o, &drivers.OptionsError{Field: "statement_timeout", Reason: fmt.Sprintf("must be between 0 and %d seconds", maxStatementTimeout)}
	case o.MaxConnections < 1 || o.MaxConnections > maxMaxConnections:
		return o, &drivers.OptionsError{Field: "max_connections", Reason: fmt.Sprintf("must be between 1 and %d", maxMaxConnections)}
	}
	if o.PrivateKey != "" {
		if _, err := parsePrivateKey(o.PrivateKey); err != nil {
			return o, &drivers.OptionsError{Field: "private_key", Reason: err.Error()}
		}
	}
	return o, nil
}

var (
	accountPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	regionPattern  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	hostPattern    = regexp.MustCompile(`^(\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]+|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)$`)
)

// isLoopback reports whether host names this machine's loopback interface.
func isLoopback(host string) bool {
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// parsePrivateKey reads an unencrypted RSA private key in PEM, PKCS#8
// ("PRIVATE KEY") or PKCS#1 ("RSA PRIVATE KEY"). Like Redash it accepts a key
// whose line breaks were lost when it was pasted. Its errors never quote the
// key.
func parsePrivateKey(text string) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(text))
	if block == nil {
		block, _ = pem.Decode([]byte(reflowPEM(text)))
	}
	if block == nil {
		return nil, errors.New("must be a PEM-encoded RSA private key (-----BEGIN PRIVATE KEY----- …)")
	}
	switch block.Type {
	case "PRIVATE KEY":
		key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("is not a valid PKCS#8 private key")
		}
		rsaKey, ok := key.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("must be an RSA key (Snowflake key-pair authentication uses RSA)")
		}
		return rsaKey, nil
	case "RSA PRIVATE KEY":
		key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("is not a valid PKCS#1 RSA private key")
		}
		return key, nil
	case "ENCRYPTED PRIVATE KEY":
		return nil, errors.New("must not be encrypted: queryd stores it encrypted itself")
	default:
		return nil, fmt.Errorf("is a PEM %q block, want PRIVATE KEY or RSA PRIVATE KEY", block.Type)
	}
}

// reflowPEM rebuilds a PEM block whose line breaks became spaces or vanished:
// the header line, the base64 body without whitespace, the footer line.
func reflowPEM(text string) string {
	begin := strings.Index(text, "-----BEGIN ")
	if begin < 0 {
		return text
	}
	headerEnd := strings.Index(text[begin+11:], "-----")
	if headerEnd < 0 {
		return text
	}
	label := text[begin+11 : begin+11+headerEnd]
	body := text[begin+11+headerEnd+5:]
	footer := "-----END " + label + "-----"
	end := strings.Index(body, footer)
	if end < 0 {
		return text
	}
	body = strings.Join(strings.Fields(body[:end]), "")
	var b strings.Builder
	b.WriteString("-----BEGIN " + label + "-----\n")
	for len(body) > 64 {
		b.WriteString(body[:64] + "\n")
		body = body[64:]
	}
	b.WriteString(body + "\n" + footer + "\n")
	return b.String()
}

// sfConfig builds the client library's configuration from o alone.
func sfConfig(o Options) (sf.Config, error) {
	cfg := sf.Config{
		Account:   o.Account,
		User:      o.User,
		Password:  o.Password,
		Warehouse: o.Warehouse,
		Database:  o.Database,
		Schema:    o.Schema,
		Role:      o.Role,
		Region:    o.Region,
		Host:      o.Host,
		Port:      o.Port,
		Protocol:  o.Protocol,

		Application: "queryd",
		//lint:ignore SA1019 the only way in v2.1.0 to bound a login that Snowflake keeps retrying
		LoginTimeout: loginTimeout,
		// Keep configuration to what Open is given: no client config file
		// search, no credential cache.
		ClientStoreTemporaryCredential: sf.ConfigBoolFalse,
		ClientRequestMfaToken:          sf.ConfigBoolFalse,
		Params:                         sessionParams(o),
	}
	if o.Protocol == "http" {
		// A loopback stand-in for Snowflake has no certificate whose
		// revocation could be checked, and nothing may reach the internet.
		cfg.DisableOCSPChecks = true
	}
	if o.PrivateKey != "" {
		key, err := parsePrivateKey(o.PrivateKey)
		if err != nil {
			return cfg, &drivers.OptionsError{Field: "private_key", Reason: err.Error()}
		}
		cfg.Authenticator = sf.AuthTypeJwt
		cfg.PrivateKey = key
		cfg.Password = ""
	}
	return cfg, nil
}

// sessionParams are the session parameters every session logs in with.
func sessionParams(o Options) map[string]*string {
	str := func(s string) *string { return &s }
	params := map[string]*string{
		// JSON results carry every value as Snowflake's own text: exact
		// decimals, and one decoding path for all types.
		"GO_QUERY_RESULT_FORMAT": str("JSON"),
	}
	if o.StatementTimeout > 0 {
		params["STATEMENT_TIMEOUT_IN_SECONDS"] = str(strconv.Itoa(o.StatementTimeout))
	}
	return params
}

// addr is the Snowflake host (as configured, or derived from account and
// region) that errors name.
func (o Options) addr() string {
	if o.Host != "" {
		return o.Host
	}
	if o.Region != "" {
		return o.Account + "." + o.Region + ".snowflakecomputing.com"
	}
	return o.Account + ".snowflakecomputing.com"
}
