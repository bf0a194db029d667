package dispatch

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/plant"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// healthy returns a unit with good data, mid SOC and no limits binding.
func healthy(id string, rated float64) Unit {
	return Unit{ID: id, RatedP: rated, RatedS: rated * 1.1, PCSOK: true, BMSOK: true, Contactor: true,
		SOC: 50, ChargeMax: rated, DischargeMax: rated,
		CellVMax: 3.3, CellVMin: 3.2, CellTMax: 30, CellTMin: 25}
}

func healthyUnits(n int, rated float64) []Unit {
	us := make([]Unit, n)
	for i := range us {
		us[i] = healthy(fmt.Sprintf("u%03d", i), rated)
	}
	return us
}

func mustNew(t testing.TB, cfg Config) *Controller {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustApply(t testing.TB, c *Controller, cmd Command) {
	t.Helper()
	if err := c.Apply(cmd, t0); err != nil {
		t.Fatalf("Apply(%#v): %v", cmd, err)
	}
}

func sumP(sp []plant.Setpoint) float64 {
	var s float64
	for _, x := range sp {
		s += x.P
	}
	return s
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// sim is a tiny plant model: units follow their setpoints one cycle late,
// the POI sees battery output times efficiency plus a site load.
type sim struct {
	in   Input
	out  []plant.Setpoint
	eff  float64 // fraction of battery P that reaches the POI
	load float64 // site POI power without battery, kW (> 0 export)
}

func newSim(units []Unit) *sim {
	return &sim{in: Input{Now: t0, F: 50, FOK: true, POIOK: true, Units: units},
		out: make([]plant.Setpoint, len(units)), eff: 1}
}

// step advances time by dt, feeds last cycle's setpoints back as measurements
// and runs the controller.
func (s *sim) step(c *Controller, dt time.Duration) Report {
	var bat float64
	for i := range s.in.Units {
		s.in.Units[i].P = s.out[i].P
		s.in.Units[i].Q = s.out[i].Q
		bat += s.out[i].P
	}
	s.in.POIP = bat*s.eff + s.load
	s.in.Now = s.in.Now.Add(dt)
	return c.Step(&s.in, s.out)
}

func nan() float64 { return math.NaN() }
func inf() float64 { return math.Inf(1) }
