package dispatch

import (
	"testing"
	"time"
)

func TestResetOneUnitAndReplacement(t *testing.T) {
	c := mustNew(t, fastCfg())
	s := newSim(healthyUnits(3, 250))
	s.in.Units[0].PCSFault, s.in.Units[1].PCSFault = true, true
	r := s.step(c, 0)
	if r.Tripped != 2 || len(r.Events) != 2 {
		t.Fatalf("tripped %d events %+v", r.Tripped, r.Events)
	}
	s.in.Units[0].PCSFault, s.in.Units[1].PCSFault = false, false
	mustApply(t, c, Reset{Unit: "u001"})
	r = s.step(c, time.Second)
	if st := c.States(); st[0] != StateTrip || st[1] != StateNormal || len(r.Events) != 1 || r.Events[0].Unit != "u001" {
		t.Fatalf("states %v events %+v", st, r.Events)
	}
	// A different unit in slot 0 starts fresh; the latch belonged to the old one.
	s.in.Units[0].ID = "spare"
	r = s.step(c, time.Second)
	if c.States()[0] != StateNormal || len(r.Events) != 1 || r.Events[0].Cause != CauseUnitReplaced {
		t.Fatalf("replacement: state %v events %+v", c.States()[0], r.Events)
	}
}

func TestAGCRampRate(t *testing.T) {
	cfg := DefaultConfig(10000)
	c := mustNew(t, cfg)
	mustApply(t, c, SetAGCParams{AGCParams{RampRate: 1.2, Ki: 0}}) // 1.2 MW/min = 20 kW/s
	s := newSim(healthyUnits(4, 2500))
	s.step(c, 0)
	mustApply(t, c, AGCTarget{P: 5000})
	mustApply(t, c, SetMode{Mode: ModeAGC})
	for k := 1; k <= 30; k++ {
		r := s.step(c, time.Second)
		if !near(r.P, 20*float64(k), 1e-6) {
			t.Fatalf("t=%d s: P %v, want %v", k, r.P, 20*float64(k))
		}
	}
}

func TestApplyModeWithoutStep(t *testing.T) {
	// Switching modes at full output: the new mode's first cycle moves at most
	// one ramp step from where the plant is.
	for _, m := range []Mode{ModeStandby, ModePeakShaving, ModeAGC, ModeManual} {
		t.Run(string(m), func(t *testing.T) {
			cfg := DefaultConfig(1000)
			c := mustNew(t, cfg)
			mustApply(t, c, SetMode{Mode: ModeManual})
			mustApply(t, c, ManualSetpoint{P: 900})
			s := newSim(healthyUnits(4, 250))
			s.load = -100
			s.step(c, 0)
			for i := 0; i < 12; i++ {
				s.step(c, time.Second)
			}
			mustApply(t, c, ManualSetpoint{P: -900})
			mustApply(t, c, SetMode{Mode: m})
			r := s.step(c, time.Second)
			if r.P < 900-cfg.RampRate-1e-6 {
				t.Errorf("mode %s stepped from 900 to %v", m, r.P)
			}
		})
	}
}
