package drivers

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestDecodeOptions(t *testing.T) {
	type opts struct {
		Host  string  `json:"host"`
		Port  int     `json:"port"`
		Ratio float64 `json:"ratio"`
		TLS   *bool   `json:"tls"`
	}
	for _, tc := range []struct {
		config     string
		field, why string // "" field: no error
		wantHost   string
	}{
		{config: `{"host": "h", "unknown": 1}`, wantHost: "h"},
		{config: `{"port": "5432"}`, field: "port", why: "must be a whole number"},
		{config: `{"ratio": "x"}`, field: "ratio", why: "must be a number"},
		{config: `{"tls": "yes"}`, field: "tls", why: "must be true or false"},
		{config: `{"host": 7}`, field: "host", why: "must be a string"},
		{config: `[]`, field: "options", why: "must be a JSON object"},
		{config: `null`, field: "options", why: "must be a JSON object"},
		{config: `{"host": `, field: "options", why: "must be a JSON object"},
	} {
		var o opts
		err := DecodeOptions(json.RawMessage(tc.config), &o)
		if tc.field == "" {
			if err != nil || o.Host != tc.wantHost {
				t.Errorf("DecodeOptions(%s) = %+v, %v; want host %q", tc.config, o, err, tc.wantHost)
			}
			continue
		}
		var oe *OptionsError
		if !errors.As(err, &oe) || oe.Field != tc.field || oe.Reason != tc.why {
			t.Errorf("DecodeOptions(%s) error = %v, want option %q: %s", tc.config, err, tc.field, tc.why)
		}
	}
}

func TestRedact(t *testing.T) {
	base := errors.New("dial: password=s3cret refused")
	if got := Redact(nil, "s3cret"); got != nil {
		t.Errorf("Redact(nil) = %v, want nil", got)
	}
	if got := Redact(base, "other", ""); got != base {
		t.Errorf("Redact(err without secrets) = %v, want err itself", got)
	}
	got := Redact(base, "s3cret")
	if got.Error() != "dial: password=[redacted] refused" || !errors.Is(got, base) {
		t.Errorf("Redact(err) = %q (Is base: %v), want the secret cut out and the chain kept", got, errors.Is(got, base))
	}
	qe := &QueryError{Message: "login failed for s3cret", Code: "28000", Err: base}
	var out *QueryError
	if err := Redact(qe, "s3cret"); !errors.As(err, &out) || out.Message != "login failed for [redacted]" || out.Code != "28000" {
		t.Errorf("Redact(QueryError) = %v (as %+v), want its Message cut too, code kept", err, out)
	}
}
