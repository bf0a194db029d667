package dispatch

import (
	"math"
	"testing"
	"time"
)

// lagPlant is a plant whose units reach their setpoints through a
// first-order lag (converter dynamics plus measurement), seen at the POI
// with losses and an auxiliary load.
type lagPlant struct {
	s   *sim
	tau float64 // s
	p   []float64
}

func (l *lagPlant) step(c *Controller, dt time.Duration) {
	a := 1 - math.Exp(-dt.Seconds()/l.tau)
	var bat float64
	for i := range l.s.in.Units {
		l.p[i] += a * (l.s.out[i].P - l.p[i])
		l.s.in.Units[i].P = l.p[i]
		bat += l.p[i]
	}
	l.s.in.POIP = bat*l.s.eff + l.s.load
	l.s.in.Now = l.s.in.Now.Add(dt)
	c.Step(&l.s.in, l.s.out)
}

// TestAGCStepDoesNotWindUp steps the AGC target with the ramp cap off on a
// lagging plant: the trim must not integrate the transient (which overshoots
// the new target for seconds and costs K2), yet it must still remove the
// steady error of losses and auxiliary load.
func TestAGCStepDoesNotWindUp(t *testing.T) {
	cfg := DefaultConfig(1000)
	cfg.RampRate = 1e6
	c := mustNew(t, cfg)
	mustApply(t, c, SetAGCParams{AGCParams{RampRate: 1e4, DeadBand: 1, Ki: 0.2, IntegralLimit: 100}})
	s := newSim(healthyUnits(4, 300))
	s.eff, s.load = 0.98, -10
	l := &lagPlant{s: s, tau: 0.25, p: make([]float64, 4)}
	mustApply(t, c, AGCTarget{P: 0})
	mustApply(t, c, SetMode{Mode: ModeAGC})
	const dt = 20 * time.Millisecond
	for range 1000 { // 20 s to settle the trim at 0
		l.step(c, dt)
	}
	for _, target := range []float64{500, 100, 800} {
		mustApply(t, c, AGCTarget{P: target})
		from := s.in.POIP
		var overshoot float64
		for range 1000 { // 20 s
			l.step(c, dt)
			over := (s.in.POIP - target) * math.Copysign(1, target-from)
			overshoot = math.Max(overshoot, over)
		}
		if overshoot > 0.005*cfg.RatedP {
			t.Errorf("step to %v kW: overshoot %.1f kW, want ≤ 0.5 %% of rated", target, overshoot)
		}
		if err := math.Abs(s.in.POIP - target); err > 0.002*cfg.RatedP {
			t.Errorf("step to %v kW: error %.2f kW after 20 s, want the trim to remove it", target, err)
		}
	}
}
