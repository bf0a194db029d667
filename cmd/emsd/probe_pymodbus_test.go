package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/sunspec"
	"github.com/emsd/emsd/internal/testutil"
	"github.com/emsd/emsd/internal/testutil/vendorpcs"
)

// startPySunSpec runs internal/sunspec/testdata/sunspec_server.py: a
// SunSpec device built by its own reading of the official JSON and served
// by Debian's pymodbus, independent of emsd's reader and simulator.
func startPySunSpec(t *testing.T, models string, extra ...string) string {
	t.Helper()
	vendorpcs.Need(t)
	dir := testutil.SharedData(t, "sunspec")
	port := testutil.FreePort(t)
	args := append([]string{"../../internal/sunspec/testdata/sunspec_server.py", "--port", strconv.Itoa(port),
		"--models-dir", dir, "--models", models}, extra...)
	cmd := exec.Command(vendorpcs.Python, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	testutil.WaitFor(t, 20*time.Second, "the pymodbus SunSpec device on "+addr, func() bool {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr
}

// TestProbePymodbusSunSpec (issue 10, acceptance 3, against an independent
// implementation): emsd probe reads every supported model from a pymodbus
// SunSpec device, with its values; broken chains exit 1 with a diagnosis.
func TestProbePymodbusSunSpec(t *testing.T) {
	var ids []string
	for _, id := range sunspec.Supported() {
		ids = append(ids, strconv.Itoa(id))
	}
	addr := startPySunSpec(t, strings.Join(ids, ","), "--repeat", "NCtl=2", "--repeat", "NStr=2", "--repeat", "NMod=3")
	out, errOut, code := emsd(t, "probe", addr)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{fmt.Sprintf("%d models", len(ids)), `"pymodbus Mn"`, "123.4 W", "RUNNING (3)", "55.5 %WHRtg",
		"Ctl[2].DbOf", "string[2].StrSoC", "lithium_ion_string_module[3].ModSoC", "running  model 701 InvSt"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for brk, want := range map[string]string{
		"overrun": "model 124: length 224 overruns what the device serves",
		"unknown": "model 64777: unknown model id 64777",
		"noend":   "no end marker",
	} {
		addr := startPySunSpec(t, "1,124", "--break", brk)
		out, errOut, code := emsd(t, "probe", addr)
		if code != 1 || !strings.Contains(out, "BROKEN CHAIN") || !strings.Contains(errOut, want) {
			t.Errorf("%s: exit %d, want 1 and %q\n%s\n%s", brk, code, want, out, errOut)
		}
	}
}
