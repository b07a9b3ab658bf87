package drivers

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
)

// DecodeOptions decodes a data source's options, which must be a JSON
// object, into v, a pointer to a driver's options struct. Unknown keys are
// ignored. A value of the wrong JSON type is an *OptionsError naming its key;
// anything but an object is an *OptionsError on "options".
func DecodeOptions(config json.RawMessage, v any) error {
	notObject := &OptionsError{Field: "options", Reason: "must be a JSON object"}
	if !strings.HasPrefix(strings.TrimSpace(string(config)), "{") {
		return notObject
	}
	if err := json.Unmarshal(config, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return &OptionsError{Field: te.Field, Reason: "must be " + jsonKind(te.Type)}
		}
		return notObject
	}
	return nil
}

// jsonKind names the JSON value a Go type takes, for messages.
func jsonKind(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	}
	return "a JSON " + t.Kind().String()
}
