package bigquery

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/queryd/queryd/drivers"
)

var (
	keyOnce sync.Once
	keyPEM  string
)

// testKey returns a service account key file (JSON) with a freshly made
// private key; edit changes its fields first.
func testKey(tb testing.TB, edit func(map[string]any)) string {
	tb.Helper()
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			panic(err)
		}
		keyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	})
	key := map[string]any{
		"type":           "service_account",
		"project_id":     "queryd-test",
		"private_key_id": "0123456789abcdef",
		"private_key":    keyPEM,
		"client_email":   "queryd@queryd-test.iam.gserviceaccount.com",
		"client_id":      "1234567890",
		"token_uri":      "https://oauth2.googleapis.com/token",
	}
	if edit != nil {
		edit(key)
	}
	b, err := json.Marshal(key)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// config is a data source's options as JSON, from key/value pairs.
func config(tb testing.TB, kv ...any) string {
	tb.Helper()
	m := map[string]any{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	b, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestParseOptions(t *testing.T) {
	key := testKey(t, nil)
	b64 := base64.StdEncoding.EncodeToString([]byte(key))
	yes, no := true, false
	defaults := Options{ProjectID: "queryd-test", JSONKeyFile: b64, UseStandardSQL: &yes, MaxConnections: 10}
	tests := []struct {
		name      string
		config    string
		want      Options // compared when wantField is ""
		wantField string
	}{
		{name: "minimal, key in base64 as Redash stores it", config: config(t, "projectId", "queryd-test", "jsonKeyFile", b64), want: defaults},
		{name: "key as JSON text", config: config(t, "projectId", "queryd-test", "jsonKeyFile", key),
			want: func() Options { o := defaults; o.JSONKeyFile = key; return o }()},
		{
			name: "everything",
			config: config(t, "projectId", "example.com:queryd-test", "jsonKeyFile", b64, "location", "europe-west1",
				"loadSchema", true, "useStandardSql", false, "totalMBytesProcessedLimit", 1.5, "maximumBillingTier", 2,
				"statement_timeout", 300, "max_connections", 100),
			want: Options{ProjectID: "example.com:queryd-test", JSONKeyFile: b64, Location: "europe-west1", LoadSchema: true,
				UseStandardSQL: &no, TotalMBytesProcessedLimit: 1.5, MaximumBillingTier: 2, StatementTimeout: 300, MaxConnections: 100},
		},
		{name: "Redash's other keys ignored", config: config(t, "projectId", "queryd-test", "jsonKeyFile", b64,
			"useQueryAnnotation", true, "toggle_table_string", "_v", "userDefinedFunctionResourceUri", ""), want: defaults},
		{name: "endpoint without key", config: config(t, "projectId", "queryd-test", "endpoint", "http://127.0.0.1:9050"),
			want: Options{ProjectID: "queryd-test", UseStandardSQL: &yes, MaxConnections: 10, Endpoint: "http://127.0.0.1:9050"}},
		{name: "not an object", config: `["p"]`, wantField: "options"},
		{name: "null", config: `null`, wantField: "options"},
		{name: "not JSON", config: `{"projectId": `, wantField: "options"},
		{name: "projectId missing", config: config(t, "jsonKeyFile", b64), wantField: "projectId"},
		{name: "projectId upper case", config: config(t, "projectId", "Queryd-Test", "jsonKeyFile", b64), wantField: "projectId"},
		{name: "projectId a number", config: config(t, "projectId", 12345678, "jsonKeyFile", b64), wantField: "projectId"},
		{name: "jsonKeyFile missing", config: config(t, "projectId", "queryd-test"), wantField: "jsonKeyFile"},
		{name: "jsonKeyFile not base64 nor JSON", config: config(t, "projectId", "queryd-test", "jsonKeyFile", "not a key!"), wantField: "jsonKeyFile"},
		{name: "jsonKeyFile base64 of not JSON", config: config(t, "projectId", "queryd-test", "jsonKeyFile", base64.StdEncoding.EncodeToString([]byte("hello"))), wantField: "jsonKeyFile"},
		{name: "jsonKeyFile a user credential", config: config(t, "projectId", "queryd-test",
			"jsonKeyFile", testKey(t, func(k map[string]any) { k["type"] = "authorized_user" })), wantField: "jsonKeyFile"},
		{name: "jsonKeyFile without client_email", config: config(t, "projectId", "queryd-test",
			"jsonKeyFile", testKey(t, func(k map[string]any) { delete(k, "client_email") })), wantField: "jsonKeyFile"},
		{name: "jsonKeyFile with a broken private_key", config: config(t, "projectId", "queryd-test",
			"jsonKeyFile", testKey(t, func(k map[string]any) { k["private_key"] = strings.Replace(keyPEM, "M", "_", 3) })), wantField: "jsonKeyFile"},
		{name: "location with a space", config: config(t, "projectId", "queryd-test", "jsonKeyFile", b64, "location", "us east"), wantField: "location"},
		{name: "useStandardSql a string", config: config(t, "projectId", "queryd-test", "jsonKeyFile", b64, "useStandardSql", "yes"), wantField: "useStandardSql"},
		{name: "loadSchema a string", config: config(t, "projectId", "queryd-test", "jsonKeyFile", b64, "loadSchema", "true"), wantField: "loadSchema"},
		{name: "totalMBytesProcessedLimit negative", config: config(t, "projectId", "queryd-test", "jsonKeyFile", b64, "totalMBytesProcessedLimit", -1), wantField: "totalMBytesProcessedLimit"},
		{name: "maximumBillingTier negative", config: config(t, "projectId", "queryd-test", "jsonKeyFile", b64, "maximumBillingTier", -1), wantField: "maximumBillingTier"},
		{name: "maximumBillingTier fractional", config: config(t, "projectId", "queryd-test", "jsonKeyFile", b64, "maximumBillingTier", 1.5), wantField: "maximumBillingTier"},
		{name: "userDefinedFunctionResourceUri set", config: config(t, "projectId", "queryd-test", "jsonKeyFile", b64, "userDefinedFunctionResourceUri", "gs://b/f.js"), wantField: "userDefinedFunctionResourceUri"},
		{name: "statement_timeout negative", config: config(t, "projectId", "queryd-test", "jsonKeyFile", b64, "statement_timeout", -1), wantField: "statement_timeout"},
		{name: "statement_timeout over 6 hours", config: config(t, "projectId", "queryd-test", "jsonKeyFile", b64, "statement_timeout", 21601), wantField: "statement_timeout"},
		{name: "max_connections too big", config: config(t, "projectId", "queryd-test", "jsonKeyFile", b64, "max_connections", 101), wantField: "max_connections"},
		{name: "max_connections negative", config: config(t, "projectId", "queryd-test", "jsonKeyFile", b64, "max_connections", -1), wantField: "max_connections"},
		{name: "endpoint not a URL", config: config(t, "projectId", "queryd-test", "endpoint", "127.0.0.1:9050"), wantField: "endpoint"},
		{name: "endpoint with a key", config: config(t, "projectId", "queryd-test", "endpoint", "http://127.0.0.1:9050", "jsonKeyFile", b64), wantField: "endpoint"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := parseOptions([]byte(tc.config))
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
	if diff := cmp.Diff([]string{"jsonKeyFile"}, New().SecretOptions()); diff != "" {
		t.Errorf("SecretOptions() mismatch (-want +got):\n%s", diff)
	}
}

// TestOpenWithKey: a valid key opens a client without any network call.
func TestOpenWithKey(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString([]byte(testKey(t, nil)))
	c, err := New().Open(t.Context(), []byte(config(t, "projectId", "queryd-test", "jsonKeyFile", b64)))
	if err != nil {
		t.Fatalf("Open(valid key) error = %v, want nil", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close() = %v, want nil", err)
	}
}

func TestErrorsNeverShowKey(t *testing.T) {
	key := testKey(t, nil)
	var k serviceAccountKey
	json.Unmarshal([]byte(key), &k)
	secretLine := strings.Split(k.PrivateKey, "\n")[1] // a line of the key's base64
	bad := []string{
		config(t, "projectId", "queryd-test", "jsonKeyFile", key, "port", 1, "max_connections", "x"),
		config(t, "projectId", "queryd-test", "jsonKeyFile", testKey(t, func(m map[string]any) { m["type"] = "user" })),
		config(t, "projectId", "queryd-test", "jsonKeyFile", strings.Replace(key, "{", "[", 1)),
		config(t, "projectId", "queryd-test", "jsonKeyFile", testKey(t, func(m map[string]any) { m["private_key"] = k.PrivateKey[:200] })),
		config(t, "projectId", "Bad", "jsonKeyFile", key),
	}
	for i, cfg := range bad {
		err := New().ValidateOptions([]byte(cfg))
		if err == nil {
			t.Errorf("ValidateOptions(bad config %d) = nil, want an error", i)
			continue
		}
		if strings.Contains(err.Error(), secretLine) || strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Errorf("ValidateOptions(bad config %d) = %q, which shows the key", i, err)
		}
	}
	// The second line of defence: an error that somehow quoted the key.
	o := Options{JSONKeyFile: base64.StdEncoding.EncodeToString([]byte(key))}
	for _, leak := range []string{k.PrivateKey, strings.ReplaceAll(k.PrivateKey, "\n", `\n`), o.JSONKeyFile} {
		err := redact(o, fmt.Errorf("bigquery: something said %s", leak))
		if strings.Contains(err.Error(), secretLine) || strings.Contains(err.Error(), o.JSONKeyFile) {
			t.Errorf("redact(error quoting the key) = %q, which still shows it", err)
		}
	}
}
