package sim

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/config"
	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/testutil"
)

// TestPOIVoltageAnswersToQOverModbus: on a grid of SCR 10 the meter's
// voltage rises with capacitive Q and falls with inductive Q by the
// impedance's X·Q/U, read over Modbus as a client would.
func TestPOIVoltageAnswersToQOverModbus(t *testing.T) {
	cfg := demoConfig(t)
	cfg.Simulator.Grid.SCR, cfg.Simulator.Grid.XR = 10, 10
	cfg.Simulator.Grid.LoadKW = 0
	p := startPlant(t, cfg)
	prof := profiles(t)
	m := dial(t, cfg.Site.POI.Meter.Address, prof["sim-meter"], 3*time.Second)
	pc := dial(t, cfg.Units[0].PCS.Address, prof["sim-pcs"], 3*time.Second)
	near(t, "V with no flow", m.point(plant.PointV), 10000, 0.01)

	// Plant rated 10 MW: |Z| = 10 kV²/100 MVA = 1 Ω, X = 0.995 Ω.
	x := p.grid.x
	for _, q := range []float64{1000, -1000} {
		if err := pc.set(plant.PointQSet, q); err != nil {
			t.Fatal(err)
		}
		testutil.WaitFor(t, 5*time.Second, fmt.Sprintf("PCS Q reaches %v", q), func() bool {
			return absf(pc.point(plant.PointQ)-q) < 0.5
		})
		// The linear estimate ΔU ≈ X·Q/U, good to the second order (2 % of ΔU).
		want := 10000 + x*q*1000/10000
		near(t, fmt.Sprintf("V at Q %v", q), m.point(plant.PointV), want, 2)
		near(t, "truth V", p.Snapshot().POI.VV, p.grid.poi(10000, p.Snapshot().POI.PKW, q), 0.05)
	}
}

// TestQAtZeroPWithinOwnLimit: a PCS with its own Q limit delivers it at 0 kW.
func TestQAtZeroPWithinOwnLimit(t *testing.T) {
	cfg := demoConfig(t)
	cfg.Simulator.PCS.QMaxPct = 40 // of 2750 kVA: 1100 kvar
	startPlant(t, cfg)
	pc := dial(t, cfg.Units[0].PCS.Address, profiles(t)["sim-pcs"], 3*time.Second)
	if err := pc.set(plant.PointQSet, -2000); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "Q settles at the limit", func() bool {
		return absf(pc.point(plant.PointQ)+1100) < 0.5
	})
	time.Sleep(100 * time.Millisecond)
	near(t, "Q at 0 kW", pc.point(plant.PointQ), -1100, 0.5)
	near(t, "P", pc.point(plant.PointP), 0, 0.05)
}

// TestVoltageInjection: configured steps and ramps and the control API move
// the source voltage, and the meter serves it.
func TestVoltageInjection(t *testing.T) {
	cfg := demoConfig(t)
	cfg.Simulator.Grid.LoadKW = 0
	cfg.Simulator.Grid.VoltageSteps = []config.VoltageStep{{At: 500 * time.Millisecond, V: 10300}}
	p := startPlant(t, cfg)
	m := dial(t, cfg.Site.POI.Meter.Address, profiles(t)["sim-meter"], 3*time.Second)
	testutil.WaitFor(t, 5*time.Second, "the scripted step", func() bool { return m.point(plant.PointV) > 10299 })

	code, body := post(t, http.MethodPost, "http://"+cfg.Simulator.ControlAddr+"/grid/voltage?v=9700&ramp_s=1")
	if code != http.StatusOK {
		t.Fatalf("POST /grid/voltage: %d %v", code, body)
	}
	mid := m.point(plant.PointV)
	if mid < 9700 || mid > 10300 {
		t.Errorf("V %v during the ramp, outside 9700..10300", mid)
	}
	testutil.WaitFor(t, 5*time.Second, "the ramp's end", func() bool { return m.point(plant.PointV) < 9700.01 })
	near(t, "truth V", p.Snapshot().POI.VV, 9700, 1e-6)
	if code, body := post(t, http.MethodPost, "http://"+cfg.Simulator.ControlAddr+"/grid/voltage?v=20000"); code != http.StatusBadRequest {
		t.Errorf("V 20000: %d %v, want 400", code, body)
	}
}

func absf(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}
