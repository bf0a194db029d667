package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/emsd/emsd/internal/testutil"
)

// packageTable returns the packages named in the first column of the
// Markdown table rows of page (relative to the repository root): rows that
// start with "| `cmd/" or "| `internal/".
func packageTable(t *testing.T, page string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", page))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\| `((?:cmd|internal)/[^`]+)` \\|")
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if m := row.FindStringSubmatch(l); m != nil {
			out = append(out, m[1])
		}
	}
	slices.Sort(out)
	return out
}

// TestDocsPackageLists keeps the package tables of docs/architecture.md and
// of the README's package map equal to what `go list ./cmd/...
// ./internal/...` finds: a package added, removed or renamed fails it.
func TestDocsPackageLists(t *testing.T) {
	gobin := testutil.NeedProgram(t, "go")
	cmd := exec.Command(gobin, "list", "-f", "{{.ImportPath}}", "./cmd/...", "./internal/...")
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	mod := exec.Command(gobin, "list", "-m")
	mod.Dir = cmd.Dir
	m, err := mod.Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	prefix := strings.TrimSpace(string(m)) + "/"
	var want []string
	for _, p := range strings.Fields(string(out)) {
		want = append(want, strings.TrimPrefix(p, prefix))
	}
	slices.Sort(want)
	if len(want) < 10 {
		t.Fatalf("go list found only %v", want)
	}
	for _, page := range []string{"docs/architecture.md", "README.md"} {
		got := packageTable(t, page)
		if missing, extra := setDiff(want, got), setDiff(got, want); len(missing)+len(extra) > 0 {
			t.Errorf("%s's package table differs from go list: missing %v, not a package %v", page, missing, extra)
		}
	}
}

// setDiff returns the elements of a that b lacks.
func setDiff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// TestDocsLinkedFromREADME: the README stays short (at most 200 lines),
// links every page under docs/, and every Markdown page it links exists.
func TestDocsLinkedFromREADME(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	if n := strings.Count(readme, "\n"); n > 200 {
		t.Errorf("README.md has %d lines, want at most 200", n)
	}
	pages, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) == 0 {
		t.Fatal("no pages under docs/")
	}
	for _, p := range pages {
		if !strings.Contains(readme, "(docs/"+filepath.Base(p)+")") {
			t.Errorf("README.md does not link docs/%s", filepath.Base(p))
		}
	}
	for _, m := range regexp.MustCompile(`\]\(([^)#:]+\.md)`).FindAllStringSubmatch(readme, -1) {
		if _, err := os.Stat(filepath.Join("..", "..", m[1])); err != nil {
			t.Errorf("README.md links %s: %v", m[1], err)
		}
	}
}
