package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/sunspec"
	"github.com/emsd/emsd/internal/sunspecsim"
	"github.com/emsd/emsd/internal/testutil"
)

// serveSunSpec starts a simulated SunSpec device on a loopback port.
func serveSunSpec(t *testing.T, base uint16, models []sunspecsim.Model, noEnd bool) string {
	t.Helper()
	img, err := sunspecsim.Build(base, models, noEnd)
	if err != nil {
		t.Fatal(err)
	}
	addr := testutil.FreeAddr(t)
	srv, err := sunspecsim.Serve(addr, img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return addr
}

// TestProbeSunSpecChain (issue 10, acceptance 3): the binary prints every
// model of the chain with its points and values, and exits 0.
func TestProbeSunSpecChain(t *testing.T) {
	addr := serveSunSpec(t, 50000, sunspecsim.All(), false)
	out, errOut, code := emsd(t, "probe", addr, "-unit", "3")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "SunS at 50000") || !strings.Contains(out, fmt.Sprintf("%d models", len(sunspec.Supported()))) {
		t.Errorf("no chain summary:\n%s", out)
	}
	for _, id := range sunspec.Supported() {
		if !strings.Contains(out, fmt.Sprintf("\nmodel %d ", id)) {
			t.Errorf("model %d not printed", id)
		}
	}
	for _, want := range []string{"standard points as a pcs:", "standard points as a bms:", "standard points as a meter:", "soc_pct", "model 701 W"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// A value, a scaled value and a repeated group.
	for _, want := range []string{`Mn  `, `"emsd Mn"`, "Ctl[2].DbOf", "lithium_ion_string_module[3].ModSoC", "W_SF"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// TestProbeBrokenChain (issue 10, acceptance 3): each broken chain is
// diagnosed, naming the register and model, and the probe exits non-zero.
func TestProbeBrokenChain(t *testing.T) {
	common := sunspecsim.Model{ID: 1}
	for _, tc := range []struct {
		name   string
		models []sunspecsim.Model
		noEnd  bool
		want   string
	}{
		{"overrun", []sunspecsim.Model{common, {ID: 103, Len: 400}}, false, "register 40070: model 103: length 400 overruns what the device serves"},
		{"unknown model", []sunspecsim.Model{common, {ID: 124}, {ID: 64555, Raw: 6}}, false, "register 40096: model 64555: unknown model id 64555"},
		{"no end marker", []sunspecsim.Model{common, {ID: 124}}, true, "register 40096: no end marker"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := serveSunSpec(t, 40000, tc.models, tc.noEnd)
			out, errOut, code := emsd(t, "probe", addr)
			if code == 0 {
				t.Fatalf("exit 0 on a broken chain\n%s", out)
			}
			if !strings.Contains(out, "BROKEN CHAIN") || !strings.Contains(out, tc.want) || !strings.Contains(errOut, tc.want) {
				t.Errorf("diagnosis %q missing\nstdout:\n%s\nstderr:\n%s", tc.want, out, errOut)
			}
			if !strings.Contains(out, "\nmodel 1 common") {
				t.Errorf("the models before the break are not printed:\n%s", out)
			}
		})
	}
	nomark := serveSunSpec(t, 30000, []sunspecsim.Model{{ID: 1}}, false)
	if out, errOut, code := emsd(t, "probe", nomark); code != 1 || !strings.Contains(errOut, "no SunS marker (40000: ") {
		t.Errorf("no marker: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code := emsd(t, "probe", testutil.FreeAddr(t), "-timeout", "1s")
	if code == 0 || !strings.Contains(errOut, "probe") {
		t.Errorf("nothing listening: exit %d\n%s%s", code, out, errOut)
	}
}

// TestProbeProfile: with -profile the probe reads the profile's blocks;
// the block the device refuses is named with its exception, the others
// print their values, and the probe exits non-zero.
func TestProbeProfile(t *testing.T) {
	addr := serveSunSpec(t, 40000, []sunspecsim.Model{{ID: 1}, {ID: 113}}, false)
	// Model 113 starts at 40070; W is at offset 22, Hz at 24 (float32).
	prof := writeFile(t, "probe-meter.yaml", `name: probe-meter
kind: meter
word_order: high_first
groups:
  - {name: fast, period: 100ms}
  - {name: slow, period: 1s}
points:
  - {name: p_kw, table: holding, address: 40092, type: float32, group: fast, unit: kW}
  - {name: f_hz, table: holding, address: 40094, type: float32, group: fast, unit: Hz}
  - {name: q_kvar, table: holding, address: 40100, type: float32, group: fast, unit: kvar}
  - {name: v_v, table: holding, address: 100, type: float32, group: slow, unit: V}
`)
	out, errOut, code := emsd(t, "probe", addr, "-profile", prof)
	if code == 0 {
		t.Fatalf("exit 0 with a refused block\n%s", out)
	}
	for _, want := range []string{"profile probe-meter (meter)", "group fast: holding 40092+4: ok", "p_kw", "group slow: holding 100+2: FAILED", "illegal data address"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s\n%s", want, out, errOut)
		}
	}
	if strings.Contains(strings.SplitN(out, "group slow", 2)[0], "FAILED") {
		t.Errorf("the fast block failed:\n%s", out)
	}
	bad := writeFile(t, "bad.yaml", "name: x\nkind: meter\nbogus: 1\n")
	if _, errOut, code := emsd(t, "probe", addr, "-profile", bad); code != 2 || !strings.Contains(errOut, "bad.yaml:3") {
		t.Errorf("a broken profile: exit %d, %s", code, errOut)
	}
}

// TestProbeWriteProfile: -write-profile writes a meter profile the
// profile loader accepts, over the device's own registers, and the
// written profile probes back without a failed block.
func TestProbeWriteProfile(t *testing.T) {
	addr := serveSunSpec(t, 40000, []sunspecsim.Model{{ID: 1}, {ID: 701, Values: map[string]float64{"W_SF": 0, "W": 1500}}}, false)
	path := filepath.Join(t.TempDir(), "pv-meter.yaml")
	out, errOut, code := emsd(t, "probe", addr, "-write-profile", path)
	if code != 0 || !strings.Contains(out, "wrote meter profile pv-meter") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := devices.ParseProfile(data, path)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	i := p.Point("p_kw")
	if i < 0 || p.Points[i].Address != 40070+10 || p.Points[i].ScalePoint == "" || !p.Points[i].Sentinel {
		t.Fatalf("p_kw in the written profile:\n%s", data)
	}
	out, errOut, code = emsd(t, "probe", addr, "-profile", path)
	if code != 0 || !strings.Contains(out, "1.5 kW") {
		t.Errorf("probing with the written profile: exit %d\n%s\n%s", code, out, errOut)
	}
}
