// Package bigquery is the Google BigQuery driver (Redash type "bigquery"),
// built on cloud.google.com/go/bigquery and BigQuery's REST API.
//
// Every Query is one query job, inserted with jobs.insert under a job id of
// the driver's choosing, read page by page through jobs.getQueryResults and
// cancelled with jobs.cancel. Under a queryd job id (drivers.WithJobID) the
// BigQuery job id is derived from it and from the statement, so a
// resubmission after a worker crash finds the job the first attempt inserted
// and reads its result instead of running the statement twice; a job the
// first attempt had cancelled is not reused (the next id in a short sequence
// is). The job's full id, "project:location.job_id", is reported through
// drivers.ReportQueryID as soon as the job exists, and Conn.CancelQuery
// accepts it from any process. Cancelling a Query's ctx, before or while
// rows are read, or closing its Rows before the end, cancels the job.
//
// Values follow the drivers package comment, with these BigQuery choices:
// INT64 is int64; FLOAT64 is float64; NUMERIC and BIGNUMERIC are
// drivers.Decimal in plain decimal notation without trailing fractional
// zeros (column type float); BOOL is bool; STRING, GEOGRAPHY and JSON are
// BigQuery's text; BYTES is []byte; DATE is a time.Time at midnight UTC;
// DATETIME, which has no zone, is a string "2006-01-02T15:04:05.999999";
// TIMESTAMP is a time.Time in UTC; TIME is a string "15:04:05.999999";
// INTERVAL and RANGE are BigQuery's canonical text; an ARRAY (REPEATED) or
// STRUCT (RECORD) value is its JSON text, with a STRUCT's keys in the
// struct's field order. BigQuery returns a NULL array as an empty one, so
// it reads as "[]". Column.DatabaseType is the GoogleSQL type name
// ("INT64", "ARRAY<STRING>", "STRUCT<x INT64, y STRING>").
//
// Schema lists every table and view of the project's datasets through the
// API (datasets.list, tables.list, tables.get), when the loadSchema option
// is set; otherwise it reports no tables, as Redash does.
package bigquery

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/option"

	"github.com/queryd/queryd/drivers"
)

// Driver is the BigQuery driver; main registers it as "bigquery". It
// implements drivers.Driver, drivers.Configurer and drivers.Dialecter, and
// its Conns implement drivers.Pinger, drivers.Canceler and drivers.Inspector.
type Driver struct{}

var (
	_ drivers.Driver     = (*Driver)(nil)
	_ drivers.Configurer = (*Driver)(nil)
	_ drivers.Dialecter  = (*Driver)(nil)
	_ drivers.Pinger     = (*conn)(nil)
	_ drivers.Canceler   = (*conn)(nil)
	_ drivers.Inspector  = (*conn)(nil)
)

// New returns the BigQuery driver.
func New() *Driver { return &Driver{} }

// Options are a BigQuery data source's options, under the names of Redash's
// bigquery runner, plus queryd's statement_timeout and max_connections.
// Unknown keys (useQueryAnnotation, toggle_table_string, …) are ignored.
type Options struct {
	ProjectID string `json:"projectId"` // required; the project jobs run in and Schema lists
	// JSONKeyFile is a service account's JSON key, as Redash stores it
	// (base64 of the file) or as the file's JSON text. Required unless
	// Endpoint is set. Secret.
	JSONKeyFile string `json:"jsonKeyFile"`
	Location    string `json:"location"`   // processing location ("US", "EU", "europe-west1"…); empty = BigQuery's choice
	LoadSchema  bool   `json:"loadSchema"` // Schema lists tables only when set
	// UseStandardSQL chooses GoogleSQL (true, the default when absent) or
	// legacy SQL (false).
	UseStandardSQL *bool `json:"useStandardSql"`
	// TotalMBytesProcessedLimit, when above 0, makes every Query first
	// dry-run its statement and refuse it if it would process more than
	// this many megabytes (10^6 bytes).
	TotalMBytesProcessedLimit float64 `json:"totalMBytesProcessedLimit"`
	MaximumBillingTier        int     `json:"maximumBillingTier"` // 0 = the project's default
	// UserDefinedFunctionResourceURI (legacy SQL UDF sources) is not
	// supported: the client library no longer sends it. It must be empty.
	UserDefinedFunctionResourceURI string `json:"userDefinedFunctionResourceUri,omitempty"`
	StatementTimeout               int    `json:"statement_timeout"` // seconds, 0 = none; the job's jobTimeoutMs
	MaxConnections                 int    `json:"max_connections"`   // jobs run at once per Conn; default 10, 1..100
	// Endpoint, for tests and emulators only, is the API's base URL (e.g.
	// "http://127.0.0.1:9050"). With it no credentials are sent at all, so
	// jsonKeyFile must be empty.
	Endpoint string `json:"endpoint,omitempty"`
}

// Option defaults and limits.
const (
	defaultMaxConnections = 10
	maxMaxConnections     = 100
	// maxStatementTimeout is 6 hours, BigQuery's own limit for a query job.
	maxStatementTimeout = 6 * 60 * 60
)

// Dialect describes GoogleSQL: backtick quoting, LIMIT, and a statement
// timeout applied as the job's jobTimeoutMs.
func (d *Driver) Dialect() drivers.Dialect {
	return drivers.Dialect{
		QuoteOpen:          "`",
		QuoteClose:         "`",
		StatementTimeout:   "statement_timeout (seconds) is set as each query job's jobTimeoutMs; BigQuery stops the job when it passes",
		DefaultConcurrency: defaultMaxConnections,
	}
}

// ValidateOptions returns an *drivers.OptionsError naming the first bad
// field of config, or nil. It never connects.
func (d *Driver) ValidateOptions(config json.RawMessage) error {
	_, _, err := parseOptions(config)
	return err
}

// SecretOptions names the option keys whose values must never be shown.
func (d *Driver) SecretOptions() []string { return []string{"jsonKeyFile"} }

// Open validates config and returns a Conn holding a BigQuery client. It
// does not connect: the first Query, Ping or Schema does, and reports
// connection and credential errors. It returns an *drivers.OptionsError when
// config is invalid.
func (d *Driver) Open(ctx context.Context, config json.RawMessage) (drivers.Conn, error) {
	o, key, err := parseOptions(config)
	if err != nil {
		return nil, err
	}
	opts := []option.ClientOption{option.WithUserAgent("queryd")}
	if o.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(o.Endpoint), option.WithoutAuthentication())
	} else {
		opts = append(opts, option.WithAuthCredentialsJSON(option.ServiceAccount, key))
	}
	// The client keeps ctx for its own background work: it must outlive
	// Open's caller.
	client, err := bigquery.NewClient(context.WithoutCancel(ctx), o.ProjectID, opts...)
	if err != nil {
		return nil, redact(o, fmt.Errorf("bigquery: open project %s: %w", o.ProjectID, err))
	}
	client.Location = o.Location
	return newConn(client, o), nil
}

// serviceAccountKey is the part of a service account's JSON key the driver
// checks.
type serviceAccountKey struct {
	Type        string `json:"type"`
	ClientEmail string `json:"client_email"`
	PrivateKey  string `json:"private_key"`
}

// projectRE is what a project id may look like, domain-scoped ones
// ("example.com:project") included.
var projectRE = regexp.MustCompile(`^([a-z0-9][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$`)

// locationRE is what a location name may look like ("US", "europe-west1").
var locationRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*$`)

// parseOptions decodes config, fills in defaults and checks every field. It
// returns the service account's key JSON (decoded from base64 if need be),
// which Open gives the client. No error it returns contains the key.
func parseOptions(config json.RawMessage) (Options, []byte, error) {
	var o Options
	if err := drivers.DecodeOptions(config, &o); err != nil {
		return o, nil, err
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = defaultMaxConnections
	}
	if o.UseStandardSQL == nil {
		standard := true
		o.UseStandardSQL = &standard
	}
	switch {
	case o.ProjectID == "":
		return o, nil, &drivers.OptionsError{Field: "projectId", Reason: "is required"}
	case !projectRE.MatchString(o.ProjectID):
		return o, nil, &drivers.OptionsError{Field: "projectId", Reason: "must be a Google Cloud project id (6 to 30 lower-case letters, digits and hyphens)"}
	case o.Location != "" && !locationRE.MatchString(o.Location):
		return o, nil, &drivers.OptionsError{Field: "location", Reason: `must be a BigQuery location such as "US", "EU" or "europe-west1"`}
	case o.TotalMBytesProcessedLimit < 0 || math.IsInf(o.TotalMBytesProcessedLimit, 0):
		return o, nil, &drivers.OptionsError{Field: "totalMBytesProcessedLimit", Reason: "must be 0 (no limit) or a positive number of megabytes"}
	case o.MaximumBillingTier < 0:
		return o, nil, &drivers.OptionsError{Field: "maximumBillingTier", Reason: "must be 0 (the project's default) or a positive whole number"}
	case o.StatementTimeout < 0 || o.StatementTimeout > maxStatementTimeout:
		return o, nil, &drivers.OptionsError{Field: "statement_timeout", Reason: fmt.Sprintf("must be between 0 and %d seconds", maxStatementTimeout)}
	case o.MaxConnections < 1 || o.MaxConnections > maxMaxConnections:
		return o, nil, &drivers.OptionsError{Field: "max_connections", Reason: fmt.Sprintf("must be between 1 and %d", maxMaxConnections)}
	}
	if strings.TrimSpace(o.UserDefinedFunctionResourceURI) != "" {
		return o, nil, &drivers.OptionsError{Field: "userDefinedFunctionResourceUri", Reason: "is not supported: declare functions in the query with CREATE TEMP FUNCTION"}
	}
	if o.Endpoint != "" {
		u, err := url.Parse(o.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return o, nil, &drivers.OptionsError{Field: "endpoint", Reason: "must be an http:// or https:// URL"}
		}
		if o.JSONKeyFile != "" {
			return o, nil, &drivers.OptionsError{Field: "endpoint", Reason: "sends no credentials, so jsonKeyFile must be empty with it (it is for tests and emulators)"}
		}
		return o, nil, nil
	}
	if o.JSONKeyFile == "" {
		return o, nil, &drivers.OptionsError{Field: "jsonKeyFile", Reason: "is required (a service account's JSON key)"}
	}
	key, err := decodeKey(o.JSONKeyFile)
	if err != nil {
		return o, nil, &drivers.OptionsError{Field: "jsonKeyFile", Reason: err.Error()}
	}
	return o, key, nil
}

// decodeKey returns the JSON of a service account key given as JSON text or
// as base64 of it, checked for the fields the client needs. Its errors say
// what is wrong without quoting the key.
func decodeKey(s string) ([]byte, error) {
	raw := []byte(strings.TrimSpace(s))
	if !bytes.HasPrefix(raw, []byte("{")) {
		dec, err := base64.StdEncoding.DecodeString(string(raw))
		if err != nil {
			return nil, errors.New("must be a service account's JSON key file, as JSON text or base64")
		}
		raw = bytes.TrimSpace(dec)
	}
	var key serviceAccountKey
	if err := json.Unmarshal(raw, &key); err != nil {
		return nil, errors.New("must be a service account's JSON key file (it is not JSON)")
	}
	switch {
	case key.Type != "service_account":
		return nil, errors.New(`must be a service account's JSON key file ("type": "service_account")`)
	case key.ClientEmail == "":
		return nil, errors.New("is a service account key without client_email")
	}
	block, _ := pem.Decode([]byte(key.PrivateKey))
	if block == nil {
		return nil, errors.New("is a service account key without a PEM private_key")
	}
	if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
			return nil, errors.New("is a service account key whose private_key cannot be read")
		}
	}
	return raw, nil
}

// timeout is the job timeout statement_timeout asks for, 0 for none.
func (o Options) timeout() time.Duration {
	return time.Duration(o.StatementTimeout) * time.Second
}

// redact returns err unchanged unless its text contains o's key (or the
// key's private key), which neither the client nor BigQuery put there; this
// is a second line of defence.
func redact(o Options, err error) error {
	if err == nil || o.JSONKeyFile == "" {
		return err
	}
	secrets := []string{strings.TrimSpace(o.JSONKeyFile)}
	if key, kerr := decodeKey(o.JSONKeyFile); kerr == nil {
		var k serviceAccountKey
		if json.Unmarshal(key, &k) == nil && k.PrivateKey != "" {
			secrets = append(secrets, k.PrivateKey, strings.TrimSpace(strings.ReplaceAll(k.PrivateKey, "\n", `\n`)))
		}
	}
	return drivers.Redact(err, secrets...)
}
