package testutil

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// CI reports whether the tests run in CI: $CI is a true boolean ("true",
// "1", ...). There a test that lacks a server, a program or a data file
// fails instead of skipping, so that nothing passes by not running.
func CI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

// SkipOrFail ends a test that cannot run because something it needs is
// missing: it fails under CI and skips loudly otherwise. The message should
// say how to get the missing piece.
func SkipOrFail(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if CI() {
		tb.Fatalf("%s (CI is set: a test that cannot run fails)", msg)
		return
	}
	tb.Skipf("\n\n!!!!!!!! SKIPPED (would fail under CI=true): %s !!!!!!!!\n", msg)
}

// testDeps is where the suite's programs come from.
const testDeps = "scripts/test-deps.sh installs it"

// FindProgram returns the path of an installed program, or "" if there is
// none: $PATH, then the sbin directories a non-root $PATH often lacks
// (Debian installs mosquitto in /usr/sbin).
func FindProgram(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// NeedProgram returns the path of the program name (see [FindProgram]);
// without one it fails the test under CI and skips it otherwise.
func NeedProgram(tb testing.TB, name string) string {
	tb.Helper()
	p := FindProgram(name)
	if p == "" {
		SkipOrFail(tb, "%s is not installed (%s)", name, testDeps)
	}
	return p
}

// WantProgram is [NeedProgram] for a test that has a fallback: outside CI it
// logs a warning and returns "" when name is missing, and the caller falls
// back (e.g. to the embedded broker). Under CI it fails the test.
func WantProgram(tb testing.TB, name, fallback string) string {
	tb.Helper()
	p := FindProgram(name)
	if p == "" {
		if CI() {
			tb.Fatalf("%s is not installed (%s); CI must not fall back to %s", name, testDeps, fallback)
		}
		tb.Logf("WARNING: %s is not installed (%s); falling back to %s", name, testDeps, fallback)
	}
	return p
}

// SharedData returns the path of rel in the project's shared reference data
// (shared/data, beside the repository: ../shared/data from its root), found
// from the working directory upwards. Without it the test fails under CI and
// is skipped otherwise.
func SharedData(tb testing.TB, rel string) string {
	tb.Helper()
	p, err := findShared(rel)
	if err != nil {
		SkipOrFail(tb, "shared data %s: %v", rel, err)
	}
	return p
}

// findShared looks for shared/data/rel in the working directory and each
// directory above it.
func findShared(rel string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "shared", "data", rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not found in shared/data beside the working directory or any directory above it (CI has ../shared)")
		}
		dir = parent
	}
}
