package snowflake

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/queryd/queryd/drivers"
)

func TestParseOptions(t *testing.T) {
	const base = `"account": "xy12345", "user": "u", "password": "p", "warehouse": "WH", "database": "DB"`
	defaults := Options{Account: "xy12345", User: "u", Password: "p", Warehouse: "WH", Database: "DB",
		Protocol: "https", Port: 443, MaxConnections: 8}
	with := func(edit func(*Options)) Options { o := defaults; edit(&o); return o }
	tests := []struct {
		name      string
		config    string
		want      Options // compared when wantField is ""
		wantField string
	}{
		{name: "minimal", config: `{` + base + `}`, want: defaults},
		{
			name: "everything",
			config: `{"account": "myorg-acct", "user": "u", "password": "p", "warehouse": "WH", "database": "DB",
				"schema": "S", "role": "R", "region": "eu-central-1", "lower_case_columns": true, "statement_timeout": 60,
				"max_connections": 100, "host": "myorg-acct.privatelink.snowflakecomputing.com", "port": 8443, "protocol": "https"}`,
			want: Options{Account: "myorg-acct", User: "u", Password: "p", Warehouse: "WH", Database: "DB", Schema: "S",
				Role: "R", Region: "eu-central-1", LowerCaseColumns: true, StatementTimeout: 60, MaxConnections: 100,
				Host: "myorg-acct.privatelink.snowflakecomputing.com", Port: 8443, Protocol: "https"},
		},
		{name: "Redash's default region means none", config: `{` + base + `, "region": "us-west"}`, want: defaults},
		{name: "database with schema", config: `{"account": "a", "user": "u", "password": "p", "warehouse": "WH", "database": "DB.SCH"}`,
			want: with(func(o *Options) { o.Account, o.Database, o.Schema = "a", "DB", "SCH" })},
		{name: "http on loopback", config: `{` + base + `, "host": "127.0.0.1", "port": 8080, "protocol": "http"}`,
			want: with(func(o *Options) { o.Host, o.Port, o.Protocol = "127.0.0.1", 8080, "http" })},
		{name: "unknown keys ignored", config: `{` + base + `, "extra": [1]}`, want: defaults},
		{name: "not an object", config: `["u"]`, wantField: "options"},
		{name: "null", config: `null`, wantField: "options"},
		{name: "not JSON", config: `{"user": `, wantField: "options"},
		{name: "empty", config: ``, wantField: "options"},
		{name: "account missing", config: `{"user": "u", "password": "p", "warehouse": "WH", "database": "DB"}`, wantField: "account"},
		{name: "account a URL", config: `{"account": "https://x.snowflakecomputing.com", "user": "u", "password": "p", "warehouse": "WH", "database": "DB"}`, wantField: "account"},
		{name: "user missing", config: `{"account": "a", "password": "p", "warehouse": "WH", "database": "DB"}`, wantField: "user"},
		{name: "no password or key", config: `{"account": "a", "user": "u", "warehouse": "WH", "database": "DB"}`, wantField: "password"},
		{name: "password and key", config: `{` + base + `, "private_key": "x"}`, wantField: "private_key"},
		{name: "key not PEM", config: `{"account": "a", "user": "u", "private_key": "not a key", "warehouse": "WH", "database": "DB"}`, wantField: "private_key"},
		{name: "warehouse missing", config: `{"account": "a", "user": "u", "password": "p", "database": "DB"}`, wantField: "warehouse"},
		{name: "database missing", config: `{"account": "a", "user": "u", "password": "p", "warehouse": "WH"}`, wantField: "database"},
		{name: "region with space", config: `{` + base + `, "region": "eu central"}`, wantField: "region"},
		{name: "host with scheme", config: `{` + base + `, "host": "https://x.snowflakecomputing.com"}`, wantField: "host"},
		{name: "host with port", config: `{` + base + `, "host": "x.snowflakecomputing.com:443"}`, wantField: "host"},
		{name: "port too big", config: `{` + base + `, "port": 65536}`, wantField: "port"},
		{name: "port a string", config: `{` + base + `, "port": "443"}`, wantField: "port"},
		{name: "protocol unknown", config: `{` + base + `, "protocol": "ftp"}`, wantField: "protocol"},
		{name: "http to a remote host", config: `{` + base + `, "host": "x.snowflakecomputing.com", "protocol": "http"}`, wantField: "protocol"},
		{name: "http without host", config: `{` + base + `, "protocol": "http"}`, wantField: "protocol"},
		{name: "statement_timeout negative", config: `{` + base + `, "statement_timeout": -1}`, wantField: "statement_timeout"},
		{name: "statement_timeout too big", config: `{` + base + `, "statement_timeout": 604801}`, wantField: "statement_timeout"},
		{name: "max_connections too big", config: `{` + base + `, "max_connections": 101}`, wantField: "max_connections"},
		{name: "lower_case_columns a string", config: `{` + base + `, "lower_case_columns": "yes"}`, wantField: "lower_case_columns"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseOptions([]byte(tc.config))
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("parseOptions(%s) error = %v, want nil", tc.config, err)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("parseOptions(%s) mismatch (-want +got):\n%s", tc.config, diff)
				}
				return
			}
			var oe *drivers.OptionsError
			if !errors.As(err, &oe) || oe.Field != tc.wantField {
				t.Fatalf("parseOptions(%s) error = %v, want an *OptionsError for field %q", tc.config, err, tc.wantField)
			}
			if err := New().ValidateOptions([]byte(tc.config)); !errors.As(err, &oe) || oe.Field != tc.wantField {
				t.Errorf("ValidateOptions(%s) = %v, want an *OptionsError for field %q", tc.config, err, tc.wantField)
			}
			if _, err := New().Open(t.Context(), []byte(tc.config)); !errors.As(err, &oe) || oe.Field != tc.wantField {
				t.Errorf("Open(%s) error = %v, want an *OptionsError for field %q", tc.config, err, tc.wantField)
			}
		})
	}
}

func TestSecretOptions(t *testing.T) {
	if diff := cmp.Diff([]string{"password", "private_key"}, New().SecretOptions()); diff != "" {
		t.Errorf("SecretOptions() mismatch (-want +got):\n%s", diff)
	}
}

func TestDialect(t *testing.T) {
	d := drivers.DialectOf(New())
	got := []any{d.TopLimit, d.QuoteOpen, d.QuoteClose, d.DefaultConcurrency, d.QuoteIdentifier(`a"b`)}
	want := []any{false, `"`, `"`, 8, `"a""b"`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Dialect() [TopLimit, QuoteOpen, QuoteClose, DefaultConcurrency, QuoteIdentifier] mismatch (-want +got):\n%s", diff)
	}
	if !strings.Contains(d.StatementTimeout, "STATEMENT_TIMEOUT_IN_SECONDS") {
		t.Errorf("Dialect().StatementTimeout = %q, want it to name STATEMENT_TIMEOUT_IN_SECONDS", d.StatementTimeout)
	}
}

func TestSessionConfig(t *testing.T) {
	o, err := parseOptions([]byte(`{"account": "a", "user": "u", "password": "p", "warehouse": "WH", "database": "DB", "statement_timeout": 30}`))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := sfConfig(o)
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]string{}
	for k, v := range cfg.Params {
		params[k] = *v
	}
	want := map[string]string{"GO_QUERY_RESULT_FORMAT": "JSON", "STATEMENT_TIMEOUT_IN_SECONDS": "30"}
	if diff := cmp.Diff(want, params); diff != "" {
		t.Errorf("session parameters mismatch (-want +got):\n%s", diff)
	}
	if cfg.DisableOCSPChecks {
		t.Error("sfConfig(https) disables OCSP checks, want them on")
	}
	o.Host, o.Protocol = "127.0.0.1", "http"
	if cfg, _ := sfConfig(o); !cfg.DisableOCSPChecks {
		t.Error("sfConfig(http on loopback) checks OCSP, want no revocation checks (no network)")
	}
}

func TestOptionsErrorsNeverShowSecrets(t *testing.T) {
	const password = "s3cr3t-XYZ"
	const key = "-----BEGIN PRIVATE KEY-----\nMIIBVAIBADANBgkqhkiG9w0BAQEFAASCAT4wggE6AgEAAkEAsecretsecret\n-----END PRIVATE KEY-----\n"
	configs := []string{
		`{"password": "` + password + `", "port": "x"}`,
		`{"account": "a", "user": "u", "password": "` + password + `", "warehouse": "WH", "database": "DB", "host": "` + password + `/x"}`,
		`{"account": "a", "user": "u", "private_key": ` + strings.ReplaceAll(`"`+key+`"`, "\n", `\n`) + `, "warehouse": "WH", "database": "DB"}`,
	}
	for _, config := range configs {
		err := New().ValidateOptions([]byte(config))
		if err == nil || strings.Contains(err.Error(), password) || strings.Contains(err.Error(), "secretsecret") {
			t.Errorf("ValidateOptions(%s) = %v, want an error without the secret", config, err)
		}
	}
}
