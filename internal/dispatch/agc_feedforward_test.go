package dispatch

import (
	"math"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// gainPlant is a plant whose units deliver gain × their order, one cycle
// late, behind a site load: a model error the feed-forward cannot see.
type gainPlant struct {
	*sim
	gain float64
}

func (g *gainPlant) step(c *Controller, dt time.Duration) Report {
	var bat float64
	for i := range g.in.Units {
		g.in.Units[i].P = g.gain * g.out[i].P
		bat += g.in.Units[i].P
	}
	g.in.POIP = bat + g.load
	g.in.Now = g.in.Now.Add(dt)
	return c.Step(&g.in, g.out)
}

// demoAGC is the demo plant (4 × 2.5 MW, 1500 kW of site load) charging at
// 1500 kW in manual, about to switch to AGC.
func demoAGC(t *testing.T, gain, limit float64) (*Controller, *gainPlant) {
	cfg := DefaultConfig(10000)
	cfg.AGC.IntegralLimit = limit
	c := mustNew(t, cfg)
	g := &gainPlant{sim: newSim(healthyUnits(4, 2500)), gain: gain}
	g.load = -1500
	mustApply(t, c, ManualSetpoint{P: -1500 / gain})
	mustApply(t, c, SetMode{Mode: ModeManual})
	for range 300 {
		g.step(c, 100*time.Millisecond)
	}
	return c, g
}

// TestAGCFeedsForwardSiteLoad: the site load (1500 kW) exceeds the trim's
// limit (1000 kW). Fed forward, the POI still settles at the target, the
// trim stays near 0, nothing binds, and the switch from manual never moves
// the units the wrong way.
func TestAGCFeedsForwardSiteLoad(t *testing.T) {
	c, g := demoAGC(t, 1, 1000)
	from := sumP(g.out)
	mustApply(t, c, AGCTarget{P: 1000})
	mustApply(t, c, SetMode{Mode: ModeAGC})
	var r Report
	for k := range 1800 { // 3 min: the AGC ramp is 2 MW/min
		r = g.step(c, 100*time.Millisecond)
		if p := sumP(g.out); p < from-1e-6 {
			t.Fatalf("cycle %d after the switch: units ordered %.1f kW, below %.1f kW (the wrong way)", k, p, from)
		}
	}
	if !near(g.in.POIP, 1000, 1) || math.Abs(c.agc.integ) > 1 || r.Binding != ConstraintNone {
		t.Fatalf("POI %.1f kW for 1000, trim %.1f kW, binding %v (cut %.1f)", g.in.POIP, c.agc.integ, r.Binding, r.Cut)
	}
}

// TestAGCTrimLimitIsBinding: units that deliver 80 % of their order need a
// trim beyond its 100 kW limit; the POI error that remains is reported as
// the agc_trim_limit cut.
func TestAGCTrimLimitIsBinding(t *testing.T) {
	c, g := demoAGC(t, 0.8, 100)
	mustApply(t, c, AGCTarget{P: 1000})
	mustApply(t, c, SetMode{Mode: ModeAGC})
	var r Report
	for range 1800 {
		r = g.step(c, 100*time.Millisecond)
	}
	miss := 1000 - g.in.POIP
	if miss < 100 || r.Binding != ConstraintAGCTrim || !near(r.Cut, miss, 1) || r.Binding.String() != "agc_trim_limit" {
		t.Fatalf("POI %.1f kW for 1000 with the trim at %.1f: binding %v, cut %.1f; want agc_trim_limit cutting %.1f",
			g.in.POIP, c.agc.integ, r.Binding, r.Cut, miss)
	}
	// Within reach of the trim the cut goes away.
	mustApply(t, c, SetAGCParams{AGCParams{RampRate: 2, DeadBand: 50, Ki: 0.2, IntegralLimit: 5000}})
	for range 600 {
		r = g.step(c, 100*time.Millisecond)
	}
	if !near(g.in.POIP, 1000, 1) || r.Cuts[ConstraintAGCTrim] != 0 {
		t.Fatalf("with a 5000 kW trim limit: POI %.1f kW, trim cut %.1f", g.in.POIP, r.Cuts[ConstraintAGCTrim])
	}
}

// TestAGCFeedForwardIgnoresStaleData: while the POI reading is not good, or
// a unit's power is only assumed (held), the feed-forward holds its last
// value: a stale or wrong POI reading moves nothing.
func TestAGCFeedForwardIgnoresStaleData(t *testing.T) {
	c, g := demoAGC(t, 1, 1000)
	mustApply(t, c, AGCTarget{P: 1000})
	mustApply(t, c, SetMode{Mode: ModeAGC})
	for range 1800 {
		g.step(c, 100*time.Millisecond)
	}
	settled := sumP(g.out)
	g.in.POIOK, g.in.POIP = false, -9000 // a lost meter with a wild last value
	for range 50 {
		g.in.Now = g.in.Now.Add(100 * time.Millisecond)
		c.Step(&g.in, g.out)
		if p := sumP(g.out); !near(p, settled, 1e-6) {
			t.Fatalf("stale POI moved the plant: %.1f → %.1f kW", settled, p)
		}
	}
	g.in.POIOK = true
	for range 100 {
		g.step(c, 100*time.Millisecond)
	}
	u := &g.in.Units[0]
	u.PCSOK, u.Held, u.HeldP = false, true, 0 // held at an assumed 0 kW
	g.in.Now = g.in.Now.Add(100 * time.Millisecond)
	before := c.site.v
	c.Step(&g.in, g.out)
	if c.site.v != before {
		t.Fatalf("site load learnt from an assumed unit power: %.1f → %.1f kW", before, c.site.v)
	}
}

// TestPropertyAGCSwitchNeverMovesTheWrongWay: on a healthy plant with any
// site load, switching from manual to AGC moves the units' order from where
// it was toward the output the target needs, never away from it.
func TestPropertyAGCSwitchNeverMovesTheWrongWay(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 8).Draw(t, "n")
		rated := rapid.Float64Range(100, 3000).Draw(t, "rated")
		cfg := DefaultConfig(float64(n) * rated)
		cfg.RampRate = cfg.RatedP * rapid.Float64Range(0.01, 10).Draw(t, "ramp")
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		s := newSim(healthyUnits(n, rated))
		s.load = rapid.Float64Range(-0.3, 0.3).Draw(t, "load") * cfg.RatedP
		p0 := rapid.Float64Range(-0.6, 0.6).Draw(t, "p0") * cfg.RatedP
		_ = c.Apply(ManualSetpoint{P: p0}, t0)
		_ = c.Apply(SetMode{Mode: ModeManual}, t0)
		for range 200 {
			s.step(c, 100*time.Millisecond)
		}
		from := sumP(s.out)
		target := rapid.Float64Range(-0.6, 0.6).Draw(t, "target") * cfg.RatedP
		_ = c.Apply(AGCTarget{P: target}, t0)
		_ = c.Apply(SetMode{Mode: ModeAGC}, t0)
		dir := math.Copysign(1, target-s.load-from) // the battery output the target needs
		for k := range 100 {
			s.step(c, 100*time.Millisecond)
			if moved := (sumP(s.out) - from) * dir; moved < -1e-6*cfg.RatedP {
				t.Fatalf("cycle %d: order moved %.3f kW the wrong way (from %.1f, target %.1f, load %.1f)", k, moved, from, target, s.load)
			}
		}
	})
}
