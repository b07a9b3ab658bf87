package postgres

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/queryd/queryd/drivers"
)

func TestParseOptions(t *testing.T) {
	defaults := Options{Host: "127.0.0.1", Port: 5432, User: "u", DBName: "d", SSLMode: "prefer", MaxConnections: 5}
	tests := []struct {
		name      string
		config    string
		want      Options // compared when wantField is ""
		wantField string
	}{
		{name: "minimal", config: `{"user": "u", "dbname": "d"}`, want: defaults},
		{
			name: "everything",
			config: `{"host": "db.example.com", "port": 6543, "user": "u", "password": "p", "dbname": "d",
				"sslmode": "verify-full", "statement_timeout": 30, "max_connections": 100}`,
			want: Options{Host: "db.example.com", Port: 6543, User: "u", Password: "p", DBName: "d",
				SSLMode: "verify-full", StatementTimeout: 30, MaxConnections: 100},
		},
		{name: "unknown keys ignored", config: `{"user": "u", "dbname": "d", "sslrootcertFile": "x", "extra": [1]}`, want: defaults},
		{name: "port 1", config: `{"user": "u", "dbname": "d", "port": 1}`, want: func() Options { o := defaults; o.Port = 1; return o }()},
		{name: "not an object", config: `["u"]`, wantField: "options"},
		{name: "null", config: `null`, wantField: "options"},
		{name: "not JSON", config: `{"user": `, wantField: "options"},
		{name: "empty", config: ``, wantField: "options"},
		{name: "user missing", config: `{"dbname": "d"}`, wantField: "user"},
		{name: "dbname missing", config: `{"user": "u"}`, wantField: "dbname"},
		{name: "host list", config: `{"user": "u", "dbname": "d", "host": "a,b"}`, wantField: "host"},
		{name: "host with space", config: `{"user": "u", "dbname": "d", "host": "a b"}`, wantField: "host"},
		{name: "port negative", config: `{"user": "u", "dbname": "d", "port": -1}`, wantField: "port"},
		{name: "port too big", config: `{"user": "u", "dbname": "d", "port": 65536}`, wantField: "port"},
		{name: "port a string", config: `{"user": "u", "dbname": "d", "port": "5432"}`, wantField: "port"},
		{name: "port fractional", config: `{"user": "u", "dbname": "d", "port": 54.32}`, wantField: "port"},
		{name: "user a number", config: `{"user": 7, "dbname": "d"}`, wantField: "user"},
		{name: "sslmode unknown", config: `{"user": "u", "dbname": "d", "sslmode": "on"}`, wantField: "sslmode"},
		{name: "statement_timeout negative", config: `{"user": "u", "dbname": "d", "statement_timeout": -1}`, wantField: "statement_timeout"},
		{name: "statement_timeout too big", config: `{"user": "u", "dbname": "d", "statement_timeout": 2147484}`, wantField: "statement_timeout"},
		{name: "max_connections negative", config: `{"user": "u", "dbname": "d", "max_connections": -1}`, wantField: "max_connections"},
		{name: "max_connections too big", config: `{"user": "u", "dbname": "d", "max_connections": 101}`, wantField: "max_connections"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := New().parseOptions([]byte(tc.config))
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

func TestParseOptionsRedshift(t *testing.T) {
	tests := []struct {
		name   string
		config string
		want   Options
	}{
		{
			name:   "defaults",
			config: `{"user": "u", "dbname": "d"}`,
			want:   Options{Host: "127.0.0.1", Port: 5439, User: "u", DBName: "d", SSLMode: "require", MaxConnections: 5},
		},
		{
			name:   "port and sslmode given",
			config: `{"host": "h", "user": "u", "dbname": "d", "port": 5432, "sslmode": "disable"}`,
			want:   Options{Host: "h", Port: 5432, User: "u", DBName: "d", SSLMode: "disable", MaxConnections: 5},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NewRedshift().parseOptions([]byte(tc.config))
			if err != nil {
				t.Fatalf("Redshift parseOptions(%s) error = %v, want nil", tc.config, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Redshift parseOptions(%s) mismatch (-want +got):\n%s", tc.config, diff)
			}
		})
	}
	var oe *drivers.OptionsError
	if err := NewRedshift().ValidateOptions([]byte(`{"dbname": "d"}`)); !errors.As(err, &oe) || oe.Field != "user" {
		t.Errorf(`Redshift ValidateOptions({"dbname": "d"}) = %v, want an *OptionsError for field "user"`, err)
	}
}

func TestDialect(t *testing.T) {
	for name, d := range map[string]*Driver{"pg": New(), "redshift": NewRedshift()} {
		got := drivers.DialectOf(d)
		want := drivers.Dialect{
			QuoteOpen: `"`, QuoteClose: `"`, DefaultConcurrency: 5,
			StatementTimeout: "option statement_timeout (seconds), sent as the statement_timeout runtime parameter",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("DialectOf(%s driver) mismatch (-want +got):\n%s", name, diff)
		}
		if got, want := got.QuoteIdentifier(`a"b`), `"a""b"`; got != want {
			t.Errorf(`DialectOf(%s driver).QuoteIdentifier("a\"b") = %s, want %s`, name, got, want)
		}
	}
}

func TestLegacyActivity(t *testing.T) {
	tests := map[string]bool{
		"15.20 (Debian 15.20-0+deb12u1)": false,
		"10.5":                           false,
		"9.2.24":                         false,
		"9.1.9":                          true,
		"8.0.2":                          true, // Redshift
		"":                               false,
		"unknown":                        false,
	}
	for version, want := range tests {
		if got := legacyActivity(version); got != want {
			t.Errorf("legacyActivity(%q) = %t, want %t", version, got, want)
		}
	}
}

func TestParseQueryID(t *testing.T) {
	id := newQueryID(4242)
	if pid, ok := parseQueryID(id); !ok || pid != 4242 {
		t.Errorf("parseQueryID(newQueryID(4242) = %q) = %d, %t; want 4242, true", id, pid, ok)
	}
	if other := newQueryID(4242); other == id {
		t.Errorf("newQueryID(4242) twice = %q both times, want different ids", id)
	}
	for _, bad := range []string{"", "4242", "4242:", "x:0123456789abcdef", "0:0123456789abcdef", "-1:0123456789abcdef",
		"4242:0123456789ABCDEF", "4242:0123456789abcde", "4242:0123456789abcdef0", "4242:*/ DROP TABLE x; /*", "99999999999:0123456789abcdef"} {
		if pid, ok := parseQueryID(bad); ok {
			t.Errorf("parseQueryID(%q) = %d, true; want false", bad, pid)
		}
	}
}

func TestSecretOptions(t *testing.T) {
	if diff := cmp.Diff([]string{"password"}, New().SecretOptions()); diff != "" {
		t.Errorf("SecretOptions() mismatch (-want +got):\n%s", diff)
	}
}

// TestPoolConfigIgnoresEnvironment checks that PG* variables, which pgx's
// parser would otherwise read, do not leak into the configuration.
func TestPoolConfigIgnoresEnvironment(t *testing.T) {
	env := map[string]string{
		"PGHOST": "env-host", "PGPORT": "1111", "PGUSER": "env-user", "PGPASSWORD": "env-password",
		"PGDATABASE": "env-db", "PGAPPNAME": "env-app", "PGOPTIONS": "-c work_mem=1MB", "PGTZ": "Asia/Tokyo",
		"PGSSLMODE": "verify-full", "PGTARGETSESSIONATTRS": "standby", "PGCONNECT_TIMEOUT": "1",
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	o := Options{Host: "db.example.com", Port: 5433, User: "u", Password: "p'\\ x", DBName: "d b", SSLMode: "disable",
		StatementTimeout: 7, MaxConnections: 3}
	cfg, err := poolConfig(o)
	if err != nil {
		t.Fatalf("poolConfig(%+v) error = %v", o, err)
	}
	cc := cfg.ConnConfig
	got := map[string]any{
		"host": cc.Host, "port": cc.Port, "user": cc.User, "password": cc.Password, "database": cc.Database,
		"tls": cc.TLSConfig != nil, "fallbacks": len(cc.Fallbacks), "runtime": cc.RuntimeParams,
		"validate": cc.ValidateConnect != nil, "connect_timeout": cc.ConnectTimeout.String(), "max_conns": cfg.MaxConns,
	}
	want := map[string]any{
		"host": "db.example.com", "port": uint16(5433), "user": "u", "password": "p'\\ x", "database": "d b",
		"tls": false, "fallbacks": 0, "runtime": map[string]string{"application_name": "queryd", "statement_timeout": "7000"},
		"validate": false, "connect_timeout": "10s", "max_conns": int32(3),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("poolConfig(%+v) with PG* set mismatch (-want +got):\n%s", o, diff)
	}
}

func TestPoolConfigSSLModes(t *testing.T) {
	tests := []struct {
		mode          string
		wantTLS       bool // first attempt uses TLS
		wantFallbacks int
		wantVerify    bool // server certificate checked
	}{
		{mode: "disable"},
		{mode: "allow", wantFallbacks: 1},
		{mode: "prefer", wantTLS: true, wantFallbacks: 1},
		{mode: "require", wantTLS: true},
		{mode: "verify-ca", wantTLS: true, wantVerify: true},
		{mode: "verify-full", wantTLS: true, wantVerify: true},
	}
	for _, tc := range tests {
		t.Run(tc.mode, func(t *testing.T) {
			cfg, err := poolConfig(Options{Host: "db.example.com", Port: 5432, User: "u", DBName: "d", SSLMode: tc.mode, MaxConnections: 1})
			if err != nil {
				t.Fatalf("poolConfig(sslmode=%s) error = %v", tc.mode, err)
			}
			tlsc := cfg.ConnConfig.TLSConfig
			verify := tlsc != nil && (!tlsc.InsecureSkipVerify || tlsc.VerifyPeerCertificate != nil)
			got := []any{tlsc != nil, len(cfg.ConnConfig.Fallbacks), verify}
			want := []any{tc.wantTLS, tc.wantFallbacks, tc.wantVerify}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("poolConfig(sslmode=%s) [tls, fallbacks, verify] mismatch (-want +got):\n%s", tc.mode, diff)
			}
		})
	}
}

func TestOptionsErrorsNeverShowPassword(t *testing.T) {
	const password = "s3cr3t-XYZ"
	err := New().ValidateOptions([]byte(`{"password": "` + password + `", "port": "x"}`))
	if err == nil || strings.Contains(err.Error(), password) {
		t.Errorf("ValidateOptions(bad port, password %q) = %v, want an error without the password", password, err)
	}
}
