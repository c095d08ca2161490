package render

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// CheckJinja reports the first reason cloud-init's Jinja (Jinja2 with the
// do extension, which renders every byte of cloud-config under the
// "## template: jinja" header) would refuse s as a template, s standing
// where it stands in bootstrap data: with more text after it. It checks
// what parsing checks: delimiters closed, a lexer's characters, strings and
// brackets closed, known tags, blocks balanced. Undefined variables are no
// error: cloud-init renders them as CI_MISSING_JINJA_VAR/<name>.
func CheckJinja(s string) error {
	c := jinjaChecker{src: s}
	return c.run()
}

// The tags of Jinja2's default environment plus the do extension, and
// which of them open a block that must be closed.
var (
	jinjaBlockTags = map[string]string{
		"for": "endfor", "if": "endif", "block": "endblock", "macro": "endmacro", "call": "endcall",
		"filter": "endfilter", "with": "endwith", "autoescape": "endautoescape",
	}
	jinjaSimpleTags = map[string]bool{"extends": true, "print": true, "include": true, "from": true, "import": true, "do": true}
)

type jinjaChecker struct {
	src string
	// open blocks, innermost last, with the line each was opened on.
	blocks []openBlock
}

type openBlock struct {
	tag  string
	line int
}

func (c *jinjaChecker) line(pos int) int { return strings.Count(c.src[:pos], "\n") + 1 }

func (c *jinjaChecker) errorf(pos int, format string, args ...any) error {
	return fmt.Errorf("line %d: %s", c.line(pos), fmt.Sprintf(format, args...))
}

func (c *jinjaChecker) run() error {
	pos := 0
	for {
		next := strings.Index(c.src[pos:], "{")
		if next < 0 {
			break
		}
		start := pos + next
		if start+1 >= len(c.src) {
			break
		}
		var err error
		switch c.src[start+1] {
		case '#':
			end := strings.Index(c.src[start+2:], "#}")
			if end < 0 {
				return c.errorf(start, "comment {# is never closed with #}")
			}
			pos = start + 2 + end + 2
			continue
		case '{':
			pos, err = c.expression(start, start+2, "}}", false)
		case '%':
			pos, err = c.statement(start)
		default:
			pos = start + 1
			continue
		}
		if err != nil {
			return err
		}
	}
	return c.closed()
}

// closed reports a block left open at the end.
func (c *jinjaChecker) closed() error {
	if n := len(c.blocks); n > 0 {
		b := c.blocks[n-1]
		return fmt.Errorf("line %d: {%% %s %%} is never closed with {%% %s %%}", b.line, b.tag, jinjaEnd(b.tag))
	}
	return nil
}

// statement checks {% tag ... %} and tracks blocks.
func (c *jinjaChecker) statement(start int) (int, error) {
	body := start + 2
	if body < len(c.src) && (c.src[body] == '-' || c.src[body] == '+') {
		body++
	}
	tagStart := skipSpace(c.src, body)
	tagEnd := tagStart
	for tagEnd < len(c.src) && isNameByte(c.src[tagEnd]) {
		tagEnd++
	}
	tag := c.src[tagStart:tagEnd]
	if tag == "raw" {
		end, err := c.expression(start, tagEnd, "%}", true)
		if err != nil {
			return 0, err
		}
		if c.src[end-3] == '+' || strings.TrimSpace(strings.TrimSuffix(strings.TrimSuffix(c.src[tagEnd:end-2], "-"), " ")) != "" {
			// Jinja's lexer knows {%[-+]? raw -?%} only; anything else is
			// parsed as a tag raw, which does not exist.
			return 0, c.errorf(start, "unknown tag %q", tag)
		}
		closing := strings.Index(c.src[end:], "endraw")
		for closing >= 0 && !isRawEnd(c.src, end+closing) {
			next := strings.Index(c.src[end+closing+6:], "endraw")
			if next < 0 {
				closing = -1
				break
			}
			closing += 6 + next
		}
		if closing < 0 {
			return 0, c.errorf(start, "{%% raw %%} is never closed with {%% endraw %%}")
		}
		after := strings.Index(c.src[end+closing:], "%}")
		return end + closing + after + 2, nil
	}
	end, err := c.expression(start, tagEnd, "%}", true)
	if err != nil {
		return 0, err
	}
	switch {
	case tag == "":
		return 0, c.errorf(start, "{%% must start with a tag name")
	case jinjaBlockTags[tag] != "":
		c.blocks = append(c.blocks, openBlock{tag: tag, line: c.line(start)})
	case tag == "set":
		// {% set x = ... %} is one statement; {% set x %}...{% endset %} a
		// block (with filters: {% set x | upper %}).
		if !hasAssignment(c.src[tagEnd:end]) {
			c.blocks = append(c.blocks, openBlock{tag: "set", line: c.line(start)})
		}
	case tag == "else" || tag == "elif":
		if n := len(c.blocks); n == 0 || (c.blocks[n-1].tag != "if" && (tag == "elif" || c.blocks[n-1].tag != "for")) {
			return 0, c.errorf(start, "{%% %s %%} outside an {%% if %%}", tag)
		}
	case strings.HasPrefix(tag, "end"):
		opened := strings.TrimPrefix(tag, "end")
		n := len(c.blocks)
		if n == 0 {
			return 0, c.errorf(start, "{%% %s %%} closes no block", tag)
		}
		if c.blocks[n-1].tag != opened {
			return 0, c.errorf(start, "{%% %s %%} where {%% %s %%} from line %d must be closed first", tag, jinjaEnd(c.blocks[n-1].tag), c.blocks[n-1].line)
		}
		c.blocks = c.blocks[:n-1]
	case !jinjaSimpleTags[tag]:
		return 0, c.errorf(start, "unknown tag %q", tag)
	}
	return end, nil
}

func jinjaEnd(tag string) string {
	if tag == "set" {
		return "endset"
	}
	return jinjaBlockTags[tag]
}

func isRawEnd(src string, at int) bool {
	// {%-? endraw -?%}
	i := at - 1
	for i >= 0 && isJinjaSpace(src[i]) {
		i--
	}
	if i >= 0 && (src[i] == '-' || src[i] == '+') {
		i--
	}
	if i < 1 || src[i] != '%' || src[i-1] != '{' {
		return false
	}
	j := skipSpace(src, at+len("endraw"))
	if j < len(src) && (src[j] == '-' || src[j] == '+') {
		j++
	}
	return j+1 < len(src) && src[j] == '%' && src[j+1] == '}'
}

// expression lexes from pos to the closing delimiter at bracket depth 0,
// the way Jinja's lexer does, and returns the position after it.
func (c *jinjaChecker) expression(start, pos int, closing string, statement bool) (int, error) {
	opening := "{{"
	if statement {
		opening = "{%"
	}
	var brackets []byte
	tokens := 0
	if !statement && pos < len(c.src) && (c.src[pos] == '-' || c.src[pos] == '+') {
		pos++
	}
	for pos < len(c.src) {
		ch := c.src[pos]
		if len(brackets) == 0 {
			// Whitespace control: -}} -%} +%}.
			rest := c.src[pos:]
			if strings.HasPrefix(rest, closing) || (len(rest) > len(closing) && (ch == '-' || ch == '+') && strings.HasPrefix(rest[1:], closing)) {
				if ch == '-' || ch == '+' {
					pos++
				}
				if !statement && tokens == 0 {
					return 0, c.errorf(start, "{{ }} holds no expression")
				}
				return pos + len(closing), nil
			}
		}
		if r, size := utf8.DecodeRuneInString(c.src[pos:]); unicode.IsSpace(r) {
			pos += size
			continue
		}
		switch {
		case ch == '\'' || ch == '"':
			end := closingQuote(c.src, pos)
			if end < 0 {
				return 0, c.errorf(pos, "string is never closed")
			}
			pos = end + 1
		case ch == '(' || ch == '[' || ch == '{':
			brackets = append(brackets, ch)
			pos++
		case ch == ')' || ch == ']' || ch == '}':
			want := map[byte]byte{')': '(', ']': '[', '}': '{'}[ch]
			if len(brackets) == 0 || brackets[len(brackets)-1] != want {
				return 0, c.errorf(pos, "unexpected %q", ch)
			}
			brackets = brackets[:len(brackets)-1]
			pos++
		case isNameByte(ch) || ch >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(c.src[pos:])
			if ch >= utf8.RuneSelf && !isIdentifierRune(r) {
				return 0, c.errorf(pos, "unexpected char %q", r)
			}
			pos += size
		case strings.ContainsRune("+-*/%~.:|,;=<>", rune(ch)):
			pos++
		case ch == '!' && pos+1 < len(c.src) && c.src[pos+1] == '=':
			pos += 2
		default:
			return 0, c.errorf(pos, "unexpected char %q", rune(ch))
		}
		tokens++
	}
	return 0, c.errorf(start, "%s is never closed with %s", opening, closing)
}

func closingQuote(s string, open int) int {
	q := s[open]
	for i := open + 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case q:
			return i
		}
	}
	return -1
}

func isNameByte(b byte) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

func isJinjaSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// skipSpace skips whitespace as Python's \s does: any Unicode space.
func skipSpace(s string, pos int) int {
	for pos < len(s) {
		r, size := utf8.DecodeRuneInString(s[pos:])
		if !unicode.IsSpace(r) {
			break
		}
		pos += size
	}
	return pos
}

// isIdentifierRune is what Python identifiers (Jinja's names) may hold
// beyond ASCII: letters, digits, combining marks, connectors.
func isIdentifierRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.In(r, unicode.Mn, unicode.Mc, unicode.Pc, unicode.Nl)
}

// hasAssignment tells whether a set statement's body assigns: an = outside
// strings and brackets that is not part of ==, !=, <= or >=.
func hasAssignment(body string) bool {
	depth := 0
	for i := 0; i < len(body); i++ {
		switch ch := body[i]; ch {
		case '\'', '"':
			if end := closingQuote(body, i); end > i {
				i = end
			}
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		case '=':
			prevOp := i > 0 && strings.ContainsRune("=!<>", rune(body[i-1]))
			nextEq := i+1 < len(body) && body[i+1] == '='
			if depth == 0 && !prevOp && !nextEq {
				return true
			}
			if nextEq {
				i++
			}
		}
	}
	return false
}
