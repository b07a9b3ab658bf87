package mssql

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/microsoft/go-mssqldb/msdsn"

	"github.com/queryd/queryd/drivers"
)

func TestParseOptions(t *testing.T) {
	defaults := Options{Server: "127.0.0.1", Port: 1433, User: "u", DB: "d", Encrypt: "true", MaxConnections: 5}
	with := func(edit func(*Options)) Options { o := defaults; edit(&o); return o }
	tests := []struct {
		name      string
		config    string
		want      Options // compared when wantField is ""
		wantField string
	}{
		{name: "minimal", config: `{"user": "u", "db": "d"}`, want: defaults},
		{
			name: "everything",
			config: `{"server": "sql.example.com", "port": 14330, "user": "u", "password": "p", "db": "d",
				"encrypt": "strict", "statement_timeout": 30, "max_connections": 100}`,
			want: Options{Server: "sql.example.com", Port: 14330, User: "u", Password: "p", DB: "d",
				Encrypt: "strict", StatementTimeout: 30, MaxConnections: 100},
		},
		{
			name:   "Redash's charset and tds_version accepted",
			config: `{"user": "u", "db": "d", "charset": "UTF-8", "tds_version": "7.0", "unknown": 1}`,
			want:   with(func(o *Options) { o.Charset, o.TDSVersion = "UTF-8", "7.0" }),
		},
		{name: "encrypt disable", config: `{"user": "u", "db": "d", "encrypt": "disable"}`, want: with(func(o *Options) { o.Encrypt = "disable" })},
		{name: "encrypt false", config: `{"user": "u", "db": "d", "encrypt": "false"}`, want: with(func(o *Options) { o.Encrypt = "false" })},
		{name: "IPv6 server", config: `{"user": "u", "db": "d", "server": "::1"}`, want: with(func(o *Options) { o.Server = "::1" })},
		{name: "not an object", config: `["u"]`, wantField: "options"},
		{name: "null", config: `null`, wantField: "options"},
		{name: "not JSON", config: `{"user": `, wantField: "options"},
		{name: "empty", config: ``, wantField: "options"},
		{name: "user missing", config: `{"db": "d"}`, wantField: "user"},
		{name: "db missing", config: `{"user": "u"}`, wantField: "db"},
		{name: "named instance", config: `{"user": "u", "db": "d", "server": "host\\SQLEXPRESS"}`, wantField: "server"},
		{name: "server with port", config: `{"user": "u", "db": "d", "server": "host,1433"}`, wantField: "server"},
		{name: "server with space", config: `{"user": "u", "db": "d", "server": "a b"}`, wantField: "server"},
		{name: "server a URL", config: `{"user": "u", "db": "d", "server": "sqlserver://a"}`, wantField: "server"},
		{name: "port negative", config: `{"user": "u", "db": "d", "port": -1}`, wantField: "port"},
		{name: "port too big", config: `{"user": "u", "db": "d", "port": 65536}`, wantField: "port"},
		{name: "port a string", config: `{"user": "u", "db": "d", "port": "1433"}`, wantField: "port"},
		{name: "user a number", config: `{"user": 7, "db": "d"}`, wantField: "user"},
		{name: "encrypt unknown", config: `{"user": "u", "db": "d", "encrypt": "yes"}`, wantField: "encrypt"},
		{name: "encrypt a boolean", config: `{"user": "u", "db": "d", "encrypt": true}`, wantField: "encrypt"},
		{name: "statement_timeout negative", config: `{"user": "u", "db": "d", "statement_timeout": -1}`, wantField: "statement_timeout"},
		{name: "statement_timeout too big", config: `{"user": "u", "db": "d", "statement_timeout": 604801}`, wantField: "statement_timeout"},
		{name: "max_connections negative", config: `{"user": "u", "db": "d", "max_connections": -1}`, wantField: "max_connections"},
		{name: "max_connections too big", config: `{"user": "u", "db": "d", "max_connections": 101}`, wantField: "max_connections"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseOptions(json.RawMessage(tc.config))
			if tc.wantField != "" {
				var oe *drivers.OptionsError
				if !errors.As(err, &oe) || oe.Field != tc.wantField {
					t.Fatalf("parseOptions(%s) error = %v, want an *OptionsError for %q", tc.config, err, tc.wantField)
				}
				if err := New().ValidateOptions(json.RawMessage(tc.config)); !errors.As(err, &oe) || oe.Field != tc.wantField {
					t.Errorf("ValidateOptions(%s) = %v, want an *OptionsError for %q", tc.config, err, tc.wantField)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseOptions(%s) error = %v, want nil", tc.config, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("parseOptions(%s) mismatch (-want +got):\n%s", tc.config, diff)
			}
		})
	}
}

func TestOptionsErrorsHidePassword(t *testing.T) {
	const pw = "hunter2-secret"
	configs := []string{
		`{"user": "u", "password": "` + pw + `"}`,
		`{"user": "u", "db": "d", "password": "` + pw + `", "port": "x"}`,
		`{"user": "u", "db": "d", "password": "` + pw + `", "encrypt": "` + pw + `x"}`,
	}
	for _, config := range configs {
		_, err := New().Open(t.Context(), json.RawMessage(config))
		if err == nil {
			t.Fatalf("Open(%s) error = nil, want an error", config)
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("Open() error %q contains the password", err)
		}
	}
}

func TestSecretOptions(t *testing.T) {
	if diff := cmp.Diff([]string{"password"}, New().SecretOptions()); diff != "" {
		t.Errorf("SecretOptions() mismatch (-want +got):\n%s", diff)
	}
}

func TestDialect(t *testing.T) {
	d := drivers.DialectOf(New())
	if !d.TopLimit || d.QuoteOpen != "[" || d.QuoteClose != "]" || d.DefaultConcurrency != 5 || d.StatementTimeout == "" {
		t.Errorf("Dialect() = %+v, want TopLimit, [ ] quoting, DefaultConcurrency 5 and a StatementTimeout description", d)
	}
	if got, want := d.QuoteIdentifier("a]b"), "[a]]b]"; got != want {
		t.Errorf("QuoteIdentifier(%q) = %q, want %q", "a]b", got, want)
	}
}

// TestDSN checks that values needing escaping reach the client library
// intact.
func TestDSN(t *testing.T) {
	o := Options{Server: "::1", Port: 1444, User: `dom\us er@x`, Password: "p@ss:/?#[]&= wörd%", DB: "my db&x=1", Encrypt: "strict"}
	cfg, err := msdsn.Parse(dsn(o))
	if err != nil {
		t.Fatalf("msdsn.Parse(dsn(%+v)) error = %v", o.addr(), err)
	}
	got := []any{cfg.Host, int(cfg.Port), cfg.User, cfg.Password, cfg.Database, cfg.Encryption, cfg.AppName}
	want := []any{"::1", 1444, o.User, o.Password, o.DB, msdsn.Encryption(msdsn.EncryptionStrict), "queryd"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("msdsn.Parse(dsn(…)) [host port user password database encryption app] mismatch (-want +got):\n%s", diff)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		dbType string
		want   drivers.ColumnType
	}{
		{"TINYINT", drivers.TypeInteger}, {"SMALLINT", drivers.TypeInteger}, {"INT", drivers.TypeInteger}, {"BIGINT", drivers.TypeInteger},
		{"REAL", drivers.TypeFloat}, {"FLOAT", drivers.TypeFloat},
		{"DECIMAL", drivers.TypeFloat}, {"NUMERIC", drivers.TypeFloat}, {"MONEY", drivers.TypeFloat}, {"SMALLMONEY", drivers.TypeFloat},
		{"BIT", drivers.TypeBoolean},
		{"CHAR", drivers.TypeString}, {"VARCHAR", drivers.TypeString}, {"NCHAR", drivers.TypeString}, {"NVARCHAR", drivers.TypeString},
		{"TEXT", drivers.TypeString}, {"NTEXT", drivers.TypeString}, {"XML", drivers.TypeString}, {"UNIQUEIDENTIFIER", drivers.TypeString},
		{"DATE", drivers.TypeDate},
		{"DATETIME", drivers.TypeDatetime}, {"DATETIME2", drivers.TypeDatetime}, {"SMALLDATETIME", drivers.TypeDatetime}, {"DATETIMEOFFSET", drivers.TypeDatetime},
		{"TIME", drivers.TypeString},
		{"BINARY", drivers.TypeString}, {"VARBINARY", drivers.TypeString}, {"IMAGE", drivers.TypeString},
		{"SQL_VARIANT", drivers.TypeString},
	}
	for _, tc := range tests {
		if got, _ := classify(tc.dbType); got != tc.want {
			t.Errorf("classify(%q) = %q, want %q", tc.dbType, got, tc.want)
		}
	}
}

func TestConvert(t *testing.T) {
	guid := []byte{0xFF, 0x19, 0x96, 0x6F, 0x86, 0x8B, 0x11, 0xD0, 0xB4, 0x2D, 0x00, 0xC0, 0x4F, 0xC9, 0x64, 0xFF}
	tests := []struct {
		name string
		k    kind
		in   any
		want any
	}{
		{"REAL keeps its shortest decimal", kindReal, float64(float32(1.1)), 1.1},
		{"SMALLMONEY", kindDecimal, []byte("-3.5000"), drivers.Decimal("-3.5000")},
		{"UNIQUEIDENTIFIER", kindGUID, guid, "6F9619FF-8B86-D011-B42D-00C04FC964FF"},
		{"DATETIME", kindNaive, mustTime(t, "2006-01-02T15:04:05.003Z"), "2006-01-02T15:04:05.003"},
		{"SMALLDATETIME", kindNaive, mustTime(t, "2006-01-02T15:04:00Z"), "2006-01-02T15:04:00"},
		{"TIME", kindTimeOfDay, mustTime(t, "0001-01-01T23:59:59.9999999Z"), "23:59:59.9999999"},
		{"XML", kindText, "<a/>", "<a/>"},
		{"NULL", kindInt, nil, nil},
	}
	for _, tc := range tests {
		got, err := convert(tc.k, tc.in)
		if err != nil {
			t.Errorf("convert(%s, %#v) error = %v", tc.name, tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("convert(%s, %#v) mismatch (-want +got):\n%s", tc.name, tc.in, diff)
		}
	}
	if _, err := convert(kindInt, "x"); err == nil {
		t.Error(`convert(kindInt, "x") error = nil, want an error`)
	}
}

func mustTime(tb testing.TB, s string) time.Time {
	tb.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		tb.Fatal(err)
	}
	return tm
}
