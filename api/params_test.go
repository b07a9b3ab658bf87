package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestApplyParameters(t *testing.T) {
	for _, tc := range []struct {
		name, text, params, want, err string
	}{
		{"no parameters", "SELECT 1", `{}`, "SELECT 1", ""},
		{"string", "SELECT '{{ s }}'", `{"s": "abc"}`, "SELECT 'abc'", ""},
		{"number and spacing", "SELECT {{n}} + {{  n  }}", `{"n": 4.5}`, "SELECT 4.5 + 4.5", ""},
		{"boolean", "SELECT {{ b }}", `{"b": true}`, "SELECT true", ""},
		{"range fields", "WHERE d BETWEEN '{{ r.start }}' AND '{{ r.end }}'", `{"r": {"start": "2024-01-01", "end": "2024-01-31"}}`,
			"WHERE d BETWEEN '2024-01-01' AND '2024-01-31'", ""},
		{"list", "WHERE x IN ({{ xs }})", `{"xs": [1, 2, 3]}`, "WHERE x IN (1, 2, 3)", ""},
		{"missing, named once each", "SELECT {{ a }}, {{ b }}, {{ a }}", `{}`, "", "Missing parameter value for: a, b"},
		{"missing range field", "SELECT '{{ r.start }}'", `{"r": "2024-01-01"}`, "", "Missing parameter value for: r.start"},
		{"unused values are fine", "SELECT 1", `{"unused": 1}`, "SELECT 1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var params map[string]json.RawMessage
			if err := json.Unmarshal([]byte(tc.params), &params); err != nil {
				t.Fatal(err)
			}
			got, err := applyParameters(tc.text, params)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("applyParameters(%q, %s) error = %v, want %q", tc.text, tc.params, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("applyParameters(%q, %s) = %q, %v; want %q", tc.text, tc.params, got, err, tc.want)
			}
		})
	}
}

// paramNow is the fake clock of parameter tests: Friday 15 March 2024.
var paramNow = time.Date(2024, 3, 15, 10, 30, 45, 0, time.UTC)

// fakeDropdown lists a, b and O'Brien for query 7.
func fakeDropdown(param string, id int64, vals []string) ([]string, error) {
	if id != 7 {
		return nil, badRequest("%s (query) lists the values of query %d, which does not exist", param, id)
	}
	var notListed []string
	for _, v := range vals {
		if v != "a" && v != "b" && v != "O'Brien" {
			notListed = append(notListed, v)
		}
	}
	return notListed, nil
}

func TestParamSchemaApply(t *testing.T) {
	const (
		text     = `{"name": "p", "type": "text"}`
		pattern  = `{"name": "p", "type": "text-pattern", "regex": "[A-Z]+-[0-9]+"}`
		number   = `{"name": "p", "type": "number"}`
		enum     = `{"name": "p", "type": "enum", "enumOptions": "a\nb\nO'Brien"}`
		enumList = `{"name": "p", "type": "enum", "enumOptions": ["a", "b", "O'Brien"]}`
		multi    = `{"name": "p", "type": "enum", "enumOptions": "a\nb\nO'Brien", "multiValuesOptions": {"separator": ",", "quoteCharacter": "'"}}`
		legacy   = `{"name": "p", "type": "enum", "enumOptions": "a\nb", "multiValuesOptions": {"prefix": "'", "suffix": "'", "separator": ", "}}`
		bare     = `{"name": "p", "type": "enum", "enumOptions": "1\n2", "multiValuesOptions": {"prefix": "(", "suffix": ")"}}`
		query    = `{"name": "p", "type": "query", "queryId": 7}`
		queryM   = `{"name": "p", "type": "query", "queryId": "7", "multiValuesOptions": {"quoteCharacter": "\""}}`
		queryBad = `{"name": "p", "type": "query", "queryId": 8}`
		date     = `{"name": "p", "type": "date"}`
		dtLocal  = `{"name": "p", "type": "datetime-local"}`
		dtSecs   = `{"name": "p", "type": "datetime-with-seconds"}`
		dRange   = `{"name": "p", "type": "date-range"}`
		dtRange  = `{"name": "p", "type": "datetime-range"}`
		dtsRange = `{"name": "p", "type": "datetime-range-with-seconds"}`
	)
	const rangeText = "BETWEEN '{{ p.start }}' AND '{{ p.end }}'"
	for _, tc := range []struct {
		name, def, text, value, want, err string
	}{
		{"text", text, "'{{ p }}'", `"a b"`, "'a b'", ""},
		{"text from a number", text, "{{ p }}", `5`, "5", ""},
		{"text refuses a list", text, "{{ p }}", `["a"]`, "", "p (text) expects a string"},
		{"value of no parameter, beside an undefined reference", "", "'{{ q }}'", `"x' OR 1=1"`, "", "p is not a parameter of this query"},

		{"text-pattern", pattern, "'{{ p }}'", `"AB-12"`, "'AB-12'", ""},
		{"text-pattern matches whole", pattern, "'{{ p }}'", `"AB-12' OR '1'='1"`, "", "p (text-pattern) expects a string matching /[A-Z]+-[0-9]+/"},

		{"number", number, "{{ p }}", `42`, "42", ""},
		{"number from a string", number, "{{ p }}", `"42"`, "42", ""},
		{"number re-formatted", number, "{{ p }}", `4.50`, "4.5", ""},
		{"number exponent", number, "{{ p }}", `"-1e3"`, "-1000", ""},
		{"number tiny", number, "{{ p }}", `1e-9`, "1e-09", ""},
		{"number big integer exact", number, "{{ p }}", `123456789012345678901234567890`, "123456789012345678901234567890", ""},
		{"number injection", number, "{{ p }}", `"1; DROP TABLE x"`, "", "p (number) expects a number, not \"1; DROP TABLE x\""},
		{"number injection after digits", number, "{{ p }}", `"1 OR 1=1"`, "", "expects a number"},
		{"number NaN", number, "{{ p }}", `"NaN"`, "", "expects a number"},
		{"number infinite", number, "{{ p }}", `"1e400"`, "", "expects a number"},
		{"number hex", number, "{{ p }}", `"0x1p4"`, "", "expects a number"},
		{"number boolean", number, "{{ p }}", `true`, "", "expects a number"},
		{"number list", number, "{{ p }}", `[1, 2]`, "", "expects a number"},

		{"enum", enum, "'{{ p }}'", `"b"`, "'b'", ""},
		{"enum options as a list", enumList, "'{{ p }}'", `"a"`, "'a'", ""},
		{"enum not listed", enum, "'{{ p }}'", `"c"`, "", "p (enum) expects one of its listed values"},
		{"enum injection with a quote", enum, "'{{ p }}'", `"a' OR '1'='1"`, "", "expects one of its listed values"},
		{"enum list without multi-values", enum, "'{{ p }}'", `["a", "b"]`, "", "expects one of its listed values"},
		{"enum multi", multi, "IN ({{ p }})", `["a", "b"]`, "IN ('a','b')", ""},
		{"enum multi doubles quotes", multi, "IN ({{ p }})", `["O'Brien"]`, "IN ('O''Brien')", ""},
		{"enum multi scalar", multi, "IN ({{ p }})", `"a"`, "IN ('a')", ""},
		{"enum multi one not listed", multi, "IN ({{ p }})", `["a", "x') OR ('1'='1"]`, "", "expects a list of its listed values"},
		{"enum multi empty", multi, "IN ({{ p }})", `[]`, "", "expects a list of its listed values"},
		{"enum multi nested list", multi, "IN ({{ p }})", `[["a"]]`, "", "expects a list"},
		{"enum multi Redash's quote prefix", legacy, "IN ({{ p }})", `["a", "b"]`, "IN ('a', 'b')", ""},
		{"enum multi prefix and suffix", bare, "IN {{ p }}", `["1", "2"]`, "IN (1),(2)", ""},

		{"query listed", query, "'{{ p }}'", `"a"`, "'a'", ""},
		{"query not listed", query, "'{{ p }}'", `"z"`, "", "p (query) expects one of the values of query 7's latest result"},
		{"query multi", queryM, "IN ({{ p }})", `["a", "O'Brien"]`, `IN ("a","O'Brien")`, ""},
		{"query missing query", queryBad, "{{ p }}", `"a"`, "", "lists the values of query 8, which does not exist"},

		{"date", date, "'{{ p }}'", `"2024-01-01"`, "'2024-01-01'", ""},
		{"date from a datetime", date, "'{{ p }}'", `"2024-01-01T23:10:00"`, "'2024-01-01'", ""},
		{"date injection", date, "'{{ p }}'", `"2024-01-01' OR '1'='1"`, "", "p (date) expects a date as 2006-01-02, d_now or d_yesterday"},
		{"date impossible", date, "'{{ p }}'", `"2024-02-30"`, "", "expects a date"},
		{"date number", date, "'{{ p }}'", `20240101`, "", "expects a date"},
		{"date d_now", date, "'{{ p }}'", `"d_now"`, "'2024-03-15'", ""},
		{"date d_yesterday", date, "'{{ p }}'", `"d_yesterday"`, "'2024-03-14'", ""},
		{"datetime-local", dtLocal, "'{{ p }}'", `"2024-01-01T10:20"`, "'2024-01-01 10:20'", ""},
		{"datetime-local drops seconds", dtLocal, "'{{ p }}'", `"2024-01-01 10:20:30"`, "'2024-01-01 10:20'", ""},
		{"datetime-local d_now", dtLocal, "'{{ p }}'", `"d_now"`, "'2024-03-15 10:30'", ""},
		{"datetime-local injection", dtLocal, "'{{ p }}'", `"2024-01-01 10:20'; DROP TABLE x; --"`, "", "expects a date as 2006-01-02 15:04"},
		{"datetime-with-seconds", dtSecs, "'{{ p }}'", `"2024-01-01 10:20:30"`, "'2024-01-01 10:20:30'", ""},
		{"datetime-with-seconds zoned", dtSecs, "'{{ p }}'", `"2024-01-01T12:20:30+02:00"`, "'2024-01-01 10:20:30'", ""},

		{"date-range", dRange, rangeText, `{"start": "2024-01-01", "end": "2024-01-31"}`, "BETWEEN '2024-01-01' AND '2024-01-31'", ""},
		{"date-range relative", dRange, rangeText, `"d_last_7_days"`, "BETWEEN '2024-03-08' AND '2024-03-15'", ""},
		{"date-range injection in start", dRange, rangeText, `{"start": "2024-01-01' OR '1'='1", "end": "2024-01-31"}`, "", "p (date-range) expects {\"start\": …, \"end\": …}"},
		{"date-range injection in end", dRange, rangeText, `{"start": "2024-01-01", "end": "2024-01-31'); DROP TABLE x; --"}`, "", "expects {\"start\""},
		{"date-range reversed", dRange, rangeText, `{"start": "2024-02-01", "end": "2024-01-31"}`, "", "expects a start no later than its end"},
		{"date-range plain date", dRange, rangeText, `"2024-01-01"`, "", "expects {\"start\""},
		{"date-range unknown relative", dRange, rangeText, `"d_last_8_days"`, "", "expects {\"start\""},
		{"date-range whole", dRange, "{{ p }}", `"d_today"`, "", "p is a range: use {{ p.start }} and {{ p.end }}"},
		{"datetime-range relative", dtRange, rangeText, `"d_this_week"`, "BETWEEN '2024-03-11 00:00' AND '2024-03-17 23:59'", ""},
		{"datetime-range", dtRange, rangeText, `{"start": "2024-01-01T00:00", "end": "2024-01-31 23:59"}`, "BETWEEN '2024-01-01 00:00' AND '2024-01-31 23:59'", ""},
		{"datetime-range-with-seconds today", dtsRange, rangeText, `"d_today"`, "BETWEEN '2024-03-15 00:00:00' AND '2024-03-15 23:59:59'", ""},
		{"field of a non-range", number, "{{ p.start }}", `1`, "", "parameter p has no field \"start\""},

		{"missing", number, "{{ p }} {{ other }}", ``, "", "Missing parameter value for: p, other"},
		{"null is missing", number, "{{ p }}", `null`, "", "Missing parameter value for: p"},
		{"unknown value", number, "{{ p }}", `{"p": 1, "zzz": 2}`, "", "zzz is not a parameter of this query"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			options := `{"parameters": [` + tc.def + `]}`
			_, schema, err := parseQueryOptions(json.RawMessage(options))
			if err != nil {
				t.Fatalf("parseQueryOptions(%s) = %v", options, err)
			}
			values := map[string]json.RawMessage{}
			switch {
			case strings.HasPrefix(tc.value, `{"p": 1`):
				json.Unmarshal([]byte(tc.value), &values)
			case tc.def == "":
				values["p"], values["q"] = json.RawMessage(tc.value), json.RawMessage(tc.value)
			case tc.value != "":
				values["p"] = json.RawMessage(tc.value)
			}
			got, err := schema.apply(tc.text, values, paramEnv{now: paramNow, loc: time.UTC, dropdown: fakeDropdown})
			if tc.err != "" {
				var apiErr *Error
				if !errors.As(err, &apiErr) || apiErr.Status != 400 || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("apply(%q, %s) = %q, %v; want 400 containing %q", tc.text, tc.value, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("apply(%q, %s) = %q, %v; want %q", tc.text, tc.value, got, err, tc.want)
			}
		})
	}
}

func TestParamSchemaApplyImplicitText(t *testing.T) {
	var schema paramSchema
	got, err := schema.apply("SELECT '{{ q }}'", map[string]json.RawMessage{"q": json.RawMessage(`"x"`)}, paramEnv{now: paramNow, loc: time.UTC})
	if err != nil || got != "SELECT 'x'" {
		t.Errorf("apply(undefined reference q) = %q, %v; want \"SELECT 'x'\"", got, err)
	}
}

func TestRelativeRange(t *testing.T) {
	at := func(s string) time.Time {
		t, err := time.Parse("2006-01-02 15:04:05", s)
		if err != nil {
			panic(err)
		}
		return t
	}
	for _, tc := range []struct {
		now, name, start, end string
	}{
		{"2024-03-15 10:30:45", "d_today", "2024-03-15 00:00:00", "2024-03-15 23:59:59"},
		{"2024-01-01 00:00:00", "d_yesterday", "2023-12-31 00:00:00", "2023-12-31 23:59:59"},
		{"2024-03-17 23:59:59", "d_this_week", "2024-03-11 00:00:00", "2024-03-17 23:59:59"}, // Sunday
		{"2024-03-11 00:00:00", "d_this_week", "2024-03-11 00:00:00", "2024-03-17 23:59:59"}, // Monday
		{"2024-01-03 12:00:00", "d_last_week", "2023-12-25 00:00:00", "2023-12-31 23:59:59"},
		{"2024-03-31 12:00:00", "d_last_month", "2024-02-01 00:00:00", "2024-02-29 23:59:59"},
		{"2024-01-15 12:00:00", "d_last_month", "2023-12-01 00:00:00", "2023-12-31 23:59:59"},
		{"2023-02-10 12:00:00", "d_this_month", "2023-02-01 00:00:00", "2023-02-28 23:59:59"},
		{"2024-12-31 23:59:59", "d_this_month", "2024-12-01 00:00:00", "2024-12-31 23:59:59"},
		{"2024-12-31 23:59:59", "d_this_year", "2024-01-01 00:00:00", "2024-12-31 23:59:59"},
		{"2024-01-01 00:00:00", "d_last_year", "2023-01-01 00:00:00", "2023-12-31 23:59:59"},
		{"2024-03-01 08:00:00", "d_last_7_days", "2024-02-23 00:00:00", "2024-03-01 23:59:59"},
		{"2024-01-05 08:00:00", "d_last_14_days", "2023-12-22 00:00:00", "2024-01-05 23:59:59"},
		{"2024-03-01 08:00:00", "d_last_30_days", "2024-01-31 00:00:00", "2024-03-01 23:59:59"},
		{"2024-03-01 08:00:00", "d_last_60_days", "2024-01-01 00:00:00", "2024-03-01 23:59:59"},
		{"2024-03-31 08:00:00", "d_last_90_days", "2024-01-01 00:00:00", "2024-03-31 23:59:59"},
		{"2024-02-29 08:00:00", "d_last_12_months", "2023-02-28 00:00:00", "2024-02-29 23:59:59"},
		{"2024-01-01 00:30:00", "d_last_hour", "2023-12-31 23:30:00", "2024-01-01 00:30:00"},
	} {
		t.Run(tc.name+" at "+tc.now, func(t *testing.T) {
			start, end, ok := relativeRange(tc.name, at(tc.now))
			got := start.Format("2006-01-02 15:04:05") + " " + end.Format("2006-01-02 15:04:05")
			if want := tc.start + " " + tc.end; !ok || got != want {
				t.Errorf("relativeRange(%s, %s) = %s, %v; want %s", tc.name, tc.now, got, ok, want)
			}
		})
	}
	for _, name := range []string{"d_last_8_days", "d_last_7_days_ago", "d_now", "last_week", ""} {
		if _, _, ok := relativeRange(name, paramNow); ok {
			t.Errorf("relativeRange(%q) ok = true, want false", name)
		}
	}
	if d, ok := relativeDate("d_yesterday", at("2024-03-01 00:00:00")); !ok || d.Format("2006-01-02") != "2024-02-29" {
		t.Errorf("relativeDate(d_yesterday, 2024-03-01) = %v, %v; want 2024-02-29", d, ok)
	}
}

// TestRelativeDatesInZone checks relative dates resolve in the zone passed
// in, not the clock's.
func TestRelativeDatesInZone(t *testing.T) {
	_, schema, err := parseQueryOptions(json.RawMessage(`{"parameters": [{"name": "d", "type": "date"}, {"name": "r", "type": "date-range"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	newYork := time.FixedZone("EST", -5*3600)
	now := time.Date(2024, 1, 1, 2, 0, 0, 0, time.UTC) // still 2023 in New York
	values := map[string]json.RawMessage{"d": json.RawMessage(`"d_now"`), "r": json.RawMessage(`"d_this_year"`)}
	for _, tc := range []struct {
		loc  *time.Location
		want string
	}{
		{time.UTC, "2024-01-01 2024-01-01..2024-12-31"},
		{newYork, "2023-12-31 2023-01-01..2023-12-31"},
	} {
		got, err := schema.apply("{{ d }} {{ r.start }}..{{ r.end }}", values, paramEnv{now: now, loc: tc.loc})
		if err != nil || got != tc.want {
			t.Errorf("apply at %v in %v = %q, %v; want %q", now, tc.loc, got, err, tc.want)
		}
	}
}

func TestParseQueryOptions(t *testing.T) {
	for _, tc := range []struct {
		name, options, want, err string
	}{
		{"absent", ``, `{"parameters":[]}`, ""},
		{"null", `null`, `{"parameters":[]}`, ""},
		{"no parameters key, others kept", `{"apply_auto_limit": true}`, `{"apply_auto_limit":true,"parameters":[]}`, ""},
		{"valid", `{"parameters": [{"name": "n", "title": "N", "type": "number", "value": 1, "global": false}]}`,
			`{"parameters":[{"name":"n","title":"N","type":"number","value":1,"global":false}]}`, ""},
		{"not an object", `[]`, "", "options must be a JSON object"},
		{"parameters not a list", `{"parameters": {}}`, "", "options.parameters must be a list"},
		{"definition not an object", `{"parameters": [1]}`, "", "options.parameters[0]: a definition is an object"},
		{"missing name", `{"parameters": [{"type": "number"}]}`, "", "options.parameters[0]: a parameter needs a name"},
		{"unknown type", `{"parameters": [{"name": "n", "type": "number"}, {"name": "c", "type": "color"}]}`, "", `options.parameters[1]: parameter "c" has unknown type "color"`},
		{"missing type", `{"parameters": [{"name": "n"}]}`, "", `parameter "n" has unknown type ""`},
		{"duplicate", `{"parameters": [{"name": "n", "type": "number"}, {"name": "n", "type": "text"}]}`, "", `parameter "n" is defined twice`},
		{"enum without options", `{"parameters": [{"name": "e", "type": "enum"}]}`, "", `parameter "e" is an enum: enumOptions must list its values`},
		{"enum options not strings", `{"parameters": [{"name": "e", "type": "enum", "enumOptions": [{"a": 1}]}]}`, "", `parameter "e": enumOptions must hold strings`},
		{"bad regex", `{"parameters": [{"name": "t", "type": "text-pattern", "regex": "("}]}`, "", `parameter "t": regex "(" does not compile`},
		{"query without queryId", `{"parameters": [{"name": "q", "type": "query"}]}`, "", `parameter "q" is a query dropdown: queryId must be`},
		{"multi-values on a number", `{"parameters": [{"name": "n", "type": "number", "multiValuesOptions": {}}]}`, "", `parameter "n": multiValuesOptions apply to enum and query`},
		{"bad quote", `{"parameters": [{"name": "e", "type": "enum", "enumOptions": "a", "multiValuesOptions": {"quoteCharacter": "x"}}]}`, "", `parameter "e": quoteCharacter must be`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := parseQueryOptions(json.RawMessage(tc.options))
			if tc.err != "" {
				var apiErr *Error
				if !errors.As(err, &apiErr) || apiErr.Status != 400 || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parseQueryOptions(%s) = %s, %v; want 400 containing %q", tc.options, got, err, tc.err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Errorf("parseQueryOptions(%s) = %s, %v; want %s", tc.options, got, err, tc.want)
			}
		})
	}
}

func TestIsSafe(t *testing.T) {
	for _, tc := range []struct {
		options, text string
		want          bool
	}{
		{`{}`, "SELECT 1", true},
		{`{"parameters": [{"name": "n", "type": "number"}]}`, "SELECT {{ n }}", true},
		{`{"parameters": [{"name": "t", "type": "text-pattern", "regex": "a"}]}`, "SELECT '{{ t }}'", true},
		{`{"parameters": [{"name": "t", "type": "text"}]}`, "SELECT 1", false},
		{`{"parameters": [{"name": "n", "type": "number"}]}`, "SELECT {{ n }}, '{{ undefined }}'", false},
	} {
		_, schema, err := parseQueryOptions(json.RawMessage(tc.options))
		if err != nil {
			t.Fatal(err)
		}
		if got := schema.isSafe(tc.text); got != tc.want {
			t.Errorf("isSafe(%s, %q) = %v, want %v", tc.options, tc.text, got, tc.want)
		}
	}
}

func TestDropdownNotListed(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		vals, want []string
	}{
		{"first column", "{\"columns\":[{\"name\":\"id\",\"type\":\"integer\"},{\"name\":\"label\",\"type\":\"string\"}],\"rows\":[\n" +
			"{\"id\":1,\"label\":\"one\"},\n{\"id\":2.5,\"label\":\"two\"}\n]}", []string{"1", "2.5", "one", "3"}, []string{"one", "3"}},
		{"value column", "{\"columns\":[{\"name\":\"name\",\"type\":\"string\"},{\"name\":\"Value\",\"type\":\"string\"}],\"rows\":[\n" +
			"{\"name\":\"One\",\"Value\":\"o'1\"},\n{\"name\":\"Two\",\"Value\":null}\n]}", []string{"o'1", "One", ""}, []string{"One", ""}},
		{"no rows", "{\"columns\":[{\"name\":\"id\",\"type\":\"integer\"}],\"rows\":[\n]}", []string{"1"}, []string{"1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := dropdownNotListed(strings.NewReader(tc.data), tc.vals)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("dropdownNotListed(%v) = %v, %v; want %v", tc.vals, got, err, tc.want)
			}
		})
	}
	var rows strings.Builder
	rows.WriteString("{\"columns\":[{\"name\":\"n\",\"type\":\"integer\"}],\"rows\":[\n")
	for i := range maxDropdownRows + 1 {
		if i > 0 {
			rows.WriteString(",\n")
		}
		fmt.Fprintf(&rows, "{\"n\":%d}", i)
	}
	rows.WriteString("\n]}")
	beyond := strconv.Itoa(maxDropdownRows)
	got, err := dropdownNotListed(strings.NewReader(rows.String()), []string{"0", beyond})
	if err != nil || !slices.Equal(got, []string{beyond}) {
		t.Errorf("dropdownNotListed(row %s of %d) = %v, %v; want only it not listed", beyond, maxDropdownRows+1, got, err)
	}
}
