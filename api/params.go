package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/queryd/queryd/store"
)

// paramRef matches a mustache reference: {{ name }} or {{ name.start }}.
var paramRef = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_\-]+)(?:\.([A-Za-z0-9_\-]+))?\s*\}\}`)

// render substitutes every reference in text with what value returns for
// it. References value reports absent (ok false) are named, each once, in
// one 400 "Missing parameter value for: …" (Redash's text); value's own
// error is returned as it is.
func render(text string, value func(name, field string) (s string, ok bool, err error)) (string, error) {
	if !strings.Contains(text, "{{") {
		return text, nil
	}
	var missing []string
	var firstErr error
	out := paramRef.ReplaceAllStringFunc(text, func(ref string) string {
		m := paramRef.FindStringSubmatch(ref)
		s, ok, err := value(m[1], m[2])
		switch {
		case err != nil:
			if firstErr == nil {
				firstErr = err
			}
		case !ok:
			full := m[1]
			if m[2] != "" {
				full += "." + m[2]
			}
			if !slices.Contains(missing, full) {
				missing = append(missing, full)
			}
		default:
			return s
		}
		return ref
	})
	if firstErr != nil {
		return "", firstErr
	}
	if len(missing) > 0 {
		return "", badRequest("Missing parameter value for: %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// applyParameters substitutes {{ name }} and {{ name.field }} references in
// the text of an ad hoc query with the values in params, verbatim: strings as
// they are, numbers and booleans as JSON writes them, arrays joined with
// ", ". A reference without a value is a 400 naming every missing parameter.
//
// Values are not typed or escaped here, as in Redash: callers may run any
// SQL on the data source anyway. Saved queries' parameters are typed and
// validated by paramSchema.apply.
func applyParameters(text string, params map[string]json.RawMessage) (string, error) {
	return render(text, func(name, field string) (string, bool, error) {
		raw, ok := params[name]
		if ok && field != "" {
			var obj map[string]json.RawMessage
			if json.Unmarshal(raw, &obj) != nil {
				return "", false, nil
			}
			raw, ok = obj[field]
		}
		if !ok {
			return "", false, nil
		}
		return paramText(raw), true, nil
	})
}

func paramText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		parts := make([]string, len(list))
		for i, v := range list {
			parts[i] = paramText(v)
		}
		return strings.Join(parts, ", ")
	}
	return strings.TrimSpace(string(raw))
}

// Parameter types, Redash's names.
const (
	typeText                     = "text"
	typeTextPattern              = "text-pattern"
	typeNumber                   = "number"
	typeEnum                     = "enum"
	typeQuery                    = "query"
	typeDate                     = "date"
	typeDatetimeLocal            = "datetime-local"
	typeDatetimeWithSeconds      = "datetime-with-seconds"
	typeDateRange                = "date-range"
	typeDatetimeRange            = "datetime-range"
	typeDatetimeRangeWithSeconds = "datetime-range-with-seconds"
)

const (
	// maxDropdownRows bounds the rows of a dropdown query's latest result
	// read for its values.
	maxDropdownRows = 10_000
	// maxShownValue bounds how much of a refused value an error repeats.
	maxShownValue = 60
)

// dateLayouts are the Go layouts values of each date type are written in.
var dateLayouts = map[string]string{
	typeDate:                     "2006-01-02",
	typeDatetimeLocal:            "2006-01-02 15:04",
	typeDatetimeWithSeconds:      "2006-01-02 15:04:05",
	typeDateRange:                "2006-01-02",
	typeDatetimeRange:            "2006-01-02 15:04",
	typeDatetimeRangeWithSeconds: "2006-01-02 15:04:05",
}

func isRangeType(t string) bool {
	return t == typeDateRange || t == typeDatetimeRange || t == typeDatetimeRangeWithSeconds
}

func knownParamType(t string) bool {
	switch t {
	case typeText, typeTextPattern, typeNumber, typeEnum, typeQuery:
		return true
	}
	_, ok := dateLayouts[t]
	return ok
}

// paramDef is one parameter definition of a saved query, an item of its
// options.parameters. Fields the server does not use (title, global,
// locals, …) are kept in the stored options as given.
type paramDef struct {
	Name               string              `json:"name"`
	Title              string              `json:"title"`
	Type               string              `json:"type"`
	Value              json.RawMessage     `json:"value"` // the default, for clients and schedules
	EnumOptions        json.RawMessage     `json:"enumOptions"`
	MultiValuesOptions *multiValuesOptions `json:"multiValuesOptions"`
	Regex              string              `json:"regex"`
	QueryID            json.RawMessage     `json:"queryId"`

	options []string       // enum: the allowed values
	regex   *regexp.Regexp // text-pattern: the whole value must match
	queryID int64          // query: the dropdown query
}

// multiValuesOptions, when present, let an enum or query parameter take a
// list of values, written as prefix+quoted value+suffix joined by separator.
type multiValuesOptions struct {
	Prefix         string  `json:"prefix"`
	Suffix         string  `json:"suffix"`
	Separator      *string `json:"separator"` // absent: ","
	QuoteCharacter string  `json:"quoteCharacter"`
}

// paramSchema is a saved query's parameter definitions.
type paramSchema []paramDef

func (ps paramSchema) find(name string) (paramDef, bool) {
	for _, d := range ps {
		if d.Name == name {
			return d, true
		}
	}
	return paramDef{}, false
}

// parseQueryOptions checks a saved query's options: a JSON object whose
// "parameters" (absent or null: none) is a list of valid definitions. It
// returns the options to store, with "parameters" always present, and the
// definitions. An invalid definition is a 400 naming it.
func parseQueryOptions(raw json.RawMessage) (json.RawMessage, paramSchema, error) {
	var obj map[string]json.RawMessage
	if len(raw) == 0 || string(raw) == "null" {
		obj = map[string]json.RawMessage{}
	} else if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, nil, badRequest(`options must be a JSON object, such as {"parameters": []}`)
	}
	if v, ok := obj["apply_auto_limit"]; ok && string(v) != "true" && string(v) != "false" && string(v) != "null" {
		return nil, nil, badRequest("options.apply_auto_limit must be true or false, not %s", v)
	}
	params := obj["parameters"]
	if len(params) == 0 || string(params) == "null" {
		params = json.RawMessage("[]")
		obj["parameters"] = params
	}
	var items []json.RawMessage
	if err := json.Unmarshal(params, &items); err != nil {
		return nil, nil, badRequest("options.parameters must be a list of parameter definitions")
	}
	schema := make(paramSchema, 0, len(items))
	for i, item := range items {
		d, err := parseParamDef(item)
		if err != nil {
			return nil, nil, badRequest("options.parameters[%d]: %s", i, err)
		}
		if _, dup := schema.find(d.Name); dup {
			return nil, nil, badRequest("options.parameters[%d]: parameter %q is defined twice", i, d.Name)
		}
		schema = append(schema, d)
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return nil, nil, err
	}
	return out, schema, nil
}

// parseParamDef checks one definition and prepares what validating its
// values needs.
func parseParamDef(raw json.RawMessage) (paramDef, error) {
	var d paramDef
	if err := json.Unmarshal(raw, &d); err != nil {
		return d, errors.New(`a definition is an object {"name": …, "type": …, …} with string name, title, type and regex`)
	}
	if strings.TrimSpace(d.Name) == "" {
		return d, errors.New("a parameter needs a name")
	}
	if !knownParamType(d.Type) {
		return d, fmt.Errorf("parameter %q has unknown type %q; types are text, text-pattern, number, enum, query, "+
			"date, datetime-local, datetime-with-seconds, date-range, datetime-range, datetime-range-with-seconds", d.Name, d.Type)
	}
	if mv := d.MultiValuesOptions; mv != nil {
		if d.Type != typeEnum && d.Type != typeQuery {
			return d, fmt.Errorf("parameter %q: multiValuesOptions apply to enum and query parameters only", d.Name)
		}
		switch mv.QuoteCharacter {
		case "", "'", `"`, "`":
		default:
			return d, fmt.Errorf(`parameter %q: quoteCharacter must be "'", "\"", "`+"`"+`" or empty, not %q`, d.Name, mv.QuoteCharacter)
		}
	}
	switch d.Type {
	case typeEnum:
		var list []any
		var s string
		switch {
		case json.Unmarshal(d.EnumOptions, &s) == nil:
			d.options = strings.Split(s, "\n")
		case json.Unmarshal(d.EnumOptions, &list) == nil:
			for _, v := range list {
				switch v := v.(type) {
				case string:
					d.options = append(d.options, v)
				case float64:
					d.options = append(d.options, strconv.FormatFloat(v, 'f', -1, 64))
				default:
					return d, fmt.Errorf("parameter %q: enumOptions must hold strings", d.Name)
				}
			}
		}
		d.options = slices.DeleteFunc(d.options, func(o string) bool { return o == "" })
		if len(d.options) == 0 {
			return d, fmt.Errorf("parameter %q is an enum: enumOptions must list its values (a list, or one per line)", d.Name)
		}
	case typeTextPattern:
		re, err := regexp.Compile(`^(?:` + d.Regex + `)$`)
		if err != nil {
			return d, fmt.Errorf("parameter %q: regex %q does not compile: %v", d.Name, d.Regex, err)
		}
		d.regex = re
	case typeQuery:
		id, err := strconv.ParseInt(strings.Trim(string(d.QueryID), `"`), 10, 64)
		if err != nil || id <= 0 {
			return d, fmt.Errorf("parameter %q is a query dropdown: queryId must be the id of a saved query", d.Name)
		}
		d.queryID = id
	}
	return d, nil
}

// autoLimited reports whether saved query q's options ask for the
// dialect's row limit on a final SELECT without one.
func autoLimited(q store.Query) bool {
	var opts struct {
		ApplyAutoLimit bool `json:"apply_auto_limit"`
	}
	return json.Unmarshal(q.Options, &opts) == nil && opts.ApplyAutoLimit
}

// runText returns text as saved query q runs it: with the row limit of its
// data source's dialect added when its options ask for one.
func (s *Server) runText(ctx context.Context, q store.Query, text string) (string, error) {
	if !autoLimited(q) || q.DataSourceID == nil {
		return text, nil
	}
	ds, err := s.store.DataSource(ctx, *q.DataSourceID)
	if err != nil {
		return "", notFoundIf(err, "data source %d does not exist", *q.DataSourceID)
	}
	return s.types.AutoLimit(ds.Type, text), nil
}

// querySafe reports whether saved query q runs without splicing raw text
// into its SQL; options that do not parse count as unsafe.
func querySafe(q store.Query) bool {
	_, schema, err := parseQueryOptions(q.Options)
	return err == nil && schema.isSafe(q.Query)
}

// isSafe reports whether text with schema can run without splicing raw
// text into SQL: no parameter of type text, and no reference without a
// definition (those are substituted as text). Redash calls this is_safe;
// the permissions that use it (view-only groups, query and dashboard keys
// may run safe queries only) come with groups.
func (ps paramSchema) isSafe(text string) bool {
	for _, d := range ps {
		if d.Type == typeText {
			return false
		}
	}
	for _, m := range paramRef.FindAllStringSubmatch(text, -1) {
		if _, ok := ps.find(m[1]); !ok {
			return false
		}
	}
	return true
}

// paramEnv is what validating values needs besides the values.
type paramEnv struct {
	now time.Time      // relative dates are resolved against now in loc
	loc *time.Location // and naive dates are read in loc
	// dropdown returns which of values are not among the values of query
	// id's latest result. A 400 *Error names what is wrong with the query.
	dropdown func(param string, id int64, values []string) (notListed []string, err error)
}

// paramValue is a validated value as it is substituted: whole, or the
// start and end of a range.
type paramValue struct {
	text       string
	start, end string
	isRange    bool
}

// apply validates values against the schema and renders text with them.
// A reference without a definition is a text parameter. A value without a
// definition or reference, or one its definition refuses, is a 400 naming
// the parameter and what it expects; a reference without a value is a 400
// "Missing parameter value for: …". Numbers, dates and enum values are
// re-formatted from what was parsed, so they cannot carry SQL.
func (ps paramSchema) apply(text string, values map[string]json.RawMessage, env paramEnv) (string, error) {
	names := make([]string, 0, len(values))
	for name, raw := range values {
		if string(raw) != "null" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	refs := paramRef.FindAllStringSubmatch(text, -1)
	resolved := make(map[string]paramValue, len(names))
	var problems []string
	for _, name := range names {
		d, ok := ps.find(name)
		if !ok && slices.ContainsFunc(refs, func(m []string) bool { return m[1] == name }) {
			d, ok = paramDef{Name: name, Type: typeText}, true
		}
		if !ok {
			problems = append(problems, fmt.Sprintf("%s is not a parameter of this query", name))
			continue
		}
		v, err := d.validate(values[name], env)
		if err != nil {
			var apiErr *Error
			if errors.As(err, &apiErr) {
				problems = append(problems, apiErr.Message)
				continue
			}
			return "", err
		}
		resolved[name] = v
	}
	if len(problems) > 0 {
		return "", badRequest("Invalid parameter values: %s", strings.Join(problems, "; "))
	}
	return render(text, func(name, field string) (string, bool, error) {
		v, ok := resolved[name]
		switch {
		case !ok:
			return "", false, nil
		case v.isRange && field == "start":
			return v.start, true, nil
		case v.isRange && field == "end":
			return v.end, true, nil
		case v.isRange:
			return "", false, badRequest("parameter %s is a range: use {{ %s.start }} and {{ %s.end }}", name, name, name)
		case field != "":
			return "", false, badRequest("parameter %s has no field %q: only ranges have start and end", name, field)
		}
		return v.text, true, nil
	})
}

// invalid is the message of a value d refuses.
func (d paramDef) invalid(raw json.RawMessage, format string, args ...any) error {
	shown := string(raw)
	if len(shown) > maxShownValue {
		shown = shown[:maxShownValue] + "…"
	}
	return badRequest("%s (%s) expects %s, not %s", d.Name, d.Type, fmt.Sprintf(format, args...), shown)
}

// validate checks one value against d and formats it.
func (d paramDef) validate(raw json.RawMessage, env paramEnv) (paramValue, error) {
	switch d.Type {
	case typeText:
		s, ok := scalarText(raw)
		if !ok {
			return paramValue{}, d.invalid(raw, "a string")
		}
		return paramValue{text: s}, nil
	case typeTextPattern:
		s, ok := scalarText(raw)
		if !ok || !d.regex.MatchString(s) {
			return paramValue{}, d.invalid(raw, "a string matching /%s/", d.Regex)
		}
		return paramValue{text: s}, nil
	case typeNumber:
		s, ok := scalarText(raw)
		n, ok2 := formatNumber(s)
		if !ok || !ok2 {
			return paramValue{}, d.invalid(raw, "a number")
		}
		return paramValue{text: n}, nil
	case typeEnum, typeQuery:
		return d.validateChoice(raw, env)
	}
	layout := dateLayouts[d.Type]
	if isRangeType(d.Type) {
		start, end, err := d.parseRange(raw, env)
		if err != nil {
			return paramValue{}, err
		}
		return paramValue{isRange: true, start: start.Format(layout), end: end.Format(layout)}, nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return paramValue{}, d.invalid(raw, "a date as %s, d_now or d_yesterday", layout)
	}
	t, ok := relativeDate(s, env.now.In(env.loc))
	if !ok {
		t, ok = parseDate(s, env.loc)
	}
	if !ok {
		return paramValue{}, d.invalid(raw, "a date as %s, d_now or d_yesterday", layout)
	}
	return paramValue{text: t.Format(layout)}, nil
}

// parseRange reads a range value: {"start": …, "end": …} or a relative
// range such as "d_last_7_days".
func (d paramDef) parseRange(raw json.RawMessage, env paramEnv) (time.Time, time.Time, error) {
	layout := dateLayouts[d.Type]
	expected := fmt.Sprintf(`{"start": …, "end": …} with dates as %s, or a relative range such as d_last_7_days`, layout)
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if start, end, ok := relativeRange(s, env.now.In(env.loc)); ok {
			return start, end, nil
		}
		return time.Time{}, time.Time{}, d.invalid(raw, "%s", expected)
	}
	var r struct{ Start, End string }
	if err := json.Unmarshal(raw, &r); err != nil {
		return time.Time{}, time.Time{}, d.invalid(raw, "%s", expected)
	}
	start, ok1 := parseDate(r.Start, env.loc)
	end, ok2 := parseDate(r.End, env.loc)
	if !ok1 || !ok2 {
		return time.Time{}, time.Time{}, d.invalid(raw, "%s", expected)
	}
	if end.Before(start) {
		return time.Time{}, time.Time{}, d.invalid(raw, "a start no later than its end")
	}
	return start, end, nil
}

// validateChoice checks an enum or query value: one of the listed values,
// or, with multiValuesOptions, a list of them.
func (d paramDef) validateChoice(raw json.RawMessage, env paramEnv) (paramValue, error) {
	expected := "one of its listed values"
	if d.Type == typeQuery {
		expected = fmt.Sprintf("one of the values of query %d's latest result", d.queryID)
	}
	if d.MultiValuesOptions != nil {
		expected = "a list of " + strings.TrimPrefix(expected, "one of ")
	}
	var vals []string
	if s, ok := scalarText(raw); ok {
		vals = []string{s}
	} else {
		var list []json.RawMessage
		if d.MultiValuesOptions == nil || json.Unmarshal(raw, &list) != nil || len(list) == 0 {
			return paramValue{}, d.invalid(raw, "%s", expected)
		}
		for _, item := range list {
			s, ok := scalarText(item)
			if !ok {
				return paramValue{}, d.invalid(raw, "%s", expected)
			}
			vals = append(vals, s)
		}
	}
	var notListed []string
	if d.Type == typeEnum {
		for _, v := range vals {
			if !slices.Contains(d.options, v) {
				notListed = append(notListed, v)
			}
		}
	} else {
		var err error
		if notListed, err = env.dropdown(d.Name, d.queryID, vals); err != nil {
			return paramValue{}, err
		}
	}
	if len(notListed) > 0 {
		return paramValue{}, d.invalid(raw, "%s", expected)
	}
	if d.MultiValuesOptions == nil {
		return paramValue{text: vals[0]}, nil
	}
	return paramValue{text: d.MultiValuesOptions.join(vals)}, nil
}

// join writes values as prefix + quoted value + suffix, separated. The
// quote is quoteCharacter, or, in definitions from Redash's editor, a prefix
// equal to the suffix that is a quote; a quote inside a value is doubled.
func (mv multiValuesOptions) join(vals []string) string {
	quote, prefix, suffix := mv.QuoteCharacter, mv.Prefix, mv.Suffix
	if quote == "" && prefix == suffix && (prefix == "'" || prefix == `"` || prefix == "`") {
		quote, prefix, suffix = prefix, "", ""
	}
	sep := ","
	if mv.Separator != nil {
		sep = *mv.Separator
	}
	parts := make([]string, len(vals))
	for i, v := range vals {
		if quote != "" {
			v = quote + strings.ReplaceAll(v, quote, quote+quote) + quote
		}
		parts[i] = prefix + v + suffix
	}
	return strings.Join(parts, sep)
}

// scalarText is a JSON string as it is, or a number as written; ok is
// false for anything else.
func scalarText(raw json.RawMessage) (string, bool) {
	var v any
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.UseNumber()
	if d.Decode(&v) != nil {
		return "", false
	}
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	}
	return "", false
}

// formatNumber parses s as a decimal number and writes it back: integers of
// any size exactly, others as the shortest float64 that round-trips.
func formatNumber(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if n, ok := new(big.Int).SetString(s, 10); ok {
		return n.String(), true
	}
	if strings.ContainsAny(s, "xXpP_") { // hex floats and digit separators are not decimals
		return "", false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return "", false
	}
	if a := math.Abs(f); a == 0 || (a >= 1e-6 && a < 1e21) {
		return strconv.FormatFloat(f, 'f', -1, 64), true
	}
	return strconv.FormatFloat(f, 'g', -1, 64), true
}

// inputDateLayouts are the forms a date value may take; zoneless ones are
// read in the request's zone.
var inputDateLayouts = []string{
	"2006-01-02",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
}

// parseDate reads s in one of inputDateLayouts or RFC 3339 (converted to
// loc).
func parseDate(s string, loc *time.Location) (time.Time, bool) {
	for _, layout := range inputDateLayouts {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, true
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.In(loc), true
	}
	return time.Time{}, false
}

// relativeDate resolves Redash's relative dates, d_now and d_yesterday,
// against now.
func relativeDate(s string, now time.Time) (time.Time, bool) {
	switch s {
	case "d_now":
		return now, true
	case "d_yesterday":
		return now.AddDate(0, 0, -1), true
	}
	return time.Time{}, false
}

// relativeRange resolves Redash's relative ranges against now: whole days
// from the start of the first to the last second of the last. Weeks start
// on Monday (ISO 8601).
func relativeRange(s string, now time.Time) (time.Time, time.Time, bool) {
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location())
	endOf := func(lastDay time.Time) time.Time { return lastDay.AddDate(0, 0, 1).Add(-time.Second) }
	monday := day.AddDate(0, 0, -(int(day.Weekday())+6)%7)
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, now.Location())
	year := time.Date(now.Year(), 1, 1, 0, 0, 0, 0, now.Location())
	switch s {
	case "d_today":
		return day, endOf(day), true
	case "d_yesterday":
		y := day.AddDate(0, 0, -1)
		return y, endOf(y), true
	case "d_this_week":
		return monday, endOf(monday.AddDate(0, 0, 6)), true
	case "d_last_week":
		return monday.AddDate(0, 0, -7), endOf(monday.AddDate(0, 0, -1)), true
	case "d_this_month":
		return month, month.AddDate(0, 1, 0).Add(-time.Second), true
	case "d_last_month":
		return month.AddDate(0, -1, 0), month.Add(-time.Second), true
	case "d_this_year":
		return year, year.AddDate(1, 0, 0).Add(-time.Second), true
	case "d_last_year":
		return year.AddDate(-1, 0, 0), year.Add(-time.Second), true
	case "d_last_12_months":
		return addMonthsClamped(day, -12), endOf(day), true
	case "d_last_hour":
		return now.Add(-time.Hour), now, true
	case "d_last_8_hours":
		return now.Add(-8 * time.Hour), now, true
	case "d_last_24_hours":
		return now.Add(-24 * time.Hour), now, true
	}
	var n int
	if _, err := fmt.Sscanf(s, "d_last_%d_days", &n); err == nil && s == fmt.Sprintf("d_last_%d_days", n) {
		switch n {
		case 7, 14, 30, 60, 90:
			return day.AddDate(0, 0, -n), endOf(day), true
		}
	}
	return time.Time{}, time.Time{}, false
}

// addMonthsClamped adds months to t, keeping the day within the month it
// lands in (2024-02-29 minus 12 months is 2023-02-28, not 2023-03-01).
func addMonthsClamped(t time.Time, months int) time.Time {
	first := time.Date(t.Year(), t.Month(), 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
	first = first.AddDate(0, months, 0)
	last := first.AddDate(0, 1, -1).Day()
	return first.AddDate(0, 0, min(t.Day(), last)-1)
}

// paramZone is the zone relative dates of requests are resolved in; the
// scheduler passes each schedule's own.
var paramZone = time.UTC

// applySavedParameters validates values against saved query q's parameters
// and renders its text with them (see paramSchema.apply), resolving
// relative dates against now in loc; query dropdowns read as user.
func (s *Server) applySavedParameters(ctx context.Context, k caller, q store.Query, values map[string]json.RawMessage, loc *time.Location, now time.Time) (string, error) {
	_, schema, err := parseQueryOptions(q.Options)
	if err != nil { // validated on write: a stored one that fails is our fault
		return "", fmt.Errorf("options of query %d: %s", q.ID, err)
	}
	return schema.apply(q.Query, values, paramEnv{
		now: now,
		loc: loc,
		dropdown: func(param string, id int64, vals []string) ([]string, error) {
			return s.notInDropdown(ctx, k, param, id, vals)
		},
	})
}

// notInDropdown returns which of vals are not among the values of query
// id's latest result, read from result storage: the column named "value"
// (any case) if there is one, else the first, in the first maxDropdownRows
// rows. A query that does not exist, that user may not see or that has no
// result is a 400 naming param.
func (s *Server) notInDropdown(ctx context.Context, k caller, param string, id int64, vals []string) ([]string, error) {
	q, err := s.store.Query(ctx, id)
	if err == nil && !k.isKey() && !k.canSeeQuery(q) {
		err = store.ErrNotFound
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, badRequest("%s (query) lists the values of query %d, which does not exist", param, id)
	}
	if err != nil {
		return nil, err
	}
	noResult := badRequest("%s (query) lists the values of query %d, which has no result yet: run it first", param, id)
	if q.LatestQueryDataID == nil {
		return nil, noResult
	}
	r, err := s.store.QueryResult(ctx, *q.LatestQueryDataID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, noResult
	}
	if err != nil {
		return nil, err
	}
	f, err := s.storage.OpenJSON(ctx, r.StorageKey)
	if err != nil {
		return nil, fmt.Errorf("open result %d: %w", r.ID, err)
	}
	defer f.Close()
	notListed, err := dropdownNotListed(f, vals)
	if err != nil {
		return nil, fmt.Errorf("read result %d: %w", r.ID, err)
	}
	return notListed, nil
}

// dropdownNotListed reads a result's JSON data object from r and returns
// which of vals are not among its values (see notInDropdown).
func dropdownNotListed(r io.Reader, vals []string) ([]string, error) {
	want := make(map[string]bool, len(vals))
	for _, v := range vals {
		want[v] = true
	}
	dec := json.NewDecoder(bufio.NewReader(r))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("result data is not a JSON object: %v", err)
	}
	var first string
rows:
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return nil, err
		}
		switch key {
		case "columns":
			var cols []struct {
				Name string `json:"name"`
			}
			if err := dec.Decode(&cols); err != nil {
				return nil, err
			}
			if len(cols) > 0 {
				first = cols[0].Name
			}
		case "rows":
			if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
				return nil, fmt.Errorf("result rows are not a list: %v", err)
			}
			for n := 0; n < maxDropdownRows && len(want) > 0 && dec.More(); n++ {
				var row map[string]any
				if err := dec.Decode(&row); err != nil {
					return nil, err
				}
				if v, ok := dropdownValue(row, first); ok {
					delete(want, v)
				}
			}
			break rows
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, err
			}
		}
	}
	var notListed []string
	for _, v := range vals {
		if want[v] {
			notListed = append(notListed, v)
		}
	}
	return notListed, nil
}

// dropdownValue is a row's value as a dropdown lists it: its "value"
// column (any case), else its first column, as text.
func dropdownValue(row map[string]any, first string) (string, bool) {
	v, ok := row[first]
	for k, kv := range row {
		if strings.EqualFold(k, "value") {
			v, ok = kv, true
			break
		}
	}
	switch v := v.(type) {
	case string:
		return v, ok
	case json.Number:
		return v.String(), ok
	case bool:
		return strconv.FormatBool(v), ok
	}
	return "", false
}
