package testutil_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emsd/emsd/internal/testutil"
)

// outcome records how a helper ended a test instead of ending it.
type outcome struct {
	testing.TB
	failed, skipped string
}

func (o *outcome) Fatalf(f string, a ...any) { o.failed = fmt.Sprintf(f, a...) }
func (o *outcome) Skipf(f string, a ...any)  { o.skipped = fmt.Sprintf(f, a...) }
func (o *outcome) Logf(string, ...any)       {}

func TestSkipOrFail(t *testing.T) {
	for _, c := range []struct {
		ci       string
		wantFail bool
	}{{"true", true}, {"1", true}, {"", false}, {"false", false}} {
		t.Setenv("CI", c.ci)
		o := &outcome{TB: t}
		testutil.SkipOrFail(o, "mbpoll is %s", "missing")
		got := o.skipped
		if c.wantFail {
			got = o.failed
		}
		if !strings.Contains(got, "mbpoll is missing") || (o.failed != "") == (o.skipped != "") {
			t.Errorf("CI=%q: failed %q, skipped %q; want it to fail=%v with the message", c.ci, o.failed, o.skipped, c.wantFail)
		}
	}
}

func TestNeedProgram(t *testing.T) {
	t.Setenv("CI", "true")
	if p := testutil.NeedProgram(t, "sh"); filepath.Base(p) != "sh" {
		t.Errorf("NeedProgram(sh) = %q", p)
	}
	o := &outcome{TB: t}
	if p := testutil.NeedProgram(o, "emsd-no-such-program"); p != "" || !strings.Contains(o.failed, "emsd-no-such-program is not installed") {
		t.Errorf("missing program under CI: path %q, failed %q", p, o.failed)
	}
	o = &outcome{TB: t}
	if p := testutil.WantProgram(o, "emsd-no-such-program", "the embedded broker"); p != "" || o.failed == "" {
		t.Errorf("WantProgram under CI: path %q, failed %q; want a failure", p, o.failed)
	}
	t.Setenv("CI", "")
	o = &outcome{TB: t}
	if p := testutil.WantProgram(o, "emsd-no-such-program", "the embedded broker"); p != "" || o.failed != "" || o.skipped != "" {
		t.Errorf("WantProgram outside CI: path %q, failed %q, skipped %q; want a fallback", p, o.failed, o.skipped)
	}
}

func TestSharedData(t *testing.T) {
	root := t.TempDir()
	want := filepath.Join(root, "shared", "data", "traces", "x.csv")
	deep := filepath.Join(root, "repo", "internal", "pkg")
	for _, d := range []string{filepath.Dir(want), deep} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(want, []byte("t,v\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(deep)
	t.Setenv("CI", "true")
	if got := testutil.SharedData(t, "traces/x.csv"); got != want {
		t.Errorf("SharedData = %q, want %q", got, want)
	}
	o := &outcome{TB: t}
	testutil.SharedData(o, "traces/missing.csv")
	if !strings.Contains(o.failed, "traces/missing.csv") {
		t.Errorf("missing shared data under CI: failed %q, skipped %q; want a failure naming the file", o.failed, o.skipped)
	}
}
