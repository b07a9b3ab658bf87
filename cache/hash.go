package cache

import (
	"crypto/md5"
	"encoding/hex"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Hash returns Redash's query hash of query: the MD5 hex digest of query
// after removing /* … */ block comments (only block comments; "--" comments
// stay) and then every whitespace character. Case is kept, so "SELECT 1" and
// "select 1" differ, and so do "SELECT 1;" and "SELECT 1".
//
// It matches Redash's gen_query_hash exactly: like Redash's pattern
// (/\*.*?\*/ without DOTALL), a comment that spans a line break is not
// removed; whitespace is unicode.IsSpace plus U+001C–U+001F, the set Python's
// str.split uses.
func Hash(query string) string {
	var stack [256]byte
	b := stack[:0]
	for i := 0; i < len(query); {
		c := query[i]
		if c == '/' && i+1 < len(query) && query[i+1] == '*' {
			if n := commentLen(query[i:]); n > 0 {
				i += n
				continue
			}
		}
		if c < utf8.RuneSelf {
			if !asciiSpace[c] {
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(query[i:])
		if r == utf8.RuneError || !unicode.IsSpace(r) {
			b = append(b, query[i:i+size]...)
		}
		i += size
	}
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

// commentLen returns the length of the block comment s starts with, or 0 if
// s does not start with one that closes before the next line feed.
func commentLen(s string) int {
	end := strings.Index(s[2:], "*/")
	if end < 0 || strings.IndexByte(s[2:2+end], '\n') >= 0 {
		return 0
	}
	return 2 + end + 2
}

// asciiSpace holds the ASCII characters Python's str.split splits on.
var asciiSpace = [utf8.RuneSelf]bool{
	'\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true,
	0x1c: true, 0x1d: true, 0x1e: true, 0x1f: true,
}
