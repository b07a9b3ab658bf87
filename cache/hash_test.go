package cache

import "testing"

func TestHash(t *testing.T) {
	// Wants computed with Redash's gen_query_hash in Python (re.sub of
	// /\*.*?\*/, "".join(sql.split()), md5) and, for "SELECT1", md5sum.
	tests := []struct {
		name, query, want string
	}{
		{"no whitespace", "SELECT1", "2d5127b8139f1f5f1086c4053324733a"},
		{"spaces", "SELECT 1", "2d5127b8139f1f5f1086c4053324733a"},
		{"tabs and newlines", "  SELECT\n\t1 \r\n", "2d5127b8139f1f5f1086c4053324733a"},
		{"semicolon kept", "SELECT 1;", "f007fe4ea550987e809d0303365679e5"},
		{"lower case differs", "select 1", "f6bf37efedbc0a2dfffc1caf5088d86e"},
		{"block comment", "/* comment */ SELECT 1", "2d5127b8139f1f5f1086c4053324733a"},
		{"two block comments", "SELECT /* a */ 1 /* b */", "2d5127b8139f1f5f1086c4053324733a"},
		{"line comment kept", "-- c\nSELECT 1", "e3fd52b16f7479c890a44c9dfa6f9a37"},
		{"comment across lines kept", "/* multi\nline */SELECT 1", "7dcdb5556f254a523f4a974393d5283e"},
		{"comment across CR removed", "/* a\rb */SELECT 1", "2d5127b8139f1f5f1086c4053324733a"},
		{"unterminated comment kept", "/* open SELECT 1", "bbd483bb2b5f5c049a1ba7f2b915d9b8"},
		{"comment opener reused", "/*/ x */SELECT 1", "2d5127b8139f1f5f1086c4053324733a"},
		{"comment in string literal removed", "SELECT '/* x */'", "5fed9d21ab1b8011f7d688e3937833ba"},
		{"non-greedy", "/* a */ SELECT /* b */ 1 */", "1799ccfd81d9611b8900b8fce6a4b764"},
		{"unicode spaces", "SELECT\u00a01\u3000\u2028", "2d5127b8139f1f5f1086c4053324733a"},
		{"python-only whitespace", "SELECT\u001c1\u001f", "2d5127b8139f1f5f1086c4053324733a"},
		{"unicode text", "SELECT '\u00fcn\u00ef c\u00f8d\u00e9'", "7bac8065ba22f106acf1ed63426c2f78"},
		{"empty", "", "d41d8cd98f00b204e9800998ecf8427e"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Hash(tc.query); got != tc.want {
				t.Errorf("Hash(%q) = %s, want %s", tc.query, got, tc.want)
			}
		})
	}
}
