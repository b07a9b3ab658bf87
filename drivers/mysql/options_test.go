package mysql

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/queryd/queryd/drivers"
)

func TestParseOptions(t *testing.T) {
	defaults := Options{Host: "127.0.0.1", Port: 3306, User: "u", DB: "d", SSLMode: "preferred", MaxConnections: 5}
	tests := []struct {
		name      string
		config    string
		want      Options // compared when wantField is ""
		wantField string
	}{
		{name: "minimal", config: `{"user": "u", "db": "d"}`, want: defaults},
		{
			name: "everything",
			config: `{"host": "db.example.com", "port": 3307, "user": "u", "passwd": "p", "db": "d",
				"ssl_mode": "verify-identity", "statement_timeout": 30, "max_connections": 100}`,
			want: Options{Host: "db.example.com", Port: 3307, User: "u", Passwd: "p", DB: "d",
				SSLMode: "verify-identity", StatementTimeout: 30, MaxConnections: 100},
		},
		{
			name:   "Redash's other keys ignored",
			config: `{"user": "u", "db": "d", "connect_timeout": 60, "charset": "utf8mb4", "use_ssl": true, "autocommit": false, "ssl_cacert": ""}`,
			want:   defaults,
		},
		{name: "IPv6 host", config: `{"user": "u", "db": "d", "host": "::1"}`, want: func() Options { o := defaults; o.Host = "::1"; return o }()},
		{name: "port 1", config: `{"user": "u", "db": "d", "port": 1}`, want: func() Options { o := defaults; o.Port = 1; return o }()},
		{name: "not an object", config: `["u"]`, wantField: "options"},
		{name: "null", config: `null`, wantField: "options"},
		{name: "not JSON", config: `{"user": `, wantField: "options"},
		{name: "empty", config: ``, wantField: "options"},
		{name: "user missing", config: `{"db": "d"}`, wantField: "user"},
		{name: "db missing", config: `{"user": "u"}`, wantField: "db"},
		{name: "dbname is not db", config: `{"user": "u", "dbname": "d"}`, wantField: "db"},
		{name: "host list", config: `{"user": "u", "db": "d", "host": "a,b"}`, wantField: "host"},
		{name: "host with space", config: `{"user": "u", "db": "d", "host": "a b"}`, wantField: "host"},
		{name: "host a socket path", config: `{"user": "u", "db": "d", "host": "/run/mysqld/mysqld.sock"}`, wantField: "host"},
		{name: "port negative", config: `{"user": "u", "db": "d", "port": -1}`, wantField: "port"},
		{name: "port too big", config: `{"user": "u", "db": "d", "port": 65536}`, wantField: "port"},
		{name: "port a string", config: `{"user": "u", "db": "d", "port": "3306"}`, wantField: "port"},
		{name: "port fractional", config: `{"user": "u", "db": "d", "port": 33.06}`, wantField: "port"},
		{name: "user a number", config: `{"user": 7, "db": "d"}`, wantField: "user"},
		{name: "ssl_mode unknown", config: `{"user": "u", "db": "d", "ssl_mode": "on"}`, wantField: "ssl_mode"},
		{name: "ssl_mode verify-ca", config: `{"user": "u", "db": "d", "ssl_mode": "verify-ca"}`, wantField: "ssl_mode"},
		{name: "ssl_cacert set", config: `{"user": "u", "db": "d", "ssl_cacert": "/etc/ca.pem"}`, wantField: "ssl_cacert"},
		{name: "ssl_cert set", config: `{"user": "u", "db": "d", "ssl_cert": "/etc/c.pem"}`, wantField: "ssl_cert"},
		{name: "ssl_key set", config: `{"user": "u", "db": "d", "ssl_key": "/etc/k.pem"}`, wantField: "ssl_key"},
		{name: "statement_timeout negative", config: `{"user": "u", "db": "d", "statement_timeout": -1}`, wantField: "statement_timeout"},
		{name: "statement_timeout too big", config: `{"user": "u", "db": "d", "statement_timeout": 2147484}`, wantField: "statement_timeout"},
		{name: "max_connections negative", config: `{"user": "u", "db": "d", "max_connections": -1}`, wantField: "max_connections"},
		{name: "max_connections too big", config: `{"user": "u", "db": "d", "max_connections": 101}`, wantField: "max_connections"},
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
			// ValidateOptions and Open report the same error.
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
	if diff := cmp.Diff([]string{"passwd"}, New().SecretOptions()); diff != "" {
		t.Errorf("SecretOptions() mismatch (-want +got):\n%s", diff)
	}
}

func TestClientConfig(t *testing.T) {
	o := Options{Host: "::1", Port: 3307, User: "u", Passwd: "p'@/x", DB: "d b", SSLMode: "disabled", MaxConnections: 3}
	cfg := clientConfig(o)
	got := map[string]any{
		"net": cfg.Net, "addr": cfg.Addr, "user": cfg.User, "passwd": cfg.Passwd, "db": cfg.DBName,
		"tls": cfg.TLSConfig, "parse_time": cfg.ParseTime, "interpolate": cfg.InterpolateParams,
		"multi": cfg.MultiStatements, "all_files": cfg.AllowAllFiles, "timeout": cfg.Timeout.String(),
	}
	want := map[string]any{
		"net": "tcp", "addr": "[::1]:3307", "user": "u", "passwd": "p'@/x", "db": "d b",
		"tls": "false", "parse_time": false, "interpolate": true,
		"multi": false, "all_files": false, "timeout": "10s",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("clientConfig(%+v) mismatch (-want +got):\n%s", o, diff)
	}
	for mode, wantTLS := range map[string]string{"disabled": "false", "preferred": "preferred", "required": "skip-verify", "verify-identity": "true"} {
		o.SSLMode = mode
		if got := clientConfig(o).TLSConfig; got != wantTLS {
			t.Errorf("clientConfig(ssl_mode=%s).TLSConfig = %q, want %q", mode, got, wantTLS)
		}
	}
}

func TestOptionsErrorsNeverShowPassword(t *testing.T) {
	const password = "s3cr3t-XYZ"
	err := New().ValidateOptions([]byte(`{"passwd": "` + password + `", "port": "x"}`))
	if err == nil || strings.Contains(err.Error(), password) {
		t.Errorf("ValidateOptions(bad port, password %q) = %v, want an error without the password", password, err)
	}
}
