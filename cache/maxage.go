package cache

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// MaxAge is how old a cached result may be. Any (-1) accepts any age; 0 means
// always execute.
type MaxAge time.Duration

// Any accepts a cached result of any age.
const Any MaxAge = -1

// maxSeconds is the largest age in seconds a MaxAge can hold; larger ones are
// clamped to it (about 292 years).
const maxSeconds = math.MaxInt64 / int64(time.Second)

// ParseMaxAge reads a request's max_age JSON value, as Redash does with
// Python's int(): absent (raw empty) or null → Any; -1 → Any; 0 → 0; a
// positive integer N → N seconds. N may be a JSON number (a fractional one is
// truncated toward zero) or a string of ASCII digits as int() accepts them
// (surrounding whitespace, a sign, single underscores between digits). Ages
// beyond about 292 years are clamped.
//
// Anything else — a negative number other than -1, a bool, an object, an
// array, a non-numeric string — returns an error whose message starts
// "max_age must be".
func ParseMaxAge(raw json.RawMessage) (MaxAge, error) {
	s := bytes.TrimSpace(raw)
	if len(s) == 0 || string(s) == "null" {
		return Any, nil
	}
	if !json.Valid(s) {
		return 0, maxAgeError(s)
	}
	var secs int64
	var ok bool
	switch c := s[0]; {
	case c == '"':
		var str string
		if err := json.Unmarshal(s, &str); err != nil {
			return 0, maxAgeError(s)
		}
		secs, ok = parsePythonInt(str)
	case c == '-' || ('0' <= c && c <= '9'):
		secs, ok = parseNumber(string(s))
	}
	if !ok || secs < -1 {
		return 0, maxAgeError(s)
	}
	if secs == -1 {
		return Any, nil
	}
	return MaxAge(time.Duration(secs) * time.Second), nil
}

// Duration returns the age limit for store lookups: negative means any age,
// 0 means no cached result is fresh enough.
func (m MaxAge) Duration() time.Duration { return time.Duration(m) }

func maxAgeError(raw []byte) error {
	const max = 40
	v := string(raw)
	if len(v) > max {
		v = v[:max] + "…"
	}
	return fmt.Errorf("max_age must be -1 (any age), 0 (always execute) or a positive number of seconds, not %s", v)
}

// parseNumber reads a JSON number as seconds, truncating a fraction toward
// zero and clamping large values to maxSeconds.
func parseNumber(s string) (int64, bool) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return min(n, maxSeconds), true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	f = math.Trunc(f)
	switch {
	case f >= float64(maxSeconds):
		return maxSeconds, true
	case f < -1:
		return 0, false
	}
	return int64(f), true
}

// parsePythonInt reads s as Python's int(s) does for base 10 with ASCII
// digits, clamping large positive values to maxSeconds.
func parsePythonInt(s string) (int64, bool) {
	s = strings.TrimFunc(s, unicode.IsSpace)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' || strings.Contains(s, "__") {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' {
			continue
		}
		if c < '0' || c > '9' {
			return 0, false
		}
		if n <= maxSeconds {
			n = n*10 + int64(c-'0')
		}
	}
	if neg {
		return -n, true
	}
	return min(n, maxSeconds), true
}
