package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const src = `package p

func f(v int) int {
	switch {
	case v < 0:
		return 0
	case v > 9:
		return 9
	}
	if v == 1 {
		return 2
	} else if v == 2 {
		return 3
	}
	return v
}

func g(v int) int {
	switch {
	case v < 0:
		return 0
	}
	return v
}
`

// The profile go test -cover writes when only f runs: g's block has count 0.
const profile = `mode: set
example.com/m/p/p.go:3.20,4.9 1 1
example.com/m/p/p.go:5.13,6.11 1 0
example.com/m/p/p.go:7.13,8.11 1 1
example.com/m/p/p.go:10.2,10.13 1 1
example.com/m/p/p.go:10.13,12.3 1 0
example.com/m/p/p.go:12.20,14.3 1 0
example.com/m/p/p.go:15.2,15.10 1 1
example.com/m/p/p.go:18.20,19.9 1 0
example.com/m/p/p.go:20.13,21.11 1 0
example.com/m/p/p.go:23.2,23.10 1 0
`

func TestCaseAndElseIfOfCoveredStatementsBecomeCovered(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.MkdirAll("p", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("p", "p.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("go.mod", []byte("module example.com/m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("cover.out", []byte(profile), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run("cover.out", modulePath("go.mod")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("cover.out")
	if err != nil {
		t.Fatal(err)
	}
	added := strings.TrimPrefix(string(b), profile)
	want := "example.com/m/p/p.go:5.2,5.12 0 1\n" + // case v < 0 (f ran)
		"example.com/m/p/p.go:7.2,7.12 0 1\n" + // case v > 9
		"example.com/m/p/p.go:12.9,12.19 0 1\n" // else if v == 2
	if added != want {
		t.Errorf("added blocks:\n%s\nwant (nothing for g, which never ran):\n%s", added, want)
	}
}

func TestBadProfileLineIsAnError(t *testing.T) {
	if _, _, err := parseLine("p.go:1.1,2.2 1"); err == nil {
		t.Error("a line without a count was accepted")
	}
}
