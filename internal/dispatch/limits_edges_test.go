package dispatch

import (
	"testing"
	"time"

	"github.com/emsd/emsd/internal/plant"
)

// With the soft SOC limits set equal to the hard ones the taper is a step:
// a unit at the hard limit (or beyond) never goes further, a unit just
// inside it runs at full power.
func TestSOCWindowWithoutTaper(t *testing.T) {
	cfg := DefaultConfig(1000)
	cfg.SOCSoftMin, cfg.SOCSoftMax = cfg.SOCMin, cfg.SOCMax // 5 and 95
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		soc    float64
		wd, wc float64
	}{
		{5, 0, 100}, {4, 0, 100}, {5.01, 100, 100},
		{95, 100, 0}, {96, 100, 0}, {94.99, 100, 100},
	} {
		u := healthy("a", 100)
		u.SOC = tc.soc
		if d, c := UnitLimits(&u, StateNormal, &cfg); d != tc.wd || c != tc.wc {
			t.Errorf("SOC %v: discharge %v charge %v, want %v %v", tc.soc, d, c, tc.wd, tc.wc)
		}
	}
}

// A unit rated 0 kW is not available: it is not counted, and it gets
// neither P nor Q even if it states an apparent-power rating.
func TestZeroRatedUnitIsUnavailable(t *testing.T) {
	c := mustNew(t, fastCfg())
	mustApply(t, c, SetMode{Mode: ModeManual})
	mustApply(t, c, ManualSetpoint{P: 300, Q: 200})
	units := healthyUnits(2, 500)
	units[1].RatedP, units[1].RatedS = 0, 500
	s := newSim(units)
	s.step(c, 0)
	r := s.step(c, time.Second)
	if r.Available != 1 || s.out[1] != (plant.Setpoint{}) {
		t.Fatalf("available %d, zero-rated unit ordered %+v; want 1 available and nothing for it", r.Available, s.out[1])
	}
	if !near(s.out[0].P, 300, 1e-6) || !near(s.out[0].Q, 200, 1e-6) {
		t.Errorf("rated unit ordered %+v, want P 300 Q 200", s.out[0])
	}
}

// The event buffer holds every event one cycle can emit without growing:
// a replacement and a transition for each unit, and the plant's estop and
// reset.
func TestEventBufferHoldsAFullCycle(t *testing.T) {
	for _, n := range []int{1, 3, 10, 50} {
		var c Controller
		c.grow(n)
		if need := 2*n + 2; cap(c.events) < need {
			t.Errorf("%d units: event buffer capacity %d, a cycle can emit %d", n, cap(c.events), need)
		}
	}
}
