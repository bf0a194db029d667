package planttest_test

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/station"
	"github.com/emsd/emsd/internal/testutil"
	"github.com/emsd/emsd/internal/testutil/planttest"
)

func TestSpecYAML(t *testing.T) {
	y := planttest.Spec{Name: "s", Units: 2, RatedKW: 500, CapKWh: 1000, ImportKW: 800,
		Control: "period: 20ms", Battery: "soc_pct: 60", Grid: "    load_kw: 5\n"}.YAML(t)
	for _, want := range []string{
		"site:\n  name: s\n  rated_p_kw: 1000\n  rated_e_kwh: 2000\n  poi:\n    meter: {address: 127.0.0.1:",
		"    import_limit_kw: 800\nunits:\n  - id: u1\n    rated_p_kw: 500\n    pcs: {address: 127.0.0.1:",
		"  - id: u2\n", ", capacity_kwh: 1000}\n",
		"control: {period: 20ms}\nsimulator:\n  enabled: true\n  battery: {soc_pct: 60}\n  grid:\n    load_kw: 5\n",
	} {
		if !strings.Contains(y, want) {
			t.Errorf("YAML lacks %q:\n%s", want, y)
		}
	}
	if strings.Contains(y, "devices:") || strings.Contains(y, "dispatch:") || strings.Contains(y, "export_limit_kw") {
		t.Errorf("YAML has a section that was not asked for:\n%s", y)
	}
}

// TestRig runs a one-unit plant under a dispatcher in manual mode and
// samples the POI while the plant delivers the request.
func TestRig(t *testing.T) {
	cfg := planttest.Config(t, planttest.Spec{Name: "rig", Units: 1, RatedKW: 1000, CapKWh: 2000,
		Control: "period: 20ms, summary_period: 0s", Dispatch: "  ramp_kw_per_s: 100000\n"})
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	plant := planttest.StartPlant(t, cfg, log)
	disp := planttest.NewDispatcher(t, cfg, log)
	st := planttest.NewStation(t, cfg, log, station.Options{Controller: disp})
	run := planttest.Run(t, st)
	testutil.WaitFor(t, 5*time.Second, "the first full poll", st.Ready)
	for _, c := range []dispatch.Command{dispatch.ManualSetpoint{P: 400}, dispatch.SetMode{Mode: dispatch.ModeManual}} {
		if _, err := disp.Submit(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, 5*time.Second, "400 kW at the POI", func() bool { return plant.Snapshot().POI.PKW > 390 })
	s := planttest.Sample(plant, 10*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	tt, p, soc := s.Finish()
	if len(tt) < 5 || len(p) != len(tt) || len(soc) != len(tt) || len(s.Load()) != len(tt) {
		t.Fatalf("%d samples (%d, %d, %d), want ≥ 5 of each", len(tt), len(p), len(soc), len(s.Load()))
	}
	if p[0] < 390 || soc[0] <= 0 || tt[0] <= 0 {
		t.Errorf("first sample t %v P %v SOC %v", tt[0], p[0], soc[0])
	}
	run.Cancel()
	if err := run.Wait(5 * time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
	run.Stop(t) // after Wait: returns at once
}
