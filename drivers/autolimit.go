package drivers

import (
	"strconv"
	"strings"
	"unicode"
)

// AutoLimitRows is the row limit AutoLimit adds, as in Redash.
const AutoLimitRows = 1000

// AutoLimit returns sql with a row limit of n added when its last statement
// is a SELECT without one at its top level ("LIMIT n" appended, or "TOP n"
// after SELECT [DISTINCT] for TopLimit dialects), and sql unchanged
// otherwise: other statements, a SELECT that limits itself (LIMIT, TOP,
// FETCH FIRST, OFFSET), SELECT … INTO, or text it cannot read (an unterminated string or comment).
// Trailing semicolons and comments are dropped before the limit is added.
// Limits inside subqueries, strings, quoted names and comments do not count.
func (d Dialect) AutoLimit(sql string, n int) string {
	toks, ok := sqlTokens(sql)
	if !ok {
		return sql
	}
	// The last statement: tokens after the last top-level semicolon with
	// something after it.
	start := 0
	for i, t := range toks {
		if t.text == ";" && t.depth == 0 && i+1 < len(toks) {
			start = i + 1
		}
	}
	stmt := toks[start:]
	for len(stmt) > 0 && stmt[len(stmt)-1].text == ";" {
		stmt = stmt[:len(stmt)-1]
	}
	if len(stmt) == 0 || !strings.EqualFold(stmt[0].text, "SELECT") {
		return sql
	}
	for _, t := range stmt {
		if t.depth != 0 {
			continue
		}
		switch strings.ToUpper(t.text) {
		case "LIMIT", "TOP", "FETCH", "OFFSET":
			return sql
		case "INTO": // SELECT … INTO writes a table
			return sql
		}
	}
	end := stmt[len(stmt)-1].end
	body := sql[:end]
	limit := strconv.Itoa(n)
	if !d.TopLimit {
		return body + " LIMIT " + limit
	}
	at := stmt[0].end
	if len(stmt) > 1 && strings.EqualFold(stmt[1].text, "DISTINCT") {
		at = stmt[1].end
	}
	return body[:at] + " TOP " + limit + body[at:]
}

// sqlToken is a word, number or punctuation mark of SQL text, with where it
// ends and how deep in parentheses it is.
type sqlToken struct {
	text  string
	end   int
	depth int
}

// sqlTokens splits sql into tokens, skipping whitespace, comments, string
// literals and quoted identifiers (which become one token each). ok is false
// for text that does not close what it opens.
func sqlTokens(sql string) (toks []sqlToken, ok bool) {
	depth := 0
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		case strings.HasPrefix(sql[i:], "--"):
			nl := strings.IndexByte(sql[i:], '\n')
			if nl < 0 {
				i = len(sql)
			} else {
				i += nl + 1
			}
		case strings.HasPrefix(sql[i:], "/*"):
			close := strings.Index(sql[i+2:], "*/")
			if close < 0 {
				return nil, false
			}
			i += 2 + close + 2
		case c == '\'' || c == '"' || c == '`' || c == '[':
			closer := c
			if c == '[' {
				closer = ']'
			}
			j := i + 1
			for {
				k := strings.IndexByte(sql[j:], closer)
				if k < 0 {
					return nil, false
				}
				j += k + 1
				if closer != ']' && j < len(sql) && sql[j] == closer { // doubled: an escaped quote
					j++
					continue
				}
				break
			}
			toks = append(toks, sqlToken{text: sql[i:j], end: j, depth: depth})
			i = j
		case c == '(':
			toks = append(toks, sqlToken{text: "(", end: i + 1, depth: depth})
			depth++
			i++
		case c == ')':
			depth--
			toks = append(toks, sqlToken{text: ")", end: i + 1, depth: depth})
			i++
		case isWordByte(c):
			j := i
			for j < len(sql) && isWordByte(sql[j]) {
				j++
			}
			toks = append(toks, sqlToken{text: sql[i:j], end: j, depth: depth})
			i = j
		default:
			toks = append(toks, sqlToken{text: sql[i : i+1], end: i + 1, depth: depth})
			i++
		}
	}
	return toks, depth == 0
}

func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c >= 0x80 || unicode.IsLetter(rune(c)) || unicode.IsDigit(rune(c))
}
