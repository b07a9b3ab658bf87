package cache

import (
	"encoding/json"
	"math"
	"strconv"
	"testing"
	"time"
)

func TestAppendFloat(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{0, "0"},
		{math.Copysign(0, -1), "-0"},
		{1, "1"},
		{-1.5, "-1.5"},
		{0.1, "0.1"},
		{1.0 / 3, "0.3333333333333333"},
		{123456789.125, "123456789.125"},
		{1e-6, "0.000001"},
		{-1e-6, "-0.000001"},
		{9.99e-7, "9.99e-07"},
		{1e-7, "1e-07"},
		{1e20, "100000000000000000000"},
		{123456789012345680000, "123456789012345680000"},
		{1e21, "1e+21"},
		{-1.5e300, "-1.5e+300"},
		{math.MaxFloat64, "1.7976931348623157e+308"},
		{math.SmallestNonzeroFloat64, "5e-324"},
	}
	for _, tc := range tests {
		got := string(appendFloat(nil, tc.v))
		if got != tc.want {
			t.Errorf("appendFloat(%v) = %s, want %s", tc.v, got, tc.want)
		}
		if back, err := strconv.ParseFloat(got, 64); err != nil || back != tc.v {
			t.Errorf("ParseFloat(appendFloat(%v)) = %v, %v: digits lost", tc.v, back, err)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("appendFloat(%v) = %s, not a JSON number", tc.v, got)
		}
	}
}

func TestAppendTime(t *testing.T) {
	zones := []*time.Location{
		time.UTC,
		time.FixedZone("IST", 5*3600+30*60),
		time.FixedZone("BRT", -3*3600),
		time.FixedZone("LMT", -(4*3600 + 56*60 + 2)), // an offset with seconds
		time.FixedZone("east", 14*3600),
	}
	times := []time.Time{
		time.Date(2024, 5, 26, 12, 39, 23, 0, time.UTC),
		time.Date(2024, 5, 26, 12, 39, 23, 26_000_000, time.UTC),
		time.Date(2024, 5, 26, 12, 39, 23, 123_456_789, time.UTC),
		time.Date(2024, 5, 26, 12, 39, 23, 999, time.UTC),  // below a microsecond
		time.Date(2024, 5, 26, 12, 39, 23, 1000, time.UTC), // one microsecond
		time.Date(2024, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-44, 3, 15, 0, 0, 0, 0, time.UTC),
		{},
	}
	for _, base := range times {
		for _, loc := range zones {
			tm := base.In(loc)
			for _, date := range []bool{false, true} {
				layout := timeLayout
				if date {
					layout = time.DateOnly
				}
				got := string(appendTime(nil, tm, date))
				if want := tm.Format(layout); got != want {
					t.Errorf("appendTime(%v, date=%v) = %s, want %s", tm, date, got, want)
				}
			}
		}
	}
}

func TestAppendCSVField(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{" spaces kept ", " spaces kept "},
		{"a,b", `"a,b"`},
		{`say "hi"`, `"say ""hi"""`},
		{`"`, `""""`},
		{"a\nb", "\"a\nb\""},
		{"a\rb", "\"a\rb\""},
		{"tab\there", "tab\there"},
		{"ünï", "ünï"},
		{"\xff", "\xff"},
	}
	for _, tc := range tests {
		if got := string(appendCSVField(nil, tc.in)); got != tc.want {
			t.Errorf("appendCSVField(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{`a"b\c`, `"a\"b\\c"`},
		{"\n\r\t\b\f", `"\n\r\t\b\f"`},
		{"\x00\x01\x1f\x7f", `"\u0000\u0001\u001f` + "\x7f\""},
		{"<b>&</b>", `"<b>&</b>"`},
		{"ünï 日本 😀 \u2028", "\"ünï 日本 😀 \u2028\""},
		{"bad \xff\xfe!", `"bad \ufffd\ufffd!"`},
		{"\xe6\x97", `"\ufffd\ufffd"`}, // truncated 3-byte sequence
		{"\ufffd", "\"\ufffd\""},
	}
	for _, tc := range tests {
		got := appendJSONString(nil, tc.in)
		if string(got) != tc.want {
			t.Errorf("appendJSONString(%q) = %s, want %s", tc.in, got, tc.want)
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil || back != replaceInvalidUTF8(tc.in) {
			t.Errorf("json.Unmarshal(appendJSONString(%q)) = %q, %v, want %q", tc.in, back, err, replaceInvalidUTF8(tc.in))
		}
	}
}

func TestAppendJSONDecimal(t *testing.T) {
	tests := []struct{ in, want string }{
		{"0", "0"},
		{"-0", "-0"},
		{"-12.3400", "-12.3400"},
		{"123456789012345678901234567890.000000001", "123456789012345678901234567890.000000001"},
		{"1e5", "1e5"},
		{"1.5E+3", "1.5E+3"},
		{"2e-10", "2e-10"},
		{"NaN", "null"},
		{"Infinity", "null"},
		{"-Infinity", "null"},
		{"+1", `"+1"`},
		{"01", `"01"`},
		{".5", `".5"`},
		{"1.", `"1."`},
		{"1e", `"1e"`},
		{"-", `"-"`},
		{"", `""`},
		{"1,5", `"1,5"`},
	}
	for _, tc := range tests {
		got := string(appendJSONDecimal(nil, tc.in))
		if got != tc.want {
			t.Errorf("appendJSONDecimal(%q) = %s, want %s", tc.in, got, tc.want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("appendJSONDecimal(%q) = %s, not valid JSON", tc.in, got)
		}
	}
}
