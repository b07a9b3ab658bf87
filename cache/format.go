package cache

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Value formatting shared by the CSV and JSON writers. Every function appends
// to b and returns the extended slice; none allocates unless b must grow.

// appendFloat appends a finite v in the shortest form that parses back to the
// same float64 (strconv precision -1). It uses plain notation for 1e-6 <= |v|
// < 1e21 and for 0, and strconv's 'g' form (with an exponent, e.g. "1e+21",
// "1.5e-07") otherwise: the same switch points as JavaScript's Number
// toString, so no digit is ever lost and browsers show what they would show.
func appendFloat(b []byte, v float64) []byte {
	if a := math.Abs(v); a == 0 || (a >= 1e-6 && a < 1e21) {
		return strconv.AppendFloat(b, v, 'f', -1, 64)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// nonFinite returns the CSV text of NaN and ±Inf.
func nonFinite(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case v > 0:
		return "Infinity"
	}
	return "-Infinity"
}

// timeLayout is the datetime format: RFC 3339 with up to microseconds
// (trailing zeros dropped) and the offset, "Z" for UTC.
const timeLayout = "2006-01-02T15:04:05.999999Z07:00"

// appendTime appends t as timeLayout, or as "2006-01-02" if date is set, in
// t's own zone. It produces exactly what t.AppendFormat would, faster.
func appendTime(b []byte, t time.Time, date bool) []byte {
	_, off := t.Zone()
	u := t.UTC().Add(time.Duration(off) * time.Second)
	year, month, day := u.Date()
	if year < 0 || year > 9999 {
		if date {
			return t.AppendFormat(b, time.DateOnly)
		}
		return t.AppendFormat(b, timeLayout)
	}
	b = append4(b, year)
	b = append(b, '-')
	b = append2(b, int(month))
	b = append(b, '-')
	b = append2(b, day)
	if date {
		return b
	}
	hour, minute, sec := u.Clock()
	b = append(b, 'T')
	b = append2(b, hour)
	b = append(b, ':')
	b = append2(b, minute)
	b = append(b, ':')
	b = append2(b, sec)
	if us := t.Nanosecond() / 1000; us != 0 {
		var d [7]byte
		d[0] = '.'
		for i := 6; i > 0; i-- {
			d[i] = byte('0' + us%10)
			us /= 10
		}
		n := 7
		for d[n-1] == '0' {
			n--
		}
		b = append(b, d[:n]...)
	}
	if off == 0 {
		return append(b, 'Z')
	}
	zone := off / 60 // minutes, truncated toward zero as time.Format does
	if zone < 0 {
		b = append(b, '-')
		zone = -zone
	} else {
		b = append(b, '+')
	}
	b = append2(b, zone/60)
	b = append(b, ':')
	return append2(b, zone%60)
}

func append2(b []byte, n int) []byte {
	return append(b, byte('0'+n/10), byte('0'+n%10))
}

func append4(b []byte, n int) []byte {
	return append(b, byte('0'+n/1000), byte('0'+n/100%10), byte('0'+n/10%10), byte('0'+n%10))
}

// csvSpecial marks the bytes that make a CSV field need quotes (Python's
// QUOTE_MINIMAL with the excel dialect).
var csvSpecial = [256]bool{',': true, '"': true, '\r': true, '\n': true}

// appendCSVField appends s as one CSV field, quoted (with quotes doubled)
// only if it holds a comma, a quote, CR or LF.
func appendCSVField(b []byte, s string) []byte {
	i := 0
	for i < len(s) && !csvSpecial[s[i]] {
		i++
	}
	if i == len(s) {
		return append(b, s...)
	}
	b = append(b, '"')
	for {
		j := strings.IndexByte(s, '"')
		if j < 0 {
			break
		}
		b = append(b, s[:j+1]...)
		b = append(b, '"')
		s = s[j+1:]
	}
	b = append(b, s...)
	return append(b, '"')
}

// jsonSafe marks the ASCII bytes a JSON string holds as they are.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string: '"', '\\' and control
// characters are escaped, invalid UTF-8 bytes become \ufffd, and everything
// else (including '<', '>', '&' and non-ASCII) is kept as is.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendJSONDecimal appends d as a bare JSON number if it is one. NaN and
// infinities (as PostgreSQL's numeric has) become null, like float NaN/Inf;
// any other text a driver should not have produced is kept as a JSON string.
func appendJSONDecimal(b []byte, d string) []byte {
	if isJSONNumber(d) {
		return append(b, d...)
	}
	switch strings.ToLower(strings.TrimLeft(d, "+-")) {
	case "nan", "inf", "infinity":
		return append(b, "null"...)
	}
	return appendJSONString(b, d)
}

// isJSONNumber reports whether s is a number in JSON's grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		i = skipDigits(s, i)
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		j := skipDigits(s, i+1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := skipDigits(s, i)
		if j == i {
			return false
		}
		i = j
	}
	return i == len(s)
}

func skipDigits(s string, i int) int {
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return i
}
