package drivers_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/queryd/queryd/drivers"
	"github.com/queryd/queryd/drivers/drivertest"
)

// configured is a Fake that also implements drivers.Configurer: it requires
// a "token" option and names it secret.
type configured struct{ *drivertest.Fake }

func (configured) ValidateOptions(config json.RawMessage) error {
	var o struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(config, &o); err != nil || o.Token == "" {
		return &drivers.OptionsError{Field: "token", Reason: "is required"}
	}
	return nil
}

func (configured) SecretOptions() []string { return []string{"token"} }

// lazy is a Fake whose conns hide their Ping method, so Registry.Test falls
// back to running "SELECT 1" (a syntax error for the Fake), and whose Query
// defers running the statement to the first Next, as some warehouses do.
type lazy struct{ *drivertest.Fake }

func (l lazy) Open(ctx context.Context, config json.RawMessage) (drivers.Conn, error) {
	conn, err := l.Fake.Open(ctx, config)
	if err != nil {
		return nil, err
	}
	return lazyConn{conn}, nil
}

type lazyConn struct{ conn drivers.Conn }

func (c lazyConn) Query(ctx context.Context, sql string, args ...any) (drivers.Rows, error) {
	return &lazyRows{run: func() (drivers.Rows, error) { return c.conn.Query(ctx, sql, args...) }}, nil
}

func (c lazyConn) Close() error { return c.conn.Close() }

type lazyRows struct {
	run  func() (drivers.Rows, error)
	rows drivers.Rows
}

// Columns is unknown until the statement has run, so it reports none; Next
// then reads into a slice of the real width.
func (r *lazyRows) Columns() []drivers.Column { return nil }

func (r *lazyRows) Next(dest []any) error {
	if r.rows == nil {
		rows, err := r.run()
		if err != nil {
			return err
		}
		r.rows = rows
		dest = make([]any, len(rows.Columns()))
	}
	return r.rows.Next(dest)
}

func (r *lazyRows) Close() error {
	if r.rows == nil {
		return nil
	}
	return r.rows.Close()
}

func newRegistry() *drivers.Registry {
	r := drivers.NewRegistry()
	r.Register("fake", drivertest.NewFake())
	r.Register("configured", configured{drivertest.NewFake()})
	r.Register("lazy", lazy{drivertest.NewFake()})
	return r
}

func TestRegistryDriver(t *testing.T) {
	r := newRegistry()
	if diff := cmp.Diff([]string{"configured", "fake", "lazy"}, r.Types()); diff != "" {
		t.Errorf("Types() mismatch (-want +got):\n%s", diff)
	}
	if d, err := r.Driver("fake"); err != nil || d == nil {
		t.Errorf(`Driver("fake") = %v, %v, want the fake, nil`, d, err)
	}
	if _, err := r.Driver("mysql"); !errors.Is(err, drivers.ErrUnknownType) {
		t.Errorf(`Driver("mysql") error = %v, want an error wrapping ErrUnknownType`, err)
	}
}

func TestRegistryRegisterTwicePanics(t *testing.T) {
	r := newRegistry()
	defer func() {
		if recover() == nil {
			t.Errorf(`second Register("fake", …) did not panic, want a panic`)
		}
	}()
	r.Register("fake", drivertest.NewFake())
}

func TestRegistryValidateOptions(t *testing.T) {
	tests := []struct {
		name      string
		typ       string
		config    string
		wantField string // "" = valid
		wantType  bool   // want ErrUnknownType
	}{
		{name: "no Configurer, object", typ: "fake", config: `{"anything": 1}`},
		{name: "no Configurer, array", typ: "fake", config: `[]`, wantField: "options"},
		{name: "no Configurer, not JSON", typ: "fake", config: `{`, wantField: "options"},
		{name: "Configurer, valid", typ: "configured", config: `{"token": "t"}`},
		{name: "Configurer, invalid", typ: "configured", config: `{}`, wantField: "token"},
		{name: "unknown type", typ: "mysql", config: `{}`, wantType: true},
	}
	r := newRegistry()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := r.ValidateOptions(tc.typ, json.RawMessage(tc.config))
			var oe *drivers.OptionsError
			switch {
			case tc.wantType:
				if !errors.Is(err, drivers.ErrUnknownType) {
					t.Errorf("ValidateOptions(%q, %s) = %v, want an error wrapping ErrUnknownType", tc.typ, tc.config, err)
				}
			case tc.wantField == "":
				if err != nil {
					t.Errorf("ValidateOptions(%q, %s) = %v, want nil", tc.typ, tc.config, err)
				}
			case !errors.As(err, &oe) || oe.Field != tc.wantField:
				t.Errorf("ValidateOptions(%q, %s) = %v, want an *OptionsError for field %q", tc.typ, tc.config, err, tc.wantField)
			}
		})
	}
}

func TestRegistrySecretOptions(t *testing.T) {
	tests := []struct {
		typ  string
		want []string
	}{
		{typ: "configured", want: []string{"token"}},
		{typ: "fake", want: nil},
		{typ: "mysql", want: nil},
	}
	r := newRegistry()
	for _, tc := range tests {
		t.Run(tc.typ, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, r.SecretOptions(tc.typ)); diff != "" {
				t.Errorf("SecretOptions(%q) mismatch (-want +got):\n%s", tc.typ, diff)
			}
		})
	}
}

func TestRegistryTest(t *testing.T) {
	tests := []struct {
		name   string
		typ    string
		config string
		check  func(error) bool
		want   string
	}{
		{name: "pings", typ: "fake", config: `{}`, check: func(err error) bool { return err == nil }, want: "nil"},
		{
			name: "open fails", typ: "fake", config: `{"fail_open": true}`,
			check: func(err error) bool { return err != nil }, want: "the Open error",
		},
		{
			name: "bad options", typ: "fake", config: `[]`,
			check: func(err error) bool { var oe *drivers.OptionsError; return errors.As(err, &oe) },
			want:  "an *OptionsError",
		},
		{
			name: "unknown type", typ: "mysql", config: `{}`,
			check: func(err error) bool { return errors.Is(err, drivers.ErrUnknownType) },
			want:  "an error wrapping ErrUnknownType",
		},
		{
			// Without Pinger, Test runs "SELECT 1", which the Fake rejects on
			// the first Next: that error proves the statement's rows were read.
			name: "no Pinger runs SELECT 1", typ: "lazy", config: `{}`,
			check: func(err error) bool {
				var qe *drivers.QueryError
				return errors.As(err, &qe) && qe.Message == `syntax error at or near "SELECT"`
			},
			want: `the Fake's QueryError for "SELECT 1"`,
		},
	}
	r := newRegistry()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := r.Test(t.Context(), tc.typ, json.RawMessage(tc.config))
			if !tc.check(err) {
				t.Errorf("Test(%q, %s) = %v, want %s", tc.typ, tc.config, err, tc.want)
			}
		})
	}
}
