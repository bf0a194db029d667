// Command coverfix adds to a Go coverage profile the case expressions of
// switch statements and the conditions of else-if branches that ran.
//
// `go test -cover` counts statements: a block starts after a case's colon and
// after an else-if's brace, so the expressions `case v < 0:` and
// `else if v > max {` lie in no block. Gremlins takes a mutant outside every
// covered block as "not covered" and never runs it, and most validation rules
// are such case expressions. coverfix marks each of them covered when the
// statement that holds it (the switch, the first if) is in a covered block:
// the expression was then reached or at worst skipped by an earlier case, so
// its mutant runs and is counted killed or lived like any other.
//
// Usage: coverfix PROFILE (rewritten in place; the module root is the
// working directory).
package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
)

// block is one profile line: file:l0.c0,l1.c1 statements count.
type block struct {
	l0, c0, l1, c1 int
	count          int
}

func (b block) holds(p token.Position) bool {
	after := p.Line > b.l0 || p.Line == b.l0 && p.Column >= b.c0
	before := p.Line < b.l1 || p.Line == b.l1 && p.Column <= b.c1
	return after && before
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: coverfix PROFILE")
		os.Exit(2)
	}
	if err := run(os.Args[1], modulePath("go.mod")); err != nil {
		fmt.Fprintln(os.Stderr, "coverfix:", err)
		os.Exit(1)
	}
}

func modulePath(gomod string) string {
	b, err := os.ReadFile(gomod)
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if m, ok := strings.CutPrefix(strings.TrimSpace(l), "module "); ok {
			return strings.TrimSpace(m)
		}
	}
	return ""
}

func run(profile, module string) error {
	in, err := os.ReadFile(profile)
	if err != nil {
		return err
	}
	lines := strings.Split(strings.TrimRight(string(in), "\n"), "\n")
	covered := map[string][]block{}
	var files []string
	for _, l := range lines[1:] {
		name, b, err := parseLine(l)
		if err != nil {
			return err
		}
		if _, seen := covered[name]; !seen {
			files = append(files, name)
			covered[name] = nil
		}
		if b.count > 0 {
			covered[name] = append(covered[name], b)
		}
	}
	out := append([]string(nil), lines...)
	for _, name := range files {
		src := strings.TrimPrefix(strings.TrimPrefix(name, module), "/")
		added, err := reached(src, covered[name])
		if err != nil {
			return err
		}
		for _, b := range added {
			out = append(out, fmt.Sprintf("%s:%d.%d,%d.%d 0 1", name, b.l0, b.c0, b.l1, b.c1))
		}
	}
	return os.WriteFile(profile, []byte(strings.Join(out, "\n")+"\n"), 0o644)
}

func parseLine(l string) (string, block, error) {
	var b block
	colon := strings.LastIndex(l, ":")
	f := strings.Fields(l[colon+1:])
	if colon < 0 || len(f) != 3 {
		return "", b, fmt.Errorf("bad profile line %q", l)
	}
	_, err := fmt.Sscanf(f[0], "%d.%d,%d.%d", &b.l0, &b.c0, &b.l1, &b.c1)
	if err == nil {
		b.count, err = strconv.Atoi(f[2])
	}
	if err != nil {
		return "", b, fmt.Errorf("bad profile line %q: %v", l, err)
	}
	return l[:colon], b, nil
}

// reached returns blocks for the case expressions and else-if conditions of
// src whose enclosing statement lies in a covered block.
func reached(src string, covered []block) ([]block, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, src, nil, 0)
	if err != nil {
		return nil, err
	}
	isCovered := func(p token.Pos) bool {
		pos := fset.Position(p)
		for _, b := range covered {
			if b.holds(pos) {
				return true
			}
		}
		return false
	}
	span := func(from, to token.Pos) block {
		a, z := fset.Position(from), fset.Position(to)
		return block{l0: a.Line, c0: a.Column, l1: z.Line, c1: z.Column, count: 1}
	}
	var out []block
	ast.Inspect(f, func(n ast.Node) bool {
		switch s := n.(type) {
		case *ast.SwitchStmt:
			if isCovered(s.Pos()) {
				for _, c := range s.Body.List {
					cc := c.(*ast.CaseClause)
					out = append(out, span(cc.Case, cc.Colon))
				}
			}
		case *ast.IfStmt:
			if isCovered(s.Pos()) {
				for e, ok := s.Else.(*ast.IfStmt); ok; e, ok = e.Else.(*ast.IfStmt) {
					out = append(out, span(e.If, e.Body.Lbrace))
				}
			}
		}
		return true
	})
	return out, nil
}
