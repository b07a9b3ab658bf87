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
