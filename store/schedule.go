package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// Bounds of a schedule's interval, in seconds.
const (
	minScheduleInterval = 60
	maxScheduleInterval = 365 * 86400 // one year

	secondsPerDay  = 86400
	secondsPerWeek = 7 * secondsPerDay

	// maxBackoffMinutes caps the failure back-off at a day.
	maxBackoffMinutes = 1440
)

// QuerySchedule is a saved query's refresh schedule.
type QuerySchedule struct {
	Interval  int64  // seconds, > 0
	Time      string // "HH:MM" or "" (none)
	DayOfWeek string // "Monday".."Sunday" or "" — canonical capitalised name
	Until     string // "YYYY-MM-DD" or ""
	Timezone  string // IANA name, "" means UTC (ParseQuerySchedule stores "UTC" as "")
}

var queryScheduleKeys = []string{"interval", "time", "day_of_week", "until", "timezone"}

// ParseQuerySchedule reads a query's schedule as Redash stores it,
// {"interval": …, "time": …, "day_of_week": …, "until": …}, plus queryd's
// "timezone". It returns nil and no error when there is no schedule: empty
// input, null, or an object whose every value is null or absent. A missing key
// means null. A "disabled" key is accepted and dropped: a schedule is never
// turned off by it. Anything else that is not a valid schedule is an error
// whose message, meant for the API's client, names the key, the value given
// and what is expected.
func ParseQuerySchedule(raw json.RawMessage) (*QuerySchedule, error) {
	obj, err := scheduleObject(raw, queryScheduleKeys, "disabled")
	if obj == nil || err != nil {
		return nil, err
	}
	if allNull(obj, queryScheduleKeys) {
		return nil, nil
	}
	var s QuerySchedule
	if isNull(obj["interval"]) {
		return nil, fmt.Errorf("schedule.interval is missing; expected seconds from %d to %d "+
			"when time, day_of_week, until or timezone is set", minScheduleInterval, maxScheduleInterval)
	}
	if s.Interval, err = parseInterval(obj["interval"]); err != nil {
		return nil, err
	}
	if v := obj["time"]; !isNull(v) {
		if s.Time, err = parseClock(v); err != nil {
			return nil, err
		}
		if s.Interval%secondsPerDay != 0 {
			return nil, fmt.Errorf("schedule.time %s needs a daily or weekly interval; "+
				"expected schedule.interval to be a whole number of days (a multiple of %d), not %d",
				given(v), secondsPerDay, s.Interval)
		}
	}
	if v := obj["day_of_week"]; !isNull(v) {
		if s.DayOfWeek, err = parseWeekday(v); err != nil {
			return nil, err
		}
		if s.Interval%secondsPerWeek != 0 {
			return nil, fmt.Errorf("schedule.day_of_week %s needs a weekly interval; "+
				"expected schedule.interval to be a whole number of weeks (a multiple of %d), not %d",
				given(v), secondsPerWeek, s.Interval)
		}
		if s.Time == "" {
			return nil, fmt.Errorf(`schedule.day_of_week %s needs schedule.time; expected "HH:MM" (24-hour) with it`,
				given(v))
		}
	}
	if v := obj["until"]; !isNull(v) {
		var str string
		if json.Unmarshal(v, &str) != nil {
			return nil, fmt.Errorf(`schedule.until %s is not a date; expected "YYYY-MM-DD"`, given(v))
		}
		if _, err := time.Parse(time.DateOnly, str); err != nil {
			return nil, fmt.Errorf(`schedule.until %s is not a date; expected "YYYY-MM-DD"`, given(v))
		}
		s.Until = str
	}
	if s.Timezone, err = parseTimezone(obj["timezone"]); err != nil {
		return nil, err
	}
	return &s, nil
}

// MarshalJSON writes all five keys, null for those unset; interval is a JSON
// number and timezone is "UTC" when unset.
func (s QuerySchedule) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Interval  int64   `json:"interval"`
		Time      *string `json:"time"`
		DayOfWeek *string `json:"day_of_week"`
		Until     *string `json:"until"`
		Timezone  string  `json:"timezone"`
	}{s.Interval, nullable(s.Time), nullable(s.DayOfWeek), nullable(s.Until), zoneName(s.Timezone)})
}

// Location returns the schedule's zone (UTC when unset, or when Timezone is
// not a zone, which ParseQuerySchedule refuses).
func (s QuerySchedule) Location() *time.Location {
	return loadZone(s.Timezone)
}

// Next returns when the query is next due, given when its last scheduled run started
// (zero: never ran), when the schedule was set (created), and how many scheduled runs in a
// row have failed. ok is false when no run is due ever again (until has passed).
//
// Without Time, runs are Interval apart, and a query that never ran is due at
// created. With Time, runs are at Time in the schedule's zone, Interval/86400
// calendar days apart (so across a change of daylight saving time, 23 or 25
// hours), on DayOfWeek when set; a query that never ran is due at the first
// such time at or after created. A run started late, up to a day after its
// time, counts for the day it was due. A Time that does not exist on a
// spring-forward day is moved forward by the gap (02:30 becomes 03:30 in
// Europe/Berlin); a Time that happens twice on a fall-back day runs once, the
// first time. With DayOfWeek, the next run is on the DayOfWeek nearest to
// Interval/86400 days after the last run's day (at most 3 days back or
// forward), so a run put off by back-off does not shift later runs.
//
// When failures > 0, the run is put off by 2^failures minutes, a day at most;
// the schedule is never turned off. With Until, no run is due at or after
// 00:00 of that date in the schedule's zone: Next returns the zero time and
// false when the next run would be.
//
// s must be valid, as ParseQuerySchedule returns it.
func (s QuerySchedule) Next(last, created time.Time, failures int) (next time.Time, ok bool) {
	loc := s.Location()
	hour, minute, timed := clock(s.Time)
	switch {
	case !timed && last.IsZero():
		next = created
	case !timed:
		next = last.Add(time.Duration(s.Interval) * time.Second)
	case last.IsZero():
		next = s.firstAt(created, hour, minute, loc)
	default:
		next = s.nextAt(last, hour, minute, loc)
	}
	next = next.Add(backoff(failures))
	if s.Until != "" {
		if u, err := time.Parse(time.DateOnly, s.Until); err == nil {
			end := time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, loc)
			if !next.Before(end) {
				return time.Time{}, false
			}
		}
	}
	return next, true
}

// Due reports whether a run is due at now: Next's time is not after now.
func (s QuerySchedule) Due(last, created time.Time, failures int, now time.Time) bool {
	next, ok := s.Next(last, created, failures)
	return ok && !next.After(now)
}

// firstAt returns the first hour:minute in loc, on s's weekday if it has one,
// at or after created.
func (s QuerySchedule) firstAt(created time.Time, hour, minute int, loc *time.Location) time.Time {
	wd, weekly := weekday(s.DayOfWeek)
	day := civilDate(created.In(loc))
	for {
		t := atClock(day, hour, minute, loc)
		if !t.Before(created) && (!weekly || day.Weekday() == wd) {
			return t
		}
		day = day.AddDate(0, 0, 1)
	}
}

// nextAt returns the run after last for a schedule with a time of day.
func (s QuerySchedule) nextAt(last time.Time, hour, minute int, loc *time.Location) time.Time {
	day := civilDate(last.In(loc))
	if atClock(day, hour, minute, loc).After(last) {
		// Started late, past midnight: the run was the previous day's.
		day = day.AddDate(0, 0, -1)
	}
	day = day.AddDate(0, 0, int(max(s.Interval/secondsPerDay, 1)))
	if wd, weekly := weekday(s.DayOfWeek); weekly {
		// The nearest DayOfWeek, back or forward: a run put off past its
		// day by back-off keeps the weekly rhythm instead of skipping a week.
		d := (int(wd) - int(day.Weekday()) + 7) % 7
		if d > 3 {
			d -= 7
		}
		day = day.AddDate(0, 0, d)
	}
	return atClock(day, hour, minute, loc)
}

// civilDate returns t's calendar date as midnight UTC, where adding days is
// exact.
func civilDate(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// atClock returns hour:minute on day (a civilDate) in loc. A time that does
// not exist there is moved forward by the gap, as time.Date does; of a time
// that happens twice, it returns the first (time.Date promises neither).
func atClock(day time.Time, hour, minute int, loc *time.Location) time.Time {
	t := time.Date(day.Year(), day.Month(), day.Day(), hour, minute, 0, 0, loc)
	_, before := t.Add(-24 * time.Hour).Zone()
	_, offset := t.Zone()
	if before > offset { // the clocks went back in the last day
		earlier := t.Add(-time.Duration(before-offset) * time.Second).In(loc)
		if earlier.Day() == t.Day() && earlier.Hour() == t.Hour() && earlier.Minute() == t.Minute() {
			return earlier
		}
	}
	return t
}

// backoff returns how long a run is put off after failures failed runs in a
// row: 2^failures minutes, a day at most.
func backoff(failures int) time.Duration {
	if failures <= 0 {
		return 0
	}
	minutes := maxBackoffMinutes
	if failures < 11 { // 2^11 > 1440
		minutes = min(1<<failures, maxBackoffMinutes)
	}
	return time.Duration(minutes) * time.Minute
}

// scheduleObject decodes a schedule object and checks its keys against known
// and ignored. It returns a nil map and no error for empty input and null.
// Ignored keys are dropped.
func scheduleObject(raw json.RawMessage, known []string, ignored ...string) (map[string]json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var obj map[string]json.RawMessage
	if raw[0] != '{' || json.Unmarshal(raw, &obj) != nil {
		return nil, fmt.Errorf(`schedule %s is not a JSON object; expected {"interval": …, …} or null`, given(raw))
	}
	var unknown []string
	for k := range obj {
		switch {
		case slices.Contains(ignored, k):
			delete(obj, k)
		case !slices.Contains(known, k):
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, fmt.Errorf("schedule has unknown key %q; expected keys %s",
			unknown[0], strings.Join(known, ", "))
	}
	return obj, nil
}

func isNull(v json.RawMessage) bool {
	return len(v) == 0 || string(v) == "null"
}

func allNull(obj map[string]json.RawMessage, keys []string) bool {
	for _, k := range keys {
		if !isNull(obj[k]) {
			return false
		}
	}
	return true
}

// parseInterval reads schedule.interval: a JSON integer or a string of
// digits, in seconds, within the bounds.
func parseInterval(v json.RawMessage) (int64, error) {
	digits := string(v)
	var str string
	if json.Unmarshal(v, &str) == nil {
		digits = str
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return 0, fmt.Errorf("schedule.interval %s is not a whole number of seconds; expected an integer from %d to %d",
			given(v), minScheduleInterval, maxScheduleInterval)
	}
	if err != nil || n < minScheduleInterval || n > maxScheduleInterval {
		return 0, fmt.Errorf("schedule.interval %s is out of range; expected seconds from %d (a minute) to %d (a year)",
			given(v), minScheduleInterval, maxScheduleInterval)
	}
	return n, nil
}

// parseClock reads schedule.time, "HH:MM" or "HH:MM:00", and returns it as
// "HH:MM".
func parseClock(v json.RawMessage) (string, error) {
	var str string
	if json.Unmarshal(v, &str) != nil {
		return "", fmt.Errorf(`schedule.time %s is not a time of day; expected "HH:MM" (24-hour)`, given(v))
	}
	hhmm := str
	if len(str) == len("15:04:05") {
		if str[5] != ':' || !isDigits(str[6:]) {
			return "", fmt.Errorf(`schedule.time %s is not a time of day; expected "HH:MM" (24-hour)`, given(v))
		}
		if str[6:] != "00" {
			return "", fmt.Errorf(`schedule.time %s has seconds; expected "HH:MM" (24-hour), on the minute`, given(v))
		}
		hhmm = str[:5]
	}
	if _, _, ok := clock(hhmm); !ok {
		return "", fmt.Errorf(`schedule.time %s is not a time of day; expected "HH:MM" (24-hour)`, given(v))
	}
	return hhmm, nil
}

// clock splits "HH:MM" into hour and minute; ok is false for anything else.
func clock(s string) (hour, minute int, ok bool) {
	if len(s) != len("15:04") || s[2] != ':' || !isDigits(s[:2]) || !isDigits(s[3:]) {
		return 0, 0, false
	}
	hour, _ = strconv.Atoi(s[:2])
	minute, _ = strconv.Atoi(s[3:])
	return hour, minute, hour < 24 && minute < 60
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// parseWeekday reads schedule.day_of_week, a full English day name in any
// case, and returns it capitalised.
func parseWeekday(v json.RawMessage) (string, error) {
	var str string
	if json.Unmarshal(v, &str) == nil {
		for d := time.Sunday; d <= time.Saturday; d++ {
			if strings.EqualFold(str, d.String()) {
				return d.String(), nil
			}
		}
	}
	return "", fmt.Errorf(`schedule.day_of_week %s is not a day of the week; expected "Monday" to "Sunday"`, given(v))
}

// weekday returns the time.Weekday of a canonical day name.
func weekday(name string) (time.Weekday, bool) {
	for d := time.Sunday; d <= time.Saturday; d++ {
		if name == d.String() {
			return d, true
		}
	}
	return 0, false
}

// parseTimezone reads schedule.timezone, an IANA zone name; null, "" and
// "UTC" are returned as "".
func parseTimezone(v json.RawMessage) (string, error) {
	if isNull(v) {
		return "", nil
	}
	const expected = `expected an IANA zone name such as "Europe/Berlin", or "UTC"`
	var str string
	if json.Unmarshal(v, &str) != nil {
		return "", fmt.Errorf("schedule.timezone %s is not a time zone; %s", given(v), expected)
	}
	switch str {
	case "", "UTC":
		return "", nil
	case "Local":
		return "", fmt.Errorf("schedule.timezone %s is the server's zone, which is not allowed; %s", given(v), expected)
	}
	loc, err := time.LoadLocation(str)
	if err != nil {
		return "", fmt.Errorf("schedule.timezone %s is not a time zone; %s", given(v), expected)
	}
	zones.Store(str, loc)
	return str, nil
}

// zones caches loaded time zones by name: time.LoadLocation reads the zone
// database every time.
var zones sync.Map // string → *time.Location

// loadZone returns the named zone, UTC for "" or a name that does not load.
func loadZone(name string) *time.Location {
	if name == "" || name == "UTC" || name == "Local" {
		return time.UTC
	}
	if loc, ok := zones.Load(name); ok {
		return loc.(*time.Location)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC
	}
	zones.Store(name, loc)
	return loc
}

// zoneName returns the name MarshalJSON writes for a Timezone.
func zoneName(tz string) string {
	if tz == "" {
		return "UTC"
	}
	return tz
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// given returns a value as the client sent it, for an error message; long
// values are cut short.
func given(v json.RawMessage) string {
	const maxLen = 64
	var buf bytes.Buffer
	if json.Compact(&buf, v) != nil {
		buf.Reset()
		buf.Write(v)
	}
	s := buf.String()
	if len(s) > maxLen {
		s = strings.ToValidUTF8(s[:maxLen], "") + "…"
	}
	return s
}

// DashboardSchedule is a dashboard's refresh schedule: every Interval seconds, or on a cron
// expression in Timezone.
type DashboardSchedule struct {
	Interval int64  // seconds, or 0 when Cron is set
	Cron     string // standard 5-field cron ("*/15 * * * *"), or descriptors like "@hourly"
	Timezone string // IANA, "" = UTC: the zone of Cron, and of relative dates in refreshes
}

var dashboardScheduleKeys = []string{"interval", "cron", "timezone"}

// ParseDashboardSchedule reads a dashboard's refresh schedule,
// {"interval": …} or {"cron": …, "timezone": …}. It returns nil and no error
// when there is no schedule: empty input, null, or an object whose every
// value is null or absent. A missing key means null. The schedule has exactly
// one of interval (seconds, at least 60) and cron (5 fields, or a descriptor
// such as "@hourly"; not "@every", and no CRON_TZ= or TZ= prefix: the zone is
// the timezone key). Anything else is an error whose message, meant for the
// API's client, names the key, the value given and what is expected.
func ParseDashboardSchedule(raw json.RawMessage) (*DashboardSchedule, error) {
	obj, err := scheduleObject(raw, dashboardScheduleKeys)
	if obj == nil || err != nil {
		return nil, err
	}
	if allNull(obj, dashboardScheduleKeys) {
		return nil, nil
	}
	iv, cr := obj["interval"], obj["cron"]
	switch {
	case !isNull(iv) && !isNull(cr):
		return nil, fmt.Errorf("schedule has both interval %s and cron %s; expected one of them", given(iv), given(cr))
	case isNull(iv) && isNull(cr):
		return nil, errors.New(`schedule has neither interval nor cron; expected one of them, ` +
			`such as {"interval": 300} or {"cron": "*/15 * * * *"}`)
	}
	var s DashboardSchedule
	if !isNull(iv) {
		if s.Interval, err = parseInterval(iv); err != nil {
			return nil, err
		}
	} else {
		if s.Cron, err = parseCron(cr); err != nil {
			return nil, err
		}
	}
	if s.Timezone, err = parseTimezone(obj["timezone"]); err != nil {
		return nil, err
	}
	return &s, nil
}

// MarshalJSON writes all three keys, null for those unset; interval is a JSON
// number and timezone is "UTC" when unset.
func (s DashboardSchedule) MarshalJSON() ([]byte, error) {
	var interval *int64
	if s.Interval != 0 {
		interval = &s.Interval
	}
	return json.Marshal(struct {
		Interval *int64  `json:"interval"`
		Cron     *string `json:"cron"`
		Timezone string  `json:"timezone"`
	}{interval, nullable(s.Cron), zoneName(s.Timezone)})
}

// Next returns when the dashboard is next due, given when its last scheduled
// refresh started (zero: never ran), when the schedule was set (created), and
// how many scheduled refreshes in a row have failed. With Interval, refreshes
// are Interval apart and one that never ran is due at created. With Cron, the
// refresh is due at the expression's first time after last (never ran: after
// created), in Timezone. Failures put it off as for QuerySchedule.Next.
//
// s must be valid, as ParseDashboardSchedule returns it; Next returns the zero
// time for a Cron that does not parse or never fires.
func (s DashboardSchedule) Next(last, created time.Time, failures int) time.Time {
	if s.Cron == "" {
		if last.IsZero() {
			return created.Add(backoff(failures))
		}
		return last.Add(time.Duration(s.Interval)*time.Second + backoff(failures))
	}
	from := last
	if from.IsZero() {
		from = created
	}
	sched, err := parseStandard(s.Cron)
	if err != nil {
		return time.Time{}
	}
	next := sched.Next(from.In(loadZone(s.Timezone)))
	if next.IsZero() {
		return next
	}
	return next.Add(backoff(failures))
}

// parseCron checks a dashboard's cron expression and returns it trimmed.
func parseCron(v json.RawMessage) (string, error) {
	const expected = `expected 5 fields (minute hour day-of-month month day-of-week) such as "*/15 * * * *", ` +
		`or a descriptor such as "@hourly"`
	var str string
	if json.Unmarshal(v, &str) != nil {
		return "", fmt.Errorf("schedule.cron %s is not a cron expression; %s", given(v), expected)
	}
	str = strings.TrimSpace(str)
	switch {
	case strings.HasPrefix(str, "CRON_TZ=") || strings.HasPrefix(str, "TZ="):
		return "", fmt.Errorf("schedule.cron %s has a time zone prefix; expected the zone in schedule.timezone "+
			`and the expression without it, such as "0 9 * * 1-5"`, given(v))
	case strings.HasPrefix(str, "@every"):
		return "", fmt.Errorf(`schedule.cron %s is an interval; expected schedule.interval in seconds for that, `+
			`such as {"interval": 300}`, given(v))
	}
	sched, err := parseStandard(str)
	if err != nil {
		return "", fmt.Errorf("schedule.cron %s is not a cron expression (%v); %s", given(v), err, expected)
	}
	// A SpecSchedule looks five years ahead; from 2000 that covers a 29 February.
	if sched.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return "", fmt.Errorf("schedule.cron %s never fires; expected an expression that matches a date that exists, "+
			`such as "0 0 28 2 *"`, given(v))
	}
	return str, nil
}

// parseStandard is cron.ParseStandard made safe for any input: robfig/cron
// v3.0.1 panics on some malformed specs.
func parseStandard(spec string) (sched cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			sched, err = nil, fmt.Errorf("malformed: %v", r)
		}
	}()
	return cron.ParseStandard(spec)
}
