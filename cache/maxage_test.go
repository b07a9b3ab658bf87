package cache

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseMaxAge(t *testing.T) {
	const huge = MaxAge(maxSeconds * int64(time.Second))
	tests := []struct {
		raw  string
		want MaxAge
	}{
		{"", Any},
		{"  ", Any},
		{"null", Any},
		{"-1", Any},
		{"-1.0", Any},
		{"-1.9", Any}, // int(-1.9) == -1
		{"0", 0},
		{"0.0", 0},
		{"-0", 0},
		{"-0.5", 0}, // int(-0.5) == 0
		{"0.9", 0},
		{"60", MaxAge(time.Minute)},
		{" 60 ", MaxAge(time.Minute)},
		{"60.7", MaxAge(time.Minute)},
		{"6e1", MaxAge(time.Minute)},
		{"86400", MaxAge(24 * time.Hour)},
		{"1e300", huge},
		{"99999999999999999999", huge},
		{`"60"`, MaxAge(time.Minute)},
		{`" 60\n"`, MaxAge(time.Minute)},
		{`"+60"`, MaxAge(time.Minute)},
		{`"0060"`, MaxAge(time.Minute)},
		{`"1_000"`, MaxAge(1000 * time.Second)},
		{`"-1"`, Any},
		{`"0"`, 0},
		{`"-0"`, 0},
		{`"99999999999999999999"`, huge},
	}
	for _, tc := range tests {
		t.Run(tc.raw, func(t *testing.T) {
			got, err := ParseMaxAge(json.RawMessage(tc.raw))
			if err != nil || got != tc.want {
				t.Errorf("ParseMaxAge(%s) = %v, %v, want %v, nil", tc.raw, got, err, tc.want)
			}
		})
	}
}

func TestParseMaxAgeInvalid(t *testing.T) {
	for _, raw := range []string{
		"-2", "-1.5e1", "-99999999999999999999", "true", "false", "{}", `{"a":1}`, "[]", "[1]",
		`""`, `"  "`, `"abc"`, `"60s"`, `"6.5"`, `"1e3"`, `"-2"`, `"1__0"`, `"_1"`, `"1_"`, `"+"`, `"0x10"`,
		"NaN", "01", "1.", "60 60", "nul",
	} {
		t.Run(raw, func(t *testing.T) {
			got, err := ParseMaxAge(json.RawMessage(raw))
			if err == nil || !strings.HasPrefix(err.Error(), "max_age must be") {
				t.Errorf("ParseMaxAge(%s) = %v, %v, want an error starting \"max_age must be\"", raw, got, err)
			}
		})
	}
}

func TestMaxAgeDuration(t *testing.T) {
	tests := []struct {
		m    MaxAge
		want time.Duration
	}{
		{Any, -1},
		{0, 0},
		{MaxAge(time.Minute), time.Minute},
	}
	for _, tc := range tests {
		if got := tc.m.Duration(); got != tc.want {
			t.Errorf("MaxAge(%d).Duration() = %v, want %v", int64(tc.m), got, tc.want)
		}
	}
}
