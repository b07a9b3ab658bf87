package databricks

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/queryd/queryd/drivers"
)

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name   string
		config string
		want   Options
	}{
		{
			name:   "redash options, defaults",
			config: `{"host": "dbc-1.cloud.databricks.com", "http_path": "/sql/1.0/warehouses/abc", "http_password": "dapi1"}`,
			want:   Options{Host: "dbc-1.cloud.databricks.com", HTTPPath: "/sql/1.0/warehouses/abc", HTTPPassword: "dapi1", Port: 443, MaxConnections: 10},
		},
		{
			name:   "scheme, slashes and unknown redash keys",
			config: `{"host": "https://dbc-1.cloud.databricks.com/", "http_path": "sql/1.0/warehouses/abc", "access_token": "dapi1", "schemas": "a,b", "useQueryAnnotation": true}`,
			want:   Options{Host: "dbc-1.cloud.databricks.com", HTTPPath: "/sql/1.0/warehouses/abc", AccessToken: "dapi1", Port: 443, MaxConnections: 10},
		},
		{
			name: "everything",
			config: `{"host": "h.example", "http_path": "/p?o=123", "http_password": "t", "access_token": "t", "port": 8443,
				"catalog": "main", "schema": "sales", "statement_timeout": 600, "max_connections": 3}`,
			want: Options{Host: "h.example", HTTPPath: "/p?o=123", HTTPPassword: "t", AccessToken: "t", Port: 8443,
				Catalog: "main", Schema: "sales", StatementTimeout: 600, MaxConnections: 3},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseOptions(json.RawMessage(tc.config))
			if err != nil {
				t.Fatalf("parseOptions(%s) error = %v, want nil", tc.config, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("parseOptions(%s) mismatch (-want +got):\n%s", tc.config, diff)
			}
		})
	}
}

func TestValidateOptionsErrors(t *testing.T) {
	const ok = `"host": "h.example", "http_path": "/p", "http_password": "secret-token-value"`
	tests := []struct {
		config string
		field  string
	}{
		{`[]`, "options"},
		{`"x"`, "options"},
		{`{"http_path": "/p", "http_password": "t"}`, "host"},
		{`{"host": "http://h.example", "http_path": "/p", "http_password": "t"}`, "host"},
		{`{"host": "h.example/x", "http_path": "/p", "http_password": "t"}`, "host"},
		{`{"host": "h.example:443", "http_path": "/p", "http_password": "t"}`, "host"},
		{`{"host": "h.example", "http_password": "t"}`, "http_path"},
		{`{"host": "h.example", "http_path": "/a b", "http_password": "t"}`, "http_path"},
		{`{"host": "h.example", "http_path": "/p"}`, "http_password"},
		{`{"host": "h.example", "http_path": "/p", "http_password": "a", "access_token": "b"}`, "access_token"},
		{`{` + ok + `, "port": 70000}`, "port"},
		{`{` + ok + `, "port": "443"}`, "port"},
		{`{` + ok + `, "catalog": "a\nb"}`, "catalog"},
		{`{` + ok + `, "schema": "a\nb"}`, "schema"},
		{`{` + ok + `, "statement_timeout": -1}`, "statement_timeout"},
		{`{` + ok + `, "statement_timeout": 172801}`, "statement_timeout"},
		{`{` + ok + `, "max_connections": 101}`, "max_connections"},
		{`{` + ok + `, "max_connections": -1}`, "max_connections"},
	}
	d := New()
	for _, tc := range tests {
		err := d.ValidateOptions(json.RawMessage(tc.config))
		var oe *drivers.OptionsError
		if !errors.As(err, &oe) {
			t.Errorf("ValidateOptions(%s) = %v, want an *OptionsError", tc.config, err)
			continue
		}
		if oe.Field != tc.field {
			t.Errorf("ValidateOptions(%s) field = %q, want %q", tc.config, oe.Field, tc.field)
		}
		if strings.Contains(err.Error(), "secret-token-value") {
			t.Errorf("ValidateOptions(%s) = %q, contains the token", tc.config, err)
		}
		if _, err := d.Open(t.Context(), json.RawMessage(tc.config)); !errors.As(err, &oe) {
			t.Errorf("Open(%s) error = %v, want an *OptionsError", tc.config, err)
		}
	}
}

func TestSecretOptions(t *testing.T) {
	got := New().SecretOptions()
	for _, key := range []string{"http_password", "access_token"} {
		if !slices.Contains(got, key) {
			t.Errorf("SecretOptions() = %v, want it to contain %q", got, key)
		}
	}
}

func TestDialect(t *testing.T) {
	d := drivers.DialectOf(New())
	if got, want := d.QuoteIdentifier("a`b"), "`a``b`"; got != want {
		t.Errorf("QuoteIdentifier(%q) = %q, want %q", "a`b", got, want)
	}
	if d.TopLimit {
		t.Error("Dialect().TopLimit = true, want false (LIMIT)")
	}
	if d.DefaultConcurrency != 10 {
		t.Errorf("Dialect().DefaultConcurrency = %d, want 10", d.DefaultConcurrency)
	}
}
