package dispatch

import (
	"errors"
	"testing"
)

// An AGC target that moves less than the dead band from the current one is
// ignored and says so; a move of the dead band or more takes effect, and
// the first target always does.
func TestAGCTargetDeadBand(t *testing.T) {
	cfg := DefaultConfig(1000)
	cfg.AGC.DeadBand = 5
	c := mustNew(t, cfg)
	mustApply(t, c, AGCTarget{P: 300}) // first target: applied whatever the band
	for _, tc := range []struct {
		p       float64
		ignored bool
	}{
		{304.9, true},
		{295.1, true},
		{305, false}, // exactly the band: applied
		{300, false},
		{300, true}, // no change
	} {
		before := c.agc.target
		err := c.Apply(AGCTarget{P: tc.p}, t0)
		if tc.ignored {
			if !errors.Is(err, ErrWithinDeadBand) || c.agc.target != before {
				t.Errorf("target %v from %v: err %v, target %v; want ErrWithinDeadBand and %v kept", tc.p, before, err, c.agc.target, before)
			}
			continue
		}
		if err != nil || c.agc.target != tc.p {
			t.Errorf("target %v from %v: err %v, target %v; want it applied", tc.p, before, err, c.agc.target)
		}
	}
}
