package record

import (
	"fmt"
	"strings"
	"unicode"
)

// A minimal InfluxQL reader for the dashboard test: enough to find the
// measurement, the fields and the tags each query names.

type tokKind int

const (
	tIdent  tokKind = iota // "quoted" or bare identifier or keyword
	tQuoted                // "quoted identifier"
	tString                // 'literal'
	tRegex                 // /regex/
	tVar                   // $variable
	tNumber                // 1, 1.5, 10m
	tOp                    // punctuation and operators
)

type token struct {
	kind tokKind
	text string
}

func lex(q string) ([]token, error) {
	var out []token
	i := 0
	for i < len(q) {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '"' || c == '\'':
			j := i + 1
			var b strings.Builder
			for j < len(q) && q[j] != c {
				if q[j] == '\\' && j+1 < len(q) {
					j++
				}
				b.WriteByte(q[j])
				j++
			}
			if j >= len(q) {
				return nil, fmt.Errorf("unterminated %c at %d", c, i)
			}
			k := tQuoted
			if c == '\'' {
				k = tString
			}
			out = append(out, token{k, b.String()})
			i = j + 1
		case c == '/' && len(out) > 0 && (out[len(out)-1].text == "=~" || out[len(out)-1].text == "!~"):
			j := i + 1
			for j < len(q) && q[j] != '/' {
				if q[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(q) {
				return nil, fmt.Errorf("unterminated regex at %d", i)
			}
			out = append(out, token{tRegex, q[i+1 : j]})
			i = j + 1
		case c == '$':
			j := i + 1
			for j < len(q) && (isWord(q[j]) || q[j] == '{' || q[j] == '}' || q[j] == ':') {
				j++
			}
			out = append(out, token{tVar, q[i:j]})
			i = j
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(q) && q[i+1] >= '0' && q[i+1] <= '9':
			j := i
			for j < len(q) && (isWord(q[j]) || q[j] == '.') {
				j++
			}
			out = append(out, token{tNumber, q[i:j]})
			i = j
		case isWord(c):
			j := i
			for j < len(q) && isWord(q[j]) {
				j++
			}
			out = append(out, token{tIdent, q[i:j]})
			i = j
		default:
			two := ""
			if i+1 < len(q) {
				two = q[i : i+2]
			}
			switch two {
			case "=~", "!~", "!=", "<>", "<=", ">=":
				out = append(out, token{tOp, two})
				i += 2
			default:
				out = append(out, token{tOp, string(c)})
				i++
			}
		}
	}
	return out, nil
}

func isWord(c byte) bool {
	return c == '_' || c < 128 && (unicode.IsLetter(rune(c)) || unicode.IsDigit(rune(c)))
}

// keywords are bare words that are never field or tag references.
var keywords = map[string]bool{
	"select": true, "from": true, "where": true, "and": true, "or": true, "not": true, "as": true,
	"group": true, "by": true, "order": true, "limit": true, "slimit": true, "offset": true,
	"soffset": true, "fill": true, "null": true, "none": true, "previous": true, "linear": true,
	"asc": true, "desc": true, "time": true, "now": true, "tz": true, "true": true, "false": true,
}

// aggOK lists the functions that accept string and boolean fields.
var aggOK = map[string]bool{"last": true, "first": true, "count": true, "distinct": true, "mode": true}

// ref is one field or tag name a query uses, with the function it is an
// argument of ("" for none) and the clause it is in.
type ref struct {
	name, fn, clause string
}

// parsed is what a query names.
type parsed struct {
	measurement string
	refs        []ref
	tagKey      string // SHOW TAG VALUES … WITH KEY = tagKey
}

// parseQuery reads one SELECT or SHOW TAG VALUES statement.
func parseQuery(q string) (*parsed, error) {
	toks, err := lex(q)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("empty query")
	}
	word := func(i int, w string) bool {
		return i < len(toks) && toks[i].kind == tIdent && strings.EqualFold(toks[i].text, w)
	}
	p := &parsed{}
	// measurement after FROM: "m", m, or "db"."rp"."m"
	fromAt := -1
	for i := range toks {
		if word(i, "from") {
			fromAt = i
			break
		}
	}
	if fromAt < 0 || fromAt+1 >= len(toks) {
		return nil, fmt.Errorf("no FROM measurement")
	}
	j := fromAt + 1
	for {
		t := toks[j]
		if t.kind != tQuoted && !(t.kind == tIdent && !keywords[strings.ToLower(t.text)]) {
			return nil, fmt.Errorf("FROM is followed by %q, not a measurement name", t.text)
		}
		p.measurement = t.text
		if j+2 < len(toks) && toks[j+1].text == "." {
			j += 2
			continue
		}
		break
	}
	after := j + 1

	switch {
	case word(0, "show") && word(1, "tag") && word(2, "values"):
		for i := after; i+3 < len(toks); i++ {
			if word(i, "with") && word(i+1, "key") && toks[i+2].text == "=" {
				p.tagKey = toks[i+3].text
			}
		}
		if p.tagKey == "" {
			return nil, fmt.Errorf("SHOW TAG VALUES without WITH KEY = \"tag\"")
		}
		for i := after; i < len(toks); i++ {
			if word(i, "where") {
				p.refs = append(p.refs, collect(toks[i+1:], "where")...)
				break
			}
		}
		return p, nil
	case word(0, "select"):
		p.refs = append(p.refs, collect(toks[1:fromAt], "select")...)
		clause := ""
		start := after
		for i := after; i <= len(toks); i++ {
			end := i == len(toks)
			next := ""
			switch {
			case word(i, "where"):
				next = "where"
			case word(i, "group"):
				next = "group"
			case word(i, "order"), word(i, "limit"), word(i, "slimit"), word(i, "fill"), word(i, "tz"), word(i, "offset"):
				next = "tail"
			}
			if end || next != "" {
				if clause != "" && clause != "tail" {
					p.refs = append(p.refs, collect(toks[start:i], clause)...)
				}
				if end {
					break
				}
				clause, start = next, i+1
				if next == "group" && word(i+1, "by") {
					start = i + 2
				}
			}
		}
		return p, nil
	}
	return nil, fmt.Errorf("not a SELECT or SHOW TAG VALUES statement")
}

// collect returns the identifiers of one clause that name fields or tags.
func collect(toks []token, clause string) []ref {
	var out []ref
	var fns []string // enclosing function per open parenthesis
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.kind == tOp && t.text == "(":
			fn := ""
			if i > 0 && toks[i-1].kind == tIdent {
				fn = strings.ToLower(toks[i-1].text)
			}
			fns = append(fns, fn)
		case t.kind == tOp && t.text == ")":
			if len(fns) > 0 {
				fns = fns[:len(fns)-1]
			}
		case t.kind == tIdent && strings.EqualFold(t.text, "as"):
			i++ // skip the alias
		case t.kind == tQuoted || t.kind == tIdent && !keywords[strings.ToLower(t.text)]:
			if t.kind == tIdent && i+1 < len(toks) && toks[i+1].text == "(" {
				continue // a function name
			}
			fn := ""
			if len(fns) > 0 {
				fn = fns[len(fns)-1]
			}
			if fn == "time" {
				continue
			}
			out = append(out, ref{name: t.text, fn: fn, clause: clause})
		}
	}
	return out
}

// check validates a query against the schema: a declared measurement,
// declared fields (of a type the enclosing function accepts) and tags, at
// least one field selected, and tags only in GROUP BY.
func (s Schema) check(q string) error {
	p, err := parseQuery(q)
	if err != nil {
		return err
	}
	m := s.Measurement(p.measurement)
	if m == nil {
		return fmt.Errorf("measurement %q is not declared", p.measurement)
	}
	if p.tagKey != "" && !m.HasTag(p.tagKey) {
		return fmt.Errorf("%s has no tag %q", m.Name, p.tagKey)
	}
	fields := 0
	for _, r := range p.refs {
		fd := m.Field(r.name)
		switch {
		case r.clause == "group":
			if !m.HasTag(r.name) {
				return fmt.Errorf("GROUP BY %q: %s has no such tag", r.name, m.Name)
			}
		case fd != nil:
			if fd.Type != Float && fd.Type != Integer && r.fn != "" && !aggOK[r.fn] {
				return fmt.Errorf("%s(%q): %s.%s is a %s field", r.fn, r.name, m.Name, r.name, fd.Type)
			}
			if r.clause == "select" {
				fields++
			}
		case m.HasTag(r.name):
			if r.fn != "" {
				return fmt.Errorf("%s(%q): %q is a tag", r.fn, r.name, r.name)
			}
		default:
			return fmt.Errorf("%s has no field or tag %q (%s clause)", m.Name, r.name, r.clause)
		}
	}
	if p.tagKey == "" && fields == 0 {
		return fmt.Errorf("selects no field of %s", m.Name)
	}
	return nil
}
