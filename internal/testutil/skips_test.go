package testutil_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// skipAllowed are the skips that are not about something missing: opt-in
// helpers a test binary runs only when asked to.
var skipAllowed = map[string]string{
	"internal/sim/demo_test.go":      "serves the demo plant for manual use when EMSD_SIM_SERVE is set",
	"internal/devices/bench_test.go": "the child process of BenchmarkPoll1000",
}

// TestNoBareSkips keeps the rule that nothing passes in CI by not running:
// every t.Skip in the repository's tests is under `if testing.Short()` or
// listed in skipAllowed. A test that lacks a server, a program or data
// calls testutil.SkipOrFail (or NeedProgram, SharedData), which fails
// under CI=true.
func TestNoBareSkips(t *testing.T) {
	root := repoRoot(t)
	fset := token.NewFileSet()
	files := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		files++
		for _, call := range bareSkips(f) {
			if _, ok := skipAllowed[rel]; !ok {
				t.Errorf("%s: a skip outside `if testing.Short()`: use testutil.SkipOrFail, NeedProgram or SharedData, which fail under CI=true", fset.Position(call.Pos()))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 20 {
		t.Fatalf("read %d test files under %s; the walk is broken", files, root)
	}
}

// bareSkips returns the Skip, Skipf and SkipNow calls of f that are not
// inside an `if testing.Short()`.
func bareSkips(f *ast.File) []*ast.CallExpr {
	var out []*ast.CallExpr
	var visit func(n ast.Node, short bool)
	visit = func(n ast.Node, short bool) {
		ast.Inspect(n, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.IfStmt:
				if isTestingShort(n.Cond) {
					visit(n.Body, true)
					if n.Else != nil {
						visit(n.Else, short)
					}
					return false
				}
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && !short {
					switch sel.Sel.Name {
					case "Skip", "Skipf", "SkipNow":
						out = append(out, n)
					}
				}
			}
			return true
		})
	}
	visit(f, false)
	return out
}

// isTestingShort reports whether e is the call testing.Short().
func isTestingShort(e ast.Expr) bool {
	call, ok := e.(*ast.CallExpr)
	if !ok || len(call.Args) != 0 {
		return false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "Short" {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	return ok && id.Name == "testing"
}

// repoRoot is the nearest directory above the working directory holding
// go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}
