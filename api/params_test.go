package api

import (
	"encoding/json"
	"strings"
	"testing"
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
