package store

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// at returns the wall time wall ("2006-01-02 15:04", optionally with ":05")
// in zone. Of a wall time that happens twice, it returns whichever
// time.ParseInLocation picks: use UTC for those.
func at(tb testing.TB, zone, wall string) time.Time {
	tb.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		tb.Fatal(err)
	}
	layout := "2006-01-02 15:04"
	if len(wall) > len(layout) {
		layout += ":05"
	}
	t, err := time.ParseInLocation(layout, wall, loc)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// show formats t for a failure message, in its zone and in UTC.
func show(t time.Time) string {
	if t.IsZero() {
		return "zero"
	}
	return t.Format("2006-01-02 15:04:05 MST") + " (" + t.UTC().Format("15:04Z") + ")"
}

func TestParseQuerySchedule(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want *QuerySchedule
	}{
		{"empty", ``, nil},
		{"blank", " \n", nil},
		{"null", `null`, nil},
		{"empty object", `{}`, nil},
		{"all null", `{"interval": null, "time": null, "day_of_week": null, "until": null, "timezone": null}`, nil},
		{"only disabled", `{"disabled": true}`, nil},
		{"int interval", `{"interval": 3600}`, &QuerySchedule{Interval: 3600}},
		{"string interval", `{"interval": "3600"}`, &QuerySchedule{Interval: 3600}},
		{"minute", `{"interval": 60}`, &QuerySchedule{Interval: 60}},
		{"year", `{"interval": 31536000}`, &QuerySchedule{Interval: 31536000}},
		{"redash nulls", `{"interval": 3600, "time": null, "day_of_week": null, "until": null}`,
			&QuerySchedule{Interval: 3600}},
		{"daily", `{"interval": 86400, "time": "10:00"}`, &QuerySchedule{Interval: 86400, Time: "10:00"}},
		{"seconds :00", `{"interval": 86400, "time": "23:59:00"}`, &QuerySchedule{Interval: 86400, Time: "23:59"}},
		{"lower-case day", `{"interval": 604800, "time": "09:00", "day_of_week": "friday"}`,
			&QuerySchedule{Interval: 604800, Time: "09:00", DayOfWeek: "Friday"}},
		{"upper-case day, two weeks", `{"interval": 1209600, "time": "09:00", "day_of_week": "SUNDAY"}`,
			&QuerySchedule{Interval: 1209600, Time: "09:00", DayOfWeek: "Sunday"}},
		{"until and zone", `{"interval": 86400, "time": "10:00", "until": "2028-02-29", "timezone": "Europe/Berlin"}`,
			&QuerySchedule{Interval: 86400, Time: "10:00", Until: "2028-02-29", Timezone: "Europe/Berlin"}},
		{"UTC is the default", `{"interval": 3600, "timezone": "UTC"}`, &QuerySchedule{Interval: 3600}},
		{"disabled dropped", `{"interval": 3600, "disabled": true}`, &QuerySchedule{Interval: 3600}},
		{"disabled false dropped", `{"interval": 3600, "disabled": false}`, &QuerySchedule{Interval: 3600}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseQuerySchedule(json.RawMessage(tc.raw))
			if err != nil {
				t.Fatalf("ParseQuerySchedule(%s) error: %v", tc.raw, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseQuerySchedule(%s) mismatch (-want +got):\n%s", tc.raw, diff)
			}
		})
	}
}

func TestParseQueryScheduleErrors(t *testing.T) {
	tests := []struct {
		name  string
		raw   string
		key   string // named in the message
		given string // in the message, when not ""
	}{
		{"not JSON", `{`, "schedule", ""},
		{"not an object", `[3600]`, "schedule", "[3600]"},
		{"number", `3600`, "schedule", "3600"},
		{"unknown key", `{"interval": 3600, "every": "day"}`, "schedule", `"every"`},
		{"float interval", `{"interval": 3600.5}`, "schedule.interval", "3600.5"},
		{"exponent interval", `{"interval": 1e4}`, "schedule.interval", "1e4"},
		{"negative interval", `{"interval": -3600}`, "schedule.interval", "-3600"},
		{"zero interval", `{"interval": 0}`, "schedule.interval", "0"},
		{"short interval", `{"interval": 59}`, "schedule.interval", "59"},
		{"long interval", `{"interval": 31536001}`, "schedule.interval", "31536001"},
		{"huge interval", `{"interval": 99999999999999999999}`, "schedule.interval", "99999999999999999999"},
		{"word interval", `{"interval": "abc"}`, "schedule.interval", `"abc"`},
		{"empty string interval", `{"interval": ""}`, "schedule.interval", `""`},
		{"signed string interval", `{"interval": "+3600"}`, "schedule.interval", `"+3600"`},
		{"bool interval", `{"interval": true}`, "schedule.interval", "true"},
		{"no interval with time", `{"time": "10:00"}`, "schedule.interval", ""},
		{"no interval with until", `{"interval": null, "until": "2027-01-01"}`, "schedule.interval", ""},
		{"hour 25", `{"interval": 86400, "time": "25:00"}`, "schedule.time", `"25:00"`},
		{"hour 24", `{"interval": 86400, "time": "24:00"}`, "schedule.time", `"24:00"`},
		{"minute 60", `{"interval": 86400, "time": "10:60"}`, "schedule.time", `"10:60"`},
		{"no colon", `{"interval": 86400, "time": "1000"}`, "schedule.time", `"1000"`},
		{"one-digit hour", `{"interval": 86400, "time": "9:00"}`, "schedule.time", `"9:00"`},
		{"seconds", `{"interval": 86400, "time": "10:00:30"}`, "schedule.time", `"10:00:30"`},
		{"number time", `{"interval": 86400, "time": 10}`, "schedule.time", "10"},
		{"time hourly", `{"interval": 3600, "time": "10:00"}`, "schedule.time", `"10:00"`},
		{"time 36 hours", `{"interval": 129600, "time": "10:00"}`, "schedule.time", `"10:00"`},
		{"short day", `{"interval": 604800, "time": "10:00", "day_of_week": "Mon"}`, "schedule.day_of_week", `"Mon"`},
		{"no day", `{"interval": 604800, "time": "10:00", "day_of_week": "Funday"}`, "schedule.day_of_week", `"Funday"`},
		{"number day", `{"interval": 604800, "time": "10:00", "day_of_week": 1}`, "schedule.day_of_week", "1"},
		{"day daily", `{"interval": 86400, "time": "10:00", "day_of_week": "Monday"}`, "schedule.day_of_week", `"Monday"`},
		{"day without time", `{"interval": 604800, "day_of_week": "Monday"}`, "schedule.day_of_week", `"Monday"`},
		{"30 February", `{"interval": 3600, "until": "2027-02-30"}`, "schedule.until", `"2027-02-30"`},
		{"unpadded date", `{"interval": 3600, "until": "2027-1-5"}`, "schedule.until", `"2027-1-5"`},
		{"word date", `{"interval": 3600, "until": "tomorrow"}`, "schedule.until", `"tomorrow"`},
		{"date with time", `{"interval": 3600, "until": "2027-01-05T00:00:00Z"}`, "schedule.until", `"2027-01-05T00:00:00Z"`},
		{"number date", `{"interval": 3600, "until": 20270105}`, "schedule.until", "20270105"},
		{"no zone", `{"interval": 3600, "timezone": "Mars/Olympus"}`, "schedule.timezone", `"Mars/Olympus"`},
		{"local zone", `{"interval": 3600, "timezone": "Local"}`, "schedule.timezone", `"Local"`},
		{"number zone", `{"interval": 3600, "timezone": 2}`, "schedule.timezone", "2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseQuerySchedule(json.RawMessage(tc.raw))
			if err == nil {
				t.Fatalf("ParseQuerySchedule(%s) = %+v, want an error", tc.raw, got)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tc.key) || !strings.Contains(msg, tc.given) || !strings.Contains(msg, "expected") {
				t.Errorf("ParseQuerySchedule(%s) error %q, want it to name %s, %s and what is expected",
					tc.raw, msg, tc.key, tc.given)
			}
		})
	}
}

func TestQueryScheduleMarshalJSON(t *testing.T) {
	got, err := json.Marshal(QuerySchedule{Interval: 3600})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"interval":3600,"time":null,"day_of_week":null,"until":null,"timezone":"UTC"}`; string(got) != want {
		t.Errorf("json.Marshal(hourly) = %s, want %s", got, want)
	}
	for _, s := range []QuerySchedule{
		{Interval: 3600},
		{Interval: 86400, Time: "23:59"},
		{Interval: 1209600, Time: "09:00", DayOfWeek: "Monday", Until: "2027-12-01", Timezone: "America/New_York"},
	} {
		b, err := json.Marshal(&s)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseQuerySchedule(b)
		if err != nil {
			t.Fatalf("ParseQuerySchedule(%s) error: %v", b, err)
		}
		if back == nil || *back != s {
			t.Errorf("ParseQuerySchedule(%s) = %+v, want %+v", b, back, s)
		}
	}
}

func TestQueryScheduleNext(t *testing.T) {
	const utc, berlin = "UTC", "Europe/Berlin"
	daily := func(hhmm string) QuerySchedule { return QuerySchedule{Interval: 86400, Time: hhmm} }
	var never time.Time
	created := at(t, utc, "2020-01-01 00:00") // for schedules that ran
	tests := []struct {
		name     string
		s        QuerySchedule
		last     time.Time
		created  time.Time
		failures int
		want     time.Time
	}{
		{"hourly", QuerySchedule{Interval: 3600},
			at(t, utc, "2027-03-03 10:00:03"), created, 0, at(t, utc, "2027-03-03 11:00:03")},
		{"never ran, interval", QuerySchedule{Interval: 3600},
			never, at(t, utc, "2027-03-03 10:17"), 0, at(t, utc, "2027-03-03 10:17")},
		{"daily, started late", daily("10:00"),
			at(t, utc, "2027-03-03 10:00:03"), created, 0, at(t, utc, "2027-03-04 10:00")},
		{"daily 23:59, started after midnight", daily("23:59"),
			at(t, utc, "2027-03-04 00:01"), created, 0, at(t, utc, "2027-03-04 23:59")},
		{"daily 23:59 on time", daily("23:59"),
			at(t, utc, "2027-03-03 23:59"), created, 0, at(t, utc, "2027-03-04 23:59")},
		{"every 2 days", QuerySchedule{Interval: 2 * 86400, Time: "10:00"},
			at(t, utc, "2027-03-03 10:00"), created, 0, at(t, utc, "2027-03-05 10:00")},
		{"weekly Monday from a Monday run", QuerySchedule{Interval: 604800, Time: "09:00", DayOfWeek: "Monday"},
			at(t, utc, "2027-03-01 09:00"), created, 0, at(t, utc, "2027-03-08 09:00")},
		// A week from Wednesday, then forward to Monday.
		{"weekly Monday from a Wednesday run", QuerySchedule{Interval: 604800, Time: "09:00", DayOfWeek: "Monday"},
			at(t, utc, "2027-03-03 09:00"), created, 0, at(t, utc, "2027-03-08 09:00")},
		{"weekly Monday from a run put off to Tuesday keeps Mondays", QuerySchedule{Interval: 604800, Time: "09:00", DayOfWeek: "Monday"},
			at(t, utc, "2027-03-02 09:00"), created, 0, at(t, utc, "2027-03-08 09:00")},
		{"weekly Monday from a Friday run", QuerySchedule{Interval: 604800, Time: "09:00", DayOfWeek: "Monday"},
			at(t, utc, "2027-03-05 09:00"), created, 0, at(t, utc, "2027-03-15 09:00")},
		{"every 2 weeks", QuerySchedule{Interval: 2 * 604800, Time: "09:00", DayOfWeek: "Monday"},
			at(t, utc, "2027-03-01 09:00"), created, 0, at(t, utc, "2027-03-15 09:00")},
		{"never ran, daily, created after the time", daily("10:00"),
			never, at(t, utc, "2027-03-03 11:00"), 0, at(t, utc, "2027-03-04 10:00")},
		{"never ran, daily, created before the time", daily("10:00"),
			never, at(t, utc, "2027-03-03 09:00"), 0, at(t, utc, "2027-03-03 10:00")},
		{"never ran, daily, created at the time", daily("10:00"),
			never, at(t, utc, "2027-03-03 10:00"), 0, at(t, utc, "2027-03-03 10:00")},
		{"never ran, weekly Friday, created that Friday before", QuerySchedule{Interval: 604800, Time: "09:00", DayOfWeek: "Friday"},
			never, at(t, utc, "2027-03-05 08:00"), 0, at(t, utc, "2027-03-05 09:00")},
		{"never ran, weekly Friday, created that Friday after", QuerySchedule{Interval: 604800, Time: "09:00", DayOfWeek: "Friday"},
			never, at(t, utc, "2027-03-05 09:30"), 0, at(t, utc, "2027-03-12 09:00")},
		{"never ran, weekly Friday, created Wednesday", QuerySchedule{Interval: 604800, Time: "09:00", DayOfWeek: "Friday"},
			never, at(t, utc, "2027-03-03 12:00"), 0, at(t, utc, "2027-03-05 09:00")},

		// Month ends.
		{"31 January", daily("00:30"), at(t, utc, "2027-01-31 00:30"), created, 0, at(t, utc, "2027-02-01 00:30")},
		{"28 February, leap year", daily("00:30"), at(t, utc, "2028-02-28 00:30"), created, 0, at(t, utc, "2028-02-29 00:30")},
		{"28 February", daily("00:30"), at(t, utc, "2027-02-28 00:30"), created, 0, at(t, utc, "2027-03-01 00:30")},
		{"30 days from 31 January", QuerySchedule{Interval: 30 * 86400, Time: "00:30"},
			at(t, utc, "2027-01-31 00:30"), created, 0, at(t, utc, "2027-03-02 00:30")},
		{"30 days from 31 January, leap year", QuerySchedule{Interval: 30 * 86400, Time: "00:30"},
			at(t, utc, "2028-01-31 00:30"), created, 0, at(t, utc, "2028-03-01 00:30")},
		{"30 days of seconds from 31 January", QuerySchedule{Interval: 30 * 86400},
			at(t, utc, "2027-01-31 00:30"), created, 0, at(t, utc, "2027-03-02 00:30")},

		// Europe/Berlin: clocks go forward at 02:00 on 2027-03-28, back at 03:00 on 2027-10-31.
		{"02:30 before spring forward", QuerySchedule{Interval: 86400, Time: "02:30", Timezone: berlin},
			at(t, utc, "2027-03-27 01:30"), created, 0, at(t, utc, "2027-03-28 01:30")}, // 03:30 CEST
		{"02:30 never ran, spring forward", QuerySchedule{Interval: 86400, Time: "02:30", Timezone: berlin},
			never, at(t, berlin, "2027-03-27 12:00"), 0, at(t, utc, "2027-03-28 01:30")},
		{"02:30 after spring forward", QuerySchedule{Interval: 86400, Time: "02:30", Timezone: berlin},
			at(t, utc, "2027-03-28 01:30"), created, 0, at(t, utc, "2027-03-29 00:30")}, // 02:30 CEST
		{"10:00 across spring forward", QuerySchedule{Interval: 86400, Time: "10:00", Timezone: berlin},
			at(t, utc, "2027-03-27 09:00"), created, 0, at(t, utc, "2027-03-28 08:00")},
		{"10:00 across fall back", QuerySchedule{Interval: 86400, Time: "10:00", Timezone: berlin},
			at(t, utc, "2027-10-30 08:00"), created, 0, at(t, utc, "2027-10-31 09:00")},
		{"02:30 before fall back: the first 02:30", QuerySchedule{Interval: 86400, Time: "02:30", Timezone: berlin},
			at(t, utc, "2027-10-30 00:30"), created, 0, at(t, utc, "2027-10-31 00:30")}, // CEST
		{"02:30 after the first 02:30", QuerySchedule{Interval: 86400, Time: "02:30", Timezone: berlin},
			at(t, utc, "2027-10-31 00:30"), created, 0, at(t, utc, "2027-11-01 01:30")}, // CET
		{"02:30 after the second 02:30", QuerySchedule{Interval: 86400, Time: "02:30", Timezone: berlin},
			at(t, utc, "2027-10-31 01:30"), created, 0, at(t, utc, "2027-11-01 01:30")},
		{"weekly across spring forward", QuerySchedule{Interval: 604800, Time: "10:00", DayOfWeek: "Monday", Timezone: berlin},
			at(t, berlin, "2027-03-22 10:00"), created, 0, at(t, utc, "2027-03-29 08:00")},
		{"daily 23:59 Berlin, started after midnight", QuerySchedule{Interval: 86400, Time: "23:59", Timezone: berlin},
			at(t, berlin, "2027-06-02 00:01"), created, 0, at(t, berlin, "2027-06-02 23:59")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.s.Next(tc.last, tc.created, tc.failures)
			if !ok || !got.Equal(tc.want) {
				t.Errorf("%+v.Next(%s, %s, %d) = %s, %v, want %s, true",
					tc.s, show(tc.last), show(tc.created), tc.failures, show(got), ok, show(tc.want))
			}
		})
	}
}

// TestQueryScheduleNextAcrossDST runs a scheduler that ticks every minute
// for five days across a change of clocks, setting last to the run's time
// after each run, and checks each local day has exactly one run, at its time.
func TestQueryScheduleNextAcrossDST(t *testing.T) {
	const berlin = "Europe/Berlin"
	tests := []struct {
		name  string
		start string // first of five local days
		time  string
		moved string // the run's local time on the day of the change, when time does not exist then
	}{
		{"fall back 02:00", "2027-10-29", "02:00", ""},
		{"fall back 02:30", "2027-10-29", "02:30", ""},
		{"fall back 02:59", "2027-10-29", "02:59", ""},
		{"fall back 03:00", "2027-10-29", "03:00", ""},
		{"fall back 10:00", "2027-10-29", "10:00", ""},
		{"fall back 23:59", "2027-10-29", "23:59", ""},
		{"fall back 00:00", "2027-10-29", "00:00", ""},
		{"spring forward 02:00", "2027-03-26", "02:00", "03:00"},
		{"spring forward 02:30", "2027-03-26", "02:30", "03:30"},
		{"spring forward 03:00", "2027-03-26", "03:00", ""},
		{"spring forward 10:00", "2027-03-26", "10:00", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := QuerySchedule{Interval: 86400, Time: tc.time, Timezone: berlin}
			loc := s.Location()
			start := at(t, berlin, tc.start+" 00:00")
			end := start.AddDate(0, 0, 5)
			created := start
			var last time.Time
			runs := map[string]int{} // by local date
			for now := start; now.Before(end); now = now.Add(time.Minute) {
				if !s.Due(last, created, 0, now) {
					continue
				}
				next, _ := s.Next(last, created, 0)
				if now.Sub(next) >= time.Minute {
					t.Errorf("run due at %s ran late at %s", show(next), show(now))
				}
				local := next.In(loc)
				day := local.Format(time.DateOnly)
				runs[day]++
				want := tc.time
				if tc.moved != "" && (day == "2027-03-28" || day == "2027-10-31") {
					want = tc.moved
				}
				if wall := local.Format("15:04"); wall != want {
					t.Errorf("run at %s, want it at %s local", show(next), want)
				}
				last = next
			}
			for d := start; d.Before(end); d = d.AddDate(0, 0, 1) {
				if day := d.Format(time.DateOnly); runs[day] != 1 {
					t.Errorf("%d runs on %s, want 1 (all runs: %v)", runs[day], day, runs)
				}
			}
			if len(runs) != 5 {
				t.Errorf("runs on %d days, want 5: %v", len(runs), runs)
			}
		})
	}
}

func TestQueryScheduleBackoff(t *testing.T) {
	last := at(t, "UTC", "2027-03-03 10:00")
	tests := []struct {
		name     string
		s        QuerySchedule
		failures int
		want     time.Time
	}{
		{"none", QuerySchedule{Interval: 3600}, 0, last.Add(time.Hour)},
		{"one", QuerySchedule{Interval: 3600}, 1, last.Add(time.Hour + 2*time.Minute)},
		{"three", QuerySchedule{Interval: 3600}, 3, last.Add(time.Hour + 8*time.Minute)},
		{"ten", QuerySchedule{Interval: 3600}, 10, last.Add(time.Hour + 1024*time.Minute)},
		{"eleven: a day", QuerySchedule{Interval: 3600}, 11, last.Add(time.Hour + 1440*time.Minute)},
		{"twenty: a day", QuerySchedule{Interval: 3600}, 20, last.Add(time.Hour + 1440*time.Minute)},
		{"huge: a day", QuerySchedule{Interval: 3600}, 1 << 30, last.Add(time.Hour + 1440*time.Minute)},
		{"negative: none", QuerySchedule{Interval: 3600}, -1, last.Add(time.Hour)},
		{"daily", QuerySchedule{Interval: 86400, Time: "10:00"}, 1, at(t, "UTC", "2027-03-04 10:02")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.s.Next(last, last, tc.failures)
			if !ok || !got.Equal(tc.want) {
				t.Errorf("%+v.Next(%s, _, %d) = %s, %v, want %s, true", tc.s, show(last), tc.failures, show(got), ok, show(tc.want))
			}
		})
	}
	// A failed run put off past midnight is still the day it was due for.
	s := QuerySchedule{Interval: 86400, Time: "23:59"}
	late, _ := s.Next(at(t, "UTC", "2027-03-03 23:59"), last, 1)
	if want := at(t, "UTC", "2027-03-05 00:01"); !late.Equal(want) {
		t.Errorf("%+v.Next(23:59, _, 1) = %s, want %s", s, show(late), show(want))
	}
	if got, _ := s.Next(late, last, 0); !got.Equal(at(t, "UTC", "2027-03-05 23:59")) {
		t.Errorf("%+v.Next(%s, _, 0) = %s, want 2027-03-05 23:59", s, show(late), show(got))
	}
}

func TestQueryScheduleUntil(t *testing.T) {
	const utc, ny = "UTC", "America/New_York"
	dailyUntil := QuerySchedule{Interval: 86400, Time: "10:00", Until: "2027-12-01"}
	hourlyNY := QuerySchedule{Interval: 3600, Until: "2027-12-01", Timezone: ny} // ends at 05:00Z
	tests := []struct {
		name     string
		s        QuerySchedule
		last     time.Time
		created  time.Time
		failures int
		want     time.Time // zero: no run
	}{
		{"day before", dailyUntil, at(t, utc, "2027-11-29 10:00"), time.Time{}, 0, at(t, utc, "2027-11-30 10:00")},
		{"until date", dailyUntil, at(t, utc, "2027-11-30 10:00"), time.Time{}, 0, time.Time{}},
		{"put off past until", QuerySchedule{Interval: 86400, Time: "23:00", Until: "2027-12-01"},
			at(t, utc, "2027-11-29 23:00"), time.Time{}, 10, time.Time{}},
		{"never ran, created after", dailyUntil, time.Time{}, at(t, utc, "2027-12-02 09:00"), 0, time.Time{}},
		{"never ran, created before", dailyUntil, time.Time{}, at(t, utc, "2027-11-30 09:00"), 0, at(t, utc, "2027-11-30 10:00")},
		{"zone: last evening", hourlyNY, at(t, utc, "2027-12-01 03:30"), time.Time{}, 0, at(t, ny, "2027-11-30 23:30")},
		{"zone: midnight", hourlyNY, at(t, utc, "2027-12-01 04:00"), time.Time{}, 0, time.Time{}},
		{"zone: after", hourlyNY, at(t, utc, "2027-12-01 04:30"), time.Time{}, 0, time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.s.Next(tc.last, tc.created, tc.failures)
			if ok != !tc.want.IsZero() || !got.Equal(tc.want) {
				t.Errorf("%+v.Next(%s, %s, %d) = %s, %v, want %s, %v",
					tc.s, show(tc.last), show(tc.created), tc.failures, show(got), ok, show(tc.want), !tc.want.IsZero())
			}
		})
	}
}

func TestQueryScheduleDue(t *testing.T) {
	const utc = "UTC"
	last := at(t, utc, "2027-03-03 10:00")
	hourly := QuerySchedule{Interval: 3600}
	tests := []struct {
		name     string
		s        QuerySchedule
		last     time.Time
		failures int
		now      time.Time
		want     bool
	}{
		{"before", hourly, last, 0, at(t, utc, "2027-03-03 10:59:59"), false},
		{"at", hourly, last, 0, at(t, utc, "2027-03-03 11:00"), true},
		{"after", hourly, last, 0, at(t, utc, "2027-03-03 13:00"), true},
		{"put off", hourly, last, 1, at(t, utc, "2027-03-03 11:01"), false},
		{"never ran", hourly, time.Time{}, 0, last, true},
		{"until passed", QuerySchedule{Interval: 3600, Until: "2027-03-03"}, last, 0, at(t, utc, "2027-03-04 10:00"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.Due(tc.last, last, tc.failures, tc.now); got != tc.want {
				t.Errorf("%+v.Due(%s, _, %d, %s) = %v, want %v", tc.s, show(tc.last), tc.failures, show(tc.now), got, tc.want)
			}
		})
	}
}

func TestQueryScheduleLocation(t *testing.T) {
	for _, tc := range []struct{ tz, want string }{{"", "UTC"}, {"Europe/Berlin", "Europe/Berlin"}} {
		if got := (QuerySchedule{Interval: 60, Timezone: tc.tz}).Location().String(); got != tc.want {
			t.Errorf("QuerySchedule{Timezone: %q}.Location() = %s, want %s", tc.tz, got, tc.want)
		}
	}
}

func TestParseDashboardSchedule(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want *DashboardSchedule
	}{
		{"empty", ``, nil},
		{"null", `null`, nil},
		{"empty object", `{}`, nil},
		{"all null", `{"interval": null, "cron": null, "timezone": null}`, nil},
		{"interval", `{"interval": 300}`, &DashboardSchedule{Interval: 300}},
		{"string interval", `{"interval": "300", "cron": null}`, &DashboardSchedule{Interval: 300}},
		{"cron", `{"cron": "*/15 * * * *"}`, &DashboardSchedule{Cron: "*/15 * * * *"}},
		{"cron in a zone", `{"cron": "0 9 * * 1-5", "timezone": "America/New_York"}`,
			&DashboardSchedule{Cron: "0 9 * * 1-5", Timezone: "America/New_York"}},
		{"descriptor, trimmed", `{"cron": " @hourly ", "timezone": "UTC"}`, &DashboardSchedule{Cron: "@hourly"}},
		{"29 February", `{"cron": "0 0 29 2 *"}`, &DashboardSchedule{Cron: "0 0 29 2 *"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDashboardSchedule(json.RawMessage(tc.raw))
			if err != nil {
				t.Fatalf("ParseDashboardSchedule(%s) error: %v", tc.raw, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseDashboardSchedule(%s) mismatch (-want +got):\n%s", tc.raw, diff)
			}
		})
	}

	errs := []struct {
		name  string
		raw   string
		key   string
		given string
	}{
		{"not an object", `"*/15 * * * *"`, "schedule", `"*/15 * * * *"`},
		{"unknown key", `{"interval": 300, "refresh": true}`, "schedule", `"refresh"`},
		{"both", `{"interval": 300, "cron": "*/15 * * * *"}`, "schedule", `"*/15 * * * *"`},
		{"neither", `{"timezone": "Europe/Berlin"}`, "schedule", ""},
		{"short interval", `{"interval": 30}`, "schedule.interval", "30"},
		{"float interval", `{"interval": 300.5}`, "schedule.interval", "300.5"},
		{"not cron", `{"cron": "every day"}`, "schedule.cron", `"every day"`},
		{"six fields", `{"cron": "0 */15 * * * *"}`, "schedule.cron", `"0 */15 * * * *"`},
		{"minute 61", `{"cron": "61 * * * *"}`, "schedule.cron", `"61 * * * *"`},
		{"empty cron", `{"cron": ""}`, "schedule.cron", `""`},
		{"number cron", `{"cron": 15}`, "schedule.cron", "15"},
		{"CRON_TZ", `{"cron": "CRON_TZ=Europe/Berlin 0 9 * * *"}`, "schedule.cron", `"CRON_TZ=Europe/Berlin 0 9 * * *"`},
		{"TZ", `{"cron": "TZ=UTC 0 9 * * *"}`, "schedule.cron", `"TZ=UTC 0 9 * * *"`},
		{"TZ alone", `{"cron": "TZ=UTC"}`, "schedule.cron", `"TZ=UTC"`}, // panics in robfig/cron
		{"@every", `{"cron": "@every 10s"}`, "schedule.cron", `"@every 10s"`},
		{"unknown descriptor", `{"cron": "@reboot"}`, "schedule.cron", `"@reboot"`},
		{"never fires", `{"cron": "0 0 30 2 *"}`, "schedule.cron", `"0 0 30 2 *"`},
		{"bad zone", `{"cron": "@daily", "timezone": "Europe/Atlantis"}`, "schedule.timezone", `"Europe/Atlantis"`},
		{"local zone", `{"cron": "@daily", "timezone": "Local"}`, "schedule.timezone", `"Local"`},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDashboardSchedule(json.RawMessage(tc.raw))
			if err == nil {
				t.Fatalf("ParseDashboardSchedule(%s) = %+v, want an error", tc.raw, got)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tc.key) || !strings.Contains(msg, tc.given) || !strings.Contains(msg, "expected") {
				t.Errorf("ParseDashboardSchedule(%s) error %q, want it to name %s, %s and what is expected",
					tc.raw, msg, tc.key, tc.given)
			}
		})
	}
}

func TestDashboardScheduleMarshalJSON(t *testing.T) {
	tests := []struct {
		s    DashboardSchedule
		want string
	}{
		{DashboardSchedule{Interval: 300}, `{"interval":300,"cron":null,"timezone":"UTC"}`},
		{DashboardSchedule{Cron: "0 9 * * 1-5", Timezone: "America/New_York"},
			`{"interval":null,"cron":"0 9 * * 1-5","timezone":"America/New_York"}`},
	}
	for _, tc := range tests {
		b, err := json.Marshal(tc.s)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.want {
			t.Errorf("json.Marshal(%+v) = %s, want %s", tc.s, b, tc.want)
		}
		back, err := ParseDashboardSchedule(b)
		if err != nil {
			t.Fatalf("ParseDashboardSchedule(%s) error: %v", b, err)
		}
		if back == nil || *back != tc.s {
			t.Errorf("ParseDashboardSchedule(%s) = %+v, want %+v", b, back, tc.s)
		}
	}
}

func TestDashboardScheduleNext(t *testing.T) {
	const utc, ny, berlin = "UTC", "America/New_York", "Europe/Berlin"
	every5 := DashboardSchedule{Interval: 300}
	quarter := DashboardSchedule{Cron: "*/15 * * * *"}
	weekdays9 := DashboardSchedule{Cron: "0 9 * * 1-5", Timezone: ny}
	var never time.Time
	created := at(t, utc, "2020-01-01 00:00")
	tests := []struct {
		name     string
		s        DashboardSchedule
		last     time.Time
		created  time.Time
		failures int
		want     time.Time
	}{
		{"interval", every5, at(t, utc, "2027-03-03 10:00:07"), created, 0, at(t, utc, "2027-03-03 10:05:07")},
		{"interval, never ran", every5, never, at(t, utc, "2027-03-03 10:01"), 0, at(t, utc, "2027-03-03 10:01")},
		{"interval, back-off", every5, at(t, utc, "2027-03-03 10:00"), created, 3, at(t, utc, "2027-03-03 10:13")},
		{"interval, huge back-off", every5, at(t, utc, "2027-03-03 10:00"), created, 1 << 30, at(t, utc, "2027-03-04 10:05")},
		{"cron", quarter, at(t, utc, "2027-03-03 10:07"), created, 0, at(t, utc, "2027-03-03 10:15")},
		{"cron, on the mark", quarter, at(t, utc, "2027-03-03 10:15"), created, 0, at(t, utc, "2027-03-03 10:30")},
		{"cron, started late", quarter, at(t, utc, "2027-03-03 10:15:02"), created, 0, at(t, utc, "2027-03-03 10:30")},
		{"cron, never ran", quarter, never, at(t, utc, "2027-03-03 10:15:30"), 0, at(t, utc, "2027-03-03 10:30")},
		{"cron, back-off", quarter, at(t, utc, "2027-03-03 10:15"), created, 1, at(t, utc, "2027-03-03 10:32")},
		{"cron weekdays, Thursday", weekdays9, at(t, utc, "2027-03-11 14:00"), created, 0, at(t, utc, "2027-03-12 14:00")},
		// Clocks go forward on Sunday 2027-03-14 in New York: 09:00 EST is 14:00Z, 09:00 EDT 13:00Z.
		{"cron weekdays across DST", weekdays9, at(t, utc, "2027-03-12 14:00"), created, 0, at(t, utc, "2027-03-15 13:00")},
		{"cron weekdays, never ran, created Saturday", weekdays9, never, at(t, ny, "2027-03-13 12:00"), 0, at(t, ny, "2027-03-15 09:00")},
		{"cron weekdays, back-off", weekdays9, at(t, utc, "2027-03-12 14:00"), created, 20, at(t, utc, "2027-03-16 13:00")},
		{"descriptor in a zone", DashboardSchedule{Cron: "@daily", Timezone: berlin},
			at(t, berlin, "2027-03-27 00:00"), created, 0, at(t, utc, "2027-03-27 23:00")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.s.Next(tc.last, tc.created, tc.failures)
			if !got.Equal(tc.want) {
				t.Errorf("%+v.Next(%s, %s, %d) = %s, want %s",
					tc.s, show(tc.last), show(tc.created), tc.failures, show(got), show(tc.want))
			}
		})
	}
}
