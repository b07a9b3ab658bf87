package api

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
)

// paramRef matches a mustache reference: {{ name }} or {{ name.start }}.
var paramRef = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_\-]+)(?:\.([A-Za-z0-9_\-]+))?\s*\}\}`)

// applyParameters substitutes {{ name }} and {{ name.field }} references in
// text with the values in params, verbatim: strings as they are, numbers and
// booleans as JSON writes them, arrays joined with ", ". A reference without
// a value is a 400 naming every missing parameter.
//
// Values are not typed or escaped here: callers may run any SQL on the data
// source anyway. Typed, validated parameters of saved queries belong to the
// query model.
func applyParameters(text string, params map[string]json.RawMessage) (string, error) {
	if !strings.Contains(text, "{{") {
		return text, nil
	}
	var missing []string
	out := paramRef.ReplaceAllStringFunc(text, func(ref string) string {
		m := paramRef.FindStringSubmatch(ref)
		name, field := m[1], m[2]
		raw, ok := params[name]
		if ok && field != "" {
			var obj map[string]json.RawMessage
			if json.Unmarshal(raw, &obj) != nil {
				ok = false
			} else {
				raw, ok = obj[field]
			}
		}
		if !ok {
			full := name
			if field != "" {
				full += "." + field
			}
			if !slices.Contains(missing, full) {
				missing = append(missing, full)
			}
			return ref
		}
		return paramText(raw)
	})
	if len(missing) > 0 {
		return "", badRequest("Missing parameter value for: %s", strings.Join(missing, ", "))
	}
	return out, nil
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
