package snowflake

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/queryd/queryd/drivers"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		dbType string
		scale  int64
		want   drivers.ColumnType
	}{
		{"FIXED", 0, drivers.TypeInteger},
		{"FIXED", 2, drivers.TypeFloat},
		{"REAL", 0, drivers.TypeFloat},
		{"TEXT", 0, drivers.TypeString},
		{"BOOLEAN", 0, drivers.TypeBoolean},
		{"DATE", 0, drivers.TypeDate},
		{"TIME", 9, drivers.TypeString},
		{"TIMESTAMP_NTZ", 9, drivers.TypeDatetime},
		{"TIMESTAMP_LTZ", 9, drivers.TypeDatetime},
		{"TIMESTAMP_TZ", 9, drivers.TypeDatetime},
		{"BINARY", 0, drivers.TypeString},
		{"VARIANT", 0, drivers.TypeString},
		{"GEOGRAPHY", 0, drivers.TypeString},
	}
	for _, tc := range tests {
		if got, _ := classify(tc.dbType, tc.scale); got != tc.want {
			t.Errorf("classify(%q, %d) = %q, want %q", tc.dbType, tc.scale, got, tc.want)
		}
	}
}

func TestDecode(t *testing.T) {
	plus2 := time.FixedZone("", 2*3600)
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		la = time.FixedZone("PST", -8*3600)
	}
	tests := []struct {
		name string
		kind kind
		in   any
		want any
	}{
		{"integer", kindInteger, "-42", int64(-42)},
		{"integer max", kindInteger, "9223372036854775807", int64(9223372036854775807)},
		{"integer beyond int64", kindInteger, "9223372036854775808", drivers.Decimal("9223372036854775808")},
		{"integer 38 digits", kindInteger, "-99999999999999999999999999999999999999", drivers.Decimal("-99999999999999999999999999999999999999")},
		{"decimal", kindDecimal, "0.1000", drivers.Decimal("0.1000")},
		{"decimal negative", kindDecimal, "-12.30", drivers.Decimal("-12.30")},
		{"real", kindReal, "1.1", 1.1},
		{"real exponent", kindReal, "1e+300", 1e300},
		{"boolean 1", kindBoolean, "1", true},
		{"boolean 0", kindBoolean, "0", false},
		{"boolean TRUE", kindBoolean, "TRUE", true},
		{"boolean FALSE", kindBoolean, "FALSE", false},
		{"date", kindDate, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"time", kindTime, time.Time{}.Add(13*time.Hour + 14*time.Minute + 15*time.Second + 5*time.Millisecond), "13:14:15.005"},
		{"time whole seconds", kindTime, time.Time{}.Add(time.Hour), "01:00:00"},
		{"ntz", kindNaive, time.Date(2024, 2, 29, 13, 14, 15, 1, time.UTC), "2024-02-29T13:14:15.000000001"},
		{"ltz to UTC", kindInstant, time.Date(2024, 2, 29, 5, 0, 0, 0, la), time.Date(2024, 2, 29, 13, 0, 0, 0, time.UTC)},
		{"tz keeps offset", kindZoned, time.Date(2024, 2, 29, 13, 0, 0, 0, plus2), time.Date(2024, 2, 29, 13, 0, 0, 0, plus2)},
		{"binary", kindBinary, []byte{0, 1}, []byte{0, 1}},
		{"variant", kindText, "{\n  \"a\": 1\n}", "{\n  \"a\": 1\n}"},
	}
	var r rows
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.decode(tc.kind, tc.in)
			if err != nil {
				t.Fatalf("decode(%v) error = %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got, timeComparer); diff != "" {
				t.Errorf("decode(%#v) mismatch (-want +got):\n%s", tc.in, diff)
			}
		})
	}
	for _, bad := range []struct {
		kind kind
		in   any
	}{{kindInteger, "1e5"}, {kindDecimal, "1.5e3"}, {kindDecimal, "NaN"}, {kindBoolean, "yes"}, {kindReal, "x"}, {kindDate, "2024-02-29"}} {
		if got, err := r.decode(bad.kind, bad.in); err == nil {
			t.Errorf("decode(%d, %#v) = %#v, want an error", bad.kind, bad.in, got)
		}
	}
}

// timeComparer treats two times as equal when they are the same instant
// with the same UTC offset.
var timeComparer = cmp.Comparer(func(a, b time.Time) bool {
	return a.Equal(b) && a.Format(time.RFC3339Nano) == b.Format(time.RFC3339Nano)
})
